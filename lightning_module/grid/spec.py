"""The experiment grid's configuration: which cells to train, how, on what data, and where the results go.

A grid file is YAML (see ``configs/grid.yaml``). Every mistake is reported with the key that holds it
(``grid.image_sizes[1]``), and an unknown key is named with the closest known one, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lightning_module.data.categories import SCENARIOS
from lightning_module.models.backbones import BACKBONE_NAMES, BACKBONES, COLOR_MODES, MAX_IMAGE_SIZE, backbone_problems

# The lab's four class groupings (``all`` is left out: its classes depend on the data).
GRID_SCENARIOS: tuple[str, ...] = tuple(SCENARIOS)
PRETRAINED: tuple[str, ...] = ("none", "imagenet")
ISOLATIONS: tuple[str, ...] = ("in_process", "subprocess")
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu")
# Where the folds run (lightning_module/grid/executors/): this machine, a Ray cluster, or a Slurm job array.
EXECUTORS: tuple[str, ...] = ("local", "ray", "slurm")
# Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
SLURM_TIME = r"^(\d+-)?\d+(:\d{1,2}){0,2}$"
# Sizes outside this range are a mistake in the file; a size only some backbones reject skips those cells.
SMALLEST_IMAGE_SIZE = min(backbone.min_image_size for backbone in BACKBONES.values())

AXES: tuple[str, ...] = ("scenarios", "image_sizes", "color_modes", "backbones", "pretrained")
# Singular name of each axis, as in a cell and in the results table.
AXIS_FIELD = {"scenarios": "scenario", "image_sizes": "image_size", "color_modes": "color_mode",
              "backbones": "backbone", "pretrained": "pretrained"}
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "output", "seed", "folds", "grid", "training", "data", "executor"),
    "grid": AXES,
    "training": ("epochs", "batch_size", "lr", "accelerator", "isolation", "threads", "workers"),
    "data": ("source", "synthetic_size", "group_regex", "cache_dir"),
    "executor": ("kind", "cpus_per_fold", "gpus_per_fold", "ray_address", "partition", "time", "mem", "max_parallel",
                 "sbatch_options"),
}


class GridSpecError(ValueError):
    """The grid file cannot be used; the message names the file and the offending key."""


@dataclass(frozen=True)
class Cell:
    """One point of the grid: trained once per fold."""

    scenario: str
    image_size: int
    color_mode: str = "grayscale"
    backbone: str = "seed_cnn"
    pretrained: str = "none"

    @property
    def id(self) -> str:
        """A folder name that says what the cell is: ``Pr_Im-108px-grayscale-seed_cnn-scratch``."""
        weights = "scratch" if self.pretrained == "none" else self.pretrained
        return f"{self.scenario}-{self.image_size}px-{self.color_mode}-{self.backbone}-{weights}"

    @property
    def label(self) -> str:
        """Short human text: only what a reader needs to tell it from its neighbours is left to the table."""
        weights = "" if self.pretrained == "none" else ", ImageNet weights"
        return f"{self.scenario}, {self.image_size} px, {self.color_mode}, {self.backbone}{weights}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SkippedCell:
    cell: Cell
    reason: str


@dataclass(frozen=True)
class ExecutorSettings:
    """Where the folds run and what each one asks for. Nothing here changes a fold's result: the folds, their
    seeds and their settings are the grid's, so the same grid gives the same numbers on any executor."""

    kind: str = "local"
    cpus_per_fold: int | None = None  # None: training.threads, else 1
    gpus_per_fold: int | None = None  # None: 1 when training.accelerator is gpu, else 0
    ray_address: str | None = None  # None: $RAY_ADDRESS, else a Ray started on this machine
    partition: str | None = None
    time: str = "01:00:00"
    mem: str | None = None
    max_parallel: int | None = None  # Slurm's array throttle (--array=0-N%max_parallel)
    sbatch_options: tuple[str, ...] = ()

    def as_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["sbatch_options"] = list(self.sbatch_options)
        return config


