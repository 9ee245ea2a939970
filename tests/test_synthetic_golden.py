"""The generator's output for a seed is fixed: byte-for-byte the same files as GENERATOR_VERSION 1 always wrote.

Speed work on the generator (issue 16, item 4) must not change a single byte: a dataset made before it and one
made after are "the same" (same GENERATOR_VERSION), and the independent test set (seed 9001) must stay what every
model was judged on. The digests below were taken before that work, with the pinned Pillow and NumPy of
requirements.txt; another libjpeg or zlib would write other bytes. A change that draws different images must bump
GENERATOR_VERSION and renew these digests in the same change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lightning_module.synthetic import GENERATOR_VERSION, generate_dataset
from lightning_module.synthetic.domains import parse_domain
from lightning_module.synthetic.render import render
from lightning_module.synthetic.spec import sample_photo, sample_tree

# (options, sha256 over every file's relative path and bytes, in path order); together they reach every defect,
# every domain factor, the Imminent class, label noise, several photos per tree and a noise bank over 1024 px.
GOLDEN = [
    (dict(n=12, seed=0, width=640, height=480),
     "312f3c324e78f49f1e06430320a4ec815af54fba36d70476c7f49e17985e1372"),
    (dict(n=6, seed=5, width=320, height=240, domain="winter+dusk+drone", photos_per_tree=2),
     "757c21790ea252fc1ef2ea875941a3a50745aa7de6ea6b5719d760a3c5a2528f"),
    (dict(n=4, seed=7, width=160, height=120, domain="summer+overcast", include_imminent=True, label_noise=0.25),
     "de77b633fb5b9e77197b99d31fd6ed3bfb3fafa24f60eb2f3588be175084eee0"),
    (dict(n=2, seed=11, width=1024, height=768, domain="noon"),
     "828d11e789d5ab7028b5237cbb9742efea516006e0f878e03c821d512a083149"),
    (dict(n=60, seed=3, width=160, height=120, include_imminent=True),
     "74afb9ca0cbb046c852050bc8446d208d177dcb8e85d1a60740c75c4d0bae4c4"),
]
# render() with defects switched off (what redraw and the defect-reliance check use): pixels and boxes.
GOLDEN_DISABLED = "8cfcd6c7fc1bb0da5741a420f4c4c8a09456ee1b583ad83cbca7c6d0b0af2d6a"


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_generator_version_is_still_the_one_the_digests_belong_to():
    assert GENERATOR_VERSION == 1


@pytest.mark.parametrize("options, expected", GOLDEN, ids=[f"case{i}" for i in range(len(GOLDEN))])
def test_a_seed_gives_the_same_bytes_as_before(tmp_path, options, expected):
    assert _digest(generate_dataset(tmp_path / "data", **options)) == expected


def test_drawing_with_defects_switched_off_gives_the_same_pixels_and_boxes_as_before():
    digest = hashlib.sha256()
    for i in range(9):
        spec = sample_tree(2, i, ("Improbable", "Possible", "Probable")[i % 3], parse_domain("default"))
        image, boxes = render(spec, sample_photo(2, spec, 0), 320, 240, disabled={"cavity", "lean"})
        digest.update(image.tobytes())
        digest.update(repr(sorted(boxes.items())).encode())
    assert digest.hexdigest() == GOLDEN_DISABLED
