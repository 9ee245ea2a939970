"""The options that define a synthetic dataset, checked once with messages a user can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .domains import parse_domain

# Bump when the same options would draw different images: a dataset made by another version is not "the same".
GENERATOR_VERSION = 1
MAX_WIDTH, MAX_HEIGHT = 4032, 3024
MIN_WIDTH, MIN_HEIGHT = 64, 48
MAX_IMAGES = 1_000_000
MAX_PHOTOS_PER_TREE = 12


@dataclass(frozen=True)
class SynthOptions:
    n: int = 458
    seed: int = 0
    width: int = 640
    height: int = 480
    include_imminent: bool = False
    label_noise: float = 0.0
    photos_per_tree: int = 1
    domain: str = "default"

    def __post_init__(self) -> None:
        for name in ("n", "seed", "width", "height", "photos_per_tree"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}.")
        if not 1 <= self.n <= MAX_IMAGES:
            raise ValueError(f"n (number of images) must be between 1 and {MAX_IMAGES:,}, got {self.n}.")
        if self.seed < 0:
            raise ValueError(f"seed must be 0 or more, got {self.seed}.")
        if not (MIN_WIDTH <= self.width <= MAX_WIDTH and MIN_HEIGHT <= self.height <= MAX_HEIGHT):
            raise ValueError(
                f"Image size {self.width}x{self.height} is out of range: width {MIN_WIDTH}..{MAX_WIDTH}, "
                f"height {MIN_HEIGHT}..{MAX_HEIGHT} (phone photos are at most 4032x3024)."
            )
        if abs(self.width * 3 - self.height * 4) > 4:
            raise ValueError(
                f"Image size {self.width}x{self.height} is not 4:3 like a phone photo; "
                f"for width {self.width} use height {round(self.width * 3 / 4)}."
            )
        if not isinstance(self.label_noise, (int, float)) or not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"label_noise is the share of labels flipped, from 0 up to (not including) 1; "
                             f"got {self.label_noise!r}.")
        if not 1 <= self.photos_per_tree <= MAX_PHOTOS_PER_TREE:
            raise ValueError(
                f"photos_per_tree must be between 1 and {MAX_PHOTOS_PER_TREE}, got {self.photos_per_tree}."
            )
        if not isinstance(self.include_imminent, bool):
            raise ValueError(f"include_imminent must be true or false, got {self.include_imminent!r}.")
        # Normalise so "Winter+Dusk" and "dusk+winter" are the same dataset.
        object.__setattr__(self, "domain", parse_domain(str(self.domain)).name)
        object.__setattr__(self, "label_noise", float(self.label_noise))

    def identity(self) -> dict:
        """What makes two datasets the same: every option plus the generator version."""
        return {**asdict(self), "generator_version": GENERATOR_VERSION}