@dataclass(frozen=True)
class GridSpec:
    """A validated grid. Build it with :func:`load_grid_spec` or :func:`parse_grid_spec`."""

    scenarios: tuple[str, ...]
    image_sizes: tuple[int, ...]
    color_modes: tuple[str, ...] = ("grayscale",)
    backbones: tuple[str, ...] = ("seed_cnn",)
    pretrained: tuple[str, ...] = ("none",)
    folds: int = 5
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    accelerator: str = "auto"
    isolation: str = "in_process"
    threads: int | None = None
    workers: int = 1
    source: str = "synthetic"
    synthetic_size: int = 458
    group_regex: str | None = None
    cache_dir: str | None = "auto"
    output: str = "grids/default"
    seed: int = 0
    name: str = "grid"
    executor: ExecutorSettings = ExecutorSettings()
    origin: str = field(default="<grid>", compare=False)

    # ------------------------------------------------------------------------------------------ cells
    def _all_combinations(self) -> list[Cell]:
        return [
            Cell(s, z, c, b, p)
            for s, z, c, b, p in itertools.product(
                self.scenarios, self.image_sizes, self.color_modes, self.backbones, self.pretrained
            )
        ]

    @property
    def skipped_cells(self) -> list[SkippedCell]:
        """Combinations of the axes that cannot be trained, each with the reason (they are left out)."""
        return [SkippedCell(cell, reason) for cell in self._all_combinations() if (reason := _impossible(cell))]

    @property
    def cells(self) -> list[Cell]:
        """Every trainable combination of the axes, scenarios outermost."""
        return [cell for cell in self._all_combinations() if not _impossible(cell)]

    @property
    def varying_axes(self) -> list[str]:
        """Axis fields (``scenario``, ``image_size``, ...) that take more than one value in this grid."""
        return [AXIS_FIELD[axis] for axis in AXES if len(getattr(self, axis)) > 1]

    # ------------------------------------------------------------------------------------------ identity
    def training_settings(self) -> dict[str, Any]:
        """Everything besides the axes that changes a fold's result: two grids writing one output must agree on it."""
        return {
            "folds": self.folds, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
            "source": self.source, "synthetic_size": self.synthetic_size, "group_regex": self.group_regex,
            "seed": self.seed,
        }  # fmt: skip

    def to_config(self) -> dict[str, Any]:
        """The grid as a YAML-able mapping in the file's own layout (``parse_grid_spec`` reads it back)."""
        return {
            "name": self.name,
            "output": self.output,
            "seed": self.seed,
            "folds": self.folds,
            "grid": {axis: list(getattr(self, axis)) for axis in AXES},
            "training": {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                         "accelerator": self.accelerator, "isolation": self.isolation,
                         "threads": self.threads if self.threads is not None else "auto", "workers": self.workers},
            "data": {"source": self.source, "synthetic_size": self.synthetic_size, "group_regex": self.group_regex,
                     "cache_dir": self.cache_dir},
            "executor": self.executor.as_config(),
        }  # fmt: skip

    def with_output(self, output: str | Path) -> GridSpec:
        return replace(self, output=str(output))

    def with_executor(self, kind: str | None = None, ray_address: str | None = None) -> GridSpec:
        """This grid run by executor ``kind`` (and at ``ray_address``); None keeps what the file says.

        Raises:
            GridSpecError: ``kind`` is not an executor.
        """
        if kind is not None and kind not in EXECUTORS:
            raise GridSpecError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
        settings = replace(self.executor, kind=kind or self.executor.kind,
                           ray_address=ray_address if ray_address is not None else self.executor.ray_address)  # fmt: skip
        return replace(self, executor=settings)

    # ------------------------------------------------------------------------------------------ resources
    @property
    def cpus_per_fold(self) -> int:
        """CPUs one fold asks a cluster for: the file's ``executor.cpus_per_fold``, else its torch threads, else 1."""
        return self.executor.cpus_per_fold or self.threads or 1

    @property
    def fold_resources(self) -> str:
        """What one fold asks a cluster for, in words: ``1 CPU``, ``4 CPUs + 1 GPU``."""
        text = f"{self.cpus_per_fold} CPU" + ("s" if self.cpus_per_fold > 1 else "")
        return text + (f" + {self.gpus_per_fold} GPU" + ("s" if self.gpus_per_fold > 1 else "") if self.gpus_per_fold else "")

    @property
    def gpus_per_fold(self) -> int:
        """GPUs one fold asks a cluster for: the file's ``executor.gpus_per_fold``, else 1 when it trains on a GPU."""
        if self.executor.gpus_per_fold is not None:
            return self.executor.gpus_per_fold
        return 1 if self.accelerator == "gpu" else 0


def _impossible(cell: Cell) -> str | None:
    """Why ``cell`` cannot be trained, or None. Weight files are not looked for: the machine that trains has them."""
    problems = backbone_problems(
        cell.backbone, cell.pretrained == "imagenet", cell.image_size, cell.color_mode, check_weights=False
    )
    return "; ".join(str(problem) for problem in problems) or None


# ---------------------------------------------------------------------------------------------- reading
def load_grid_spec(path: str | Path) -> GridSpec:
    """Read and validate the grid file at ``path``.

    Raises:
        GridSpecError: the file is missing, not YAML, or a key is unknown or has a bad value.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise GridSpecError(f"Grid file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise GridSpecError(f"{path}: cannot be read ({error})") from error
    except yaml.YAMLError as error:
        raise GridSpecError(f"{path}: not valid YAML ({error})") from error
    return parse_grid_spec(raw, origin=str(path))


def parse_grid_spec(raw: Any, origin: str = "<grid>") -> GridSpec:
    """Validate the mapping ``raw`` (a parsed grid file). ``origin`` names it in messages."""
    reader = _Reader(origin)
    if raw is None:
        raise GridSpecError(f"{origin}: the grid file is empty; it needs at least grid.scenarios and grid.image_sizes")
    top = reader.mapping(raw, "")
    grid = reader.mapping(top.get("grid"), "grid", required=True)
    training = reader.mapping(top.get("training", {}), "training")
    data = reader.mapping(top.get("data", {}), "data")
    executor = reader.mapping(top.get("executor", {}), "executor")

    scenarios = reader.choices(grid, "grid.scenarios", GRID_SCENARIOS, required=True)
    color_modes = reader.choices(grid, "grid.color_modes", COLOR_MODES, default=("grayscale",))
    backbones = reader.choices(grid, "grid.backbones", BACKBONE_NAMES, default=("seed_cnn",))
    pretrained = reader.choices(grid, "grid.pretrained", PRETRAINED, default=("none",))
    image_sizes = reader.sizes(grid, "grid.image_sizes")

    folds = reader.integer(top, "folds", 5, minimum=2, maximum=50)
    spec = GridSpec(
        scenarios=scenarios,
        image_sizes=image_sizes,
        color_modes=color_modes,
        backbones=backbones,
        pretrained=pretrained,
        folds=folds,
        epochs=reader.integer(training, "training.epochs", 10, minimum=1, maximum=10_000),
        batch_size=reader.integer(training, "training.batch_size", 32, minimum=1, maximum=65_536),
        lr=reader.number(training, "training.lr", 1e-3, above=0.0, below=10.0),
        accelerator=reader.one_of(training, "training.accelerator", ACCELERATORS, "auto"),
        isolation=reader.one_of(training, "training.isolation", ISOLATIONS, "in_process"),
        threads=reader.threads(training, "training.threads"),
        workers=reader.integer(training, "training.workers", 1, minimum=1, maximum=64),
        source=reader.source(data, "data.source"),
        synthetic_size=reader.integer(data, "data.synthetic_size", 458, minimum=10, maximum=1_000_000),
        group_regex=reader.regex(data, "data.group_regex"),
        cache_dir=reader.optional_text(data, "data.cache_dir", "auto"),
        output=reader.text(top, "output", "grids/default"),
        seed=reader.integer(top, "seed", 0, minimum=0, maximum=2**31 - 1),
        name=reader.text(top, "name", "grid"),
        executor=ExecutorSettings(
            kind=reader.one_of(executor, "executor.kind", EXECUTORS, "local"),
            cpus_per_fold=reader.optional_integer(executor, "executor.cpus_per_fold", minimum=1, maximum=1024),
            gpus_per_fold=reader.optional_integer(executor, "executor.gpus_per_fold", minimum=0, maximum=64),
            ray_address=reader.optional_text(executor, "executor.ray_address", None),
            partition=reader.optional_text(executor, "executor.partition", None),
            time=reader.slurm_time(executor, "executor.time", "01:00:00"),
            mem=reader.optional_text(executor, "executor.mem", None),
            max_parallel=reader.optional_integer(executor, "executor.max_parallel", minimum=1, maximum=100_000),
            sbatch_options=reader.texts(executor, "executor.sbatch_options"),
        ),
        origin=origin,
    )
    if not spec.cells:
        reasons = "; ".join(sorted({s.reason for s in spec.skipped_cells}))
        raise GridSpecError(f"{origin}: no cell of this grid can be trained ({reasons})")
    return spec


class _Reader:
    """Typed access to the parsed YAML that names the key in every error."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, message: str) -> GridSpecError:
        return GridSpecError(f"{self.origin}: {key}: {message}")

    def mapping(self, value: Any, key: str, required: bool = False) -> dict[str, Any]:
        where = key or "the top level"
        if value is None and required:
            raise self.fail(key, "missing; it lists the grid's axes (scenarios, image_sizes, ...)")
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise GridSpecError(f"{self.origin}: {where} must be a mapping of keys to values, got {_show(value)}")
        known = KNOWN_KEYS[key]
        for name in value:
            if name not in known:
                full = f"{key}.{name}" if key else str(name)
                close = difflib.get_close_matches(str(name), known, n=1)
                elsewhere = [f"{section}.{name}" if section else str(name) for section, names in KNOWN_KEYS.items()
                             if section != key and name in names]  # fmt: skip
                if elsewhere:
                    hint = f"it belongs elsewhere: {elsewhere[0]!r}; "
                elif close:
                    hint = f"did you mean {(key + '.' if key else '') + close[0]!r}? "
                else:
                    hint = ""
                raise GridSpecError(f"{self.origin}: unknown key {full!r} ({hint}known keys here: {', '.join(known)})")
        return dict(value)

    def _list(self, section: dict[str, Any], key: str, default: tuple | None, required: bool) -> list[Any]:
        name = key.split(".")[-1]
        if name not in section or section[name] is None:
            if required or default is None:
                raise self.fail(key, "missing; give at least one value")
            return list(default)
        value = section[name]
        values = value if isinstance(value, list) else [value]  # a single value is a one-value axis
        if not values:
            raise self.fail(key, "is empty; give at least one value")
        return values

    def choices(self, section: dict[str, Any], key: str, allowed: tuple[str, ...], default: tuple | None = None,
                required: bool = False) -> tuple[str, ...]:
        values = self._list(section, key, default, required)
        for index, value in enumerate(values):
            if value not in allowed:
                close = difflib.get_close_matches(str(value), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(f"{key}[{index}]", f"unknown value {_show(value)}{hint}; choose from {', '.join(allowed)}")
        return self._unique(key, values)

    def sizes(self, section: dict[str, Any], key: str) -> tuple[int, ...]:
        values = self._list(section, key, None, True)
        for index, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(f"{key}[{index}]", f"must be a whole number of pixels, got {_show(value)}")
            if not SMALLEST_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
                raise self.fail(
                    f"{key}[{index}]", f"must be between {SMALLEST_IMAGE_SIZE} and {MAX_IMAGE_SIZE} px, got {value}"
                )
        return self._unique(key, values)

    def _unique(self, key: str, values: list[Any]) -> tuple[Any, ...]:
        seen: set[Any] = set()
        for value in values:
            if value in seen:
                raise self.fail(key, f"lists {_show(value)} twice")
            seen.add(value)
        return tuple(values)

    def integer(self, section: dict[str, Any], key: str, default: int, minimum: int, maximum: int) -> int:
        value = section.get(key.split(".")[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, got {_show(value)}")
        if not minimum <= value <= maximum:
            raise self.fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, section: dict[str, Any], key: str, default: float, above: float, below: float) -> float:
        value = section.get(key.split(".")[-1], default)
        if isinstance(value, str):
            try:  # YAML reads 1e-3 (no dot) as a string
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {_show(value)}")
        if not above < value < below:
            raise self.fail(key, f"must be above {above:g} and below {below:g}, got {value}")
        return float(value)

    def optional_integer(self, section: dict[str, Any], key: str, minimum: int, maximum: int) -> int | None:
        value = section.get(key.split(".")[-1])
        if value is None or value == "auto":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(key, f"must be 'auto' or a whole number from {minimum} to {maximum}, got {_show(value)}")
        return value

    def slurm_time(self, section: dict[str, Any], key: str, default: str) -> str:
        import re

        value = section.get(key.split(".")[-1], default)
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML reads an unquoted 02:00:00 as the number 7200: refuse to guess what was meant.
            raise self.fail(key, f"must be quoted, such as '02:00:00' or '90' (minutes); YAML read {value} as a number")
        text = value.strip() if isinstance(value, str) else ""
        if not re.match(SLURM_TIME, text):
            raise self.fail(key, f"must be a Slurm time limit such as '90', '02:00:00' or '1-12:00:00', got {_show(value)}")
        return text

    def texts(self, section: dict[str, Any], key: str) -> tuple[str, ...]:
        value = section.get(key.split(".")[-1]) or []
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{index}]", f"must be a text such as '--account=lab', got {_show(item)}")
        return tuple(item.strip() for item in values)

    def threads(self, section: dict[str, Any], key: str) -> int | None:
        value = section.get(key.split(".")[-1], "auto")
        if value in ("auto", None):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
            raise self.fail(key, f"must be 'auto' or a whole number of CPU threads from 1 to 256, got {_show(value)}")
        return value

    def one_of(self, section: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
        value = section.get(key.split(".")[-1], default)
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}, got {_show(value)}")
        return str(value)

    def text(self, section: dict[str, Any], key: str, default: str) -> str:
        value = section.get(key, default)
        if not isinstance(value, (str, int)) or not str(value).strip():
            raise self.fail(key, f"must be a non-empty text, got {_show(value)}")
        return str(value).strip()

    def optional_text(self, section: dict[str, Any], key: str, default: str | None) -> str | None:
        value = section.get(key.split(".")[-1], default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a text or null, got {_show(value)}")
        return value.strip()

    def regex(self, section: dict[str, Any], key: str) -> str | None:
        import re

        value = self.optional_text(section, key, None)
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise self.fail(key, f"is not a valid regular expression ({error})") from error
        return value

    def source(self, section: dict[str, Any], key: str) -> str:
        value = self.optional_text(section, key, "synthetic")
        if value is None or value == "synthetic":
            return "synthetic"
        path = Path(value).expanduser()
        if not path.exists():
            raise self.fail(key, f"{path} does not exist (give a folder with one sub-folder per class, a .csv manifest, "
                                 "or 'synthetic')")
        if path.is_file() and path.suffix.lower() != ".csv":
            raise self.fail(key, f"{path} is a file but not a .csv manifest")
        return str(path.resolve())


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
