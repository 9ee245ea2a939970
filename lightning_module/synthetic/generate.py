"""Make a synthetic dataset on disk: one folder per class, a manifest, the options used, and a completion marker.

A dataset is built in a hidden temporary folder beside ``out_dir`` and renamed into place only when complete,
so ``out_dir`` is never half-written: a killed run leaves only a ``.<name>.partial-*`` folder (its temporary
files inside it), which the next :func:`generate_dataset` or :func:`ensure_synthetic_dataset` for that target
recognises as ours (its owner's process on this machine has ended) and clears. Nothing that is not ours is ever
deleted or overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import secrets
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lightning_module.files import FileLock, atomic_write_bytes, exclusive_lock, pid_alive

from .defects import DEFECTS
from .domains import parse_domain
from .options import SynthOptions
from .render import photo_jpeg
from .scoring import class_counts, class_names, neighbour_label, risk_score
from .spec import rng_for, sample_photo, sample_tree

CONFIG_NAME = "synth_config.json"
MANIFEST_NAME = "manifest.csv"
COMPLETE_NAME = ".synth_complete"
IN_PROGRESS_NAME = ".synth_in_progress"

MANIFEST_COLUMNS: tuple[str, ...] = (
    "path", "label", "label_clean", "group", "photo", "risk_score",
    *(f"severity_{d}" for d in DEFECTS),
    *(f"bbox_{d}" for d in DEFECTS),
    "domain", "season", "sky", "view", "tree_form", "leaf_on", "width", "height",
    "latitude", "longitude", "taken",
)


@dataclass(frozen=True)
class _TreeJob:
    options: SynthOptions
    index: int
    label_clean: str
    label: str
    photos: int
    root: str


def plan_trees(options: SynthOptions) -> list[tuple[int, str, str, int]]:
    """(tree index, clean label, training label, photos) for every tree, in index order.

    Image counts per class follow the lab's shares exactly (see :func:`scoring.class_counts`); photos of one
    tree share its class. ``label_noise`` flips that share of trees to a neighbouring class.
    """
    counts = class_counts(options.n, options.include_imminent)
    trees: list[tuple[str, int]] = []
    for label in class_names(options.include_imminent):
        remaining = counts[label]
        while remaining > 0:
            take = min(options.photos_per_tree, remaining)
            trees.append((label, take))
            remaining -= take
    random.Random(f"treerisk-synthetic/{options.seed}/order").shuffle(trees)
    noise_rng = random.Random(f"treerisk-synthetic/{options.seed}/label-noise")
    flipped = set(noise_rng.sample(range(len(trees)), round(options.label_noise * len(trees))))
    plan = []
    for index, (label, photos) in enumerate(trees):
        noisy = label
        if index in flipped:
            noisy = neighbour_label(label, rng_for(options.seed, index, "label-noise"), options.include_imminent)
        plan.append((index, label, noisy, photos))
    return plan


def _fmt_box(box: tuple[int, int, int, int] | None) -> str:
    return "" if box is None else " ".join(str(v) for v in box)


def _make_tree(job: _TreeJob) -> list[dict[str, str]]:
    """Render and save every photo of one tree; returns their manifest rows. Runs in worker processes too."""
    o = job.options
    domain = parse_domain(o.domain)
    spec = sample_tree(o.seed, job.index, job.label_clean, domain, o.include_imminent)
    group = f"synth-s{o.seed}-t{job.index:05d}"
    rows = []
    for p in range(job.photos):
        photo = sample_photo(o.seed, spec, p)
        jpeg, boxes = photo_jpeg(spec, photo, o.width, o.height)
        relative = f"{job.label}/synth_s{o.seed}_t{job.index:05d}_p{p}.jpg"
        (Path(job.root) / relative).write_bytes(jpeg)
        row = {
            "path": relative, "label": job.label, "label_clean": job.label_clean, "group": group, "photo": str(p),
            "risk_score": f"{risk_score(spec.severities):.4f}",
            **{f"severity_{d}": f"{spec.severities[d]:.3f}" for d in DEFECTS},
            **{f"bbox_{d}": _fmt_box(boxes.get(d)) for d in DEFECTS},
            "domain": o.domain, "season": spec.scene.season, "sky": spec.scene.sky, "view": spec.scene.view,
            "tree_form": spec.tree.form, "leaf_on": str(spec.tree.leaf_on).lower(),
            "width": str(o.width), "height": str(o.height),
            "latitude": f"{spec.latitude:.6f}", "longitude": f"{spec.longitude:.6f}",
            "taken": photo.taken.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        rows.append(row)
    return rows


def _run_jobs(jobs: list[_TreeJob], workers: int) -> Iterator[list[dict[str, str]]]:
    if workers <= 1 or len(jobs) < 2:
        yield from map(_make_tree, jobs)
        return
    import multiprocessing

    # forkserver: safe when the caller has threads (Streamlit, torch); results come back in job order.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        yield from pool.map(_make_tree, jobs, chunksize=chunk)


# -- inspecting a folder ----------------------------------------------------------------------------------------

def read_config(out_dir: Path) -> dict | None:
    """The options a dataset folder was made with, or None when it has no readable synth_config.json."""
    try:
        return json.loads((Path(out_dir) / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return None


def _describe(identity: dict) -> str:
    keys = ("n", "seed", "width", "height", "include_imminent", "label_noise", "photos_per_tree", "domain",
            "generator_version")
    return ", ".join(f"{k}={identity.get(k)!r}" for k in keys)


def _looks_ours(out_dir: Path) -> bool:
    """Only what a generator run writes: class folders of .jpg files, our manifest, config and markers."""
    allowed_dirs = set(class_names(include_imminent=True))
    allowed_files = {CONFIG_NAME, MANIFEST_NAME, COMPLETE_NAME, IN_PROGRESS_NAME, MANIFEST_NAME + ".tmp"}
    for entry in out_dir.iterdir():
        if entry.is_dir() and entry.name in allowed_dirs:
            if any(not (f.is_file() and f.name.startswith("synth_") and f.suffix == ".jpg") for f in entry.iterdir()):
                return False
        elif not (entry.is_file() and entry.name in allowed_files):
            return False
    return True


def inspect_dataset(out_dir: Path, options: SynthOptions) -> tuple[str, str]:
    """(state, explanation) of ``out_dir``: missing | empty | same | other | incomplete | damaged | foreign."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return "missing", f"{out_dir} does not exist yet"
    if not out_dir.is_dir():
        return "foreign", f"{out_dir} is a file, not a folder"
    if not any(out_dir.iterdir()):
        return "empty", f"{out_dir} is empty"
    config = read_config(out_dir)
    complete = (out_dir / COMPLETE_NAME).is_file()
    if (out_dir / IN_PROGRESS_NAME).exists() or (config is not None and not complete):
        if _looks_ours(out_dir):
            return "incomplete", f"{out_dir} holds a synthetic dataset whose generation never finished"
        return "foreign", f"{out_dir} has a synthetic-dataset marker but also files the generator never writes"
    if config is None or not complete:
        return "foreign", f"{out_dir} already holds files that are not a synthetic dataset made by this generator"
    if config.get("options") != options.identity():
        return "other", (f"{out_dir} holds a synthetic dataset made with different options "
                         f"({_describe(config.get('options', {}))}); asked for {_describe(options.identity())}")
    problem = _check_complete(out_dir)
    if problem:
        return "damaged", f"{out_dir} holds the requested synthetic dataset but it has been changed: {problem}"
    return "same", f"{out_dir} already holds this synthetic dataset"


def _check_complete(out_dir: Path) -> str | None:
    try:
        marker = json.loads((out_dir / COMPLETE_NAME).read_text())
        digest = hashlib.sha256((out_dir / MANIFEST_NAME).read_bytes()).hexdigest()
    except (OSError, ValueError) as error:
        return f"cannot read its manifest or completion marker ({error})"
    if digest != marker.get("manifest_sha256"):
        return "manifest.csv was edited"
    for label, count in marker.get("per_class", {}).items():
        folder = out_dir / label
        found = sum(1 for f in folder.iterdir() if f.suffix == ".jpg") if folder.is_dir() else 0
        if found != count:
            return f"{label}/ should have {count} images but has {found}"
    return None


# -- writing ----------------------------------------------------------------------------------------------------

def _build(out_dir: Path, options: SynthOptions, workers: int) -> Path:
    """Generate into a fresh hidden folder beside ``out_dir`` and return it, complete (not yet renamed)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "target": out_dir.name}
        (tmp / IN_PROGRESS_NAME).write_text(json.dumps(owner))
        plan = plan_trees(options)
        for label in sorted({noisy for _, _, noisy, _ in plan}):
            (tmp / label).mkdir()
        jobs = [_TreeJob(options, i, clean, noisy, photos, str(tmp)) for i, clean, noisy, photos in plan]
        rows = [row for tree_rows in _run_jobs(jobs, workers) for row in tree_rows]

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        manifest = text.getvalue().encode()
        atomic_write_bytes(tmp / MANIFEST_NAME, manifest)
        per_class = dict(sorted(Counter(r["label"] for r in rows).items()))
        config = {
            "created_by": "lightning_module.synthetic",
            "note": "Synthetic roadside-tree scenes; see docs/SYNTHETIC_MODEL_CARD.md. Not real photos.",
            "options": options.identity(),
            "classes": class_names(options.include_imminent),
            "images_per_class": per_class,
            "trees": len(plan),
            "defects": list(DEFECTS),
        }
        atomic_write_bytes(tmp / CONFIG_NAME, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
        marker = {"images": len(rows), "per_class": per_class, "manifest_sha256": hashlib.sha256(manifest).hexdigest()}
        atomic_write_bytes(tmp / COMPLETE_NAME, (json.dumps(marker, sort_keys=True) + "\n").encode())
        (tmp / IN_PROGRESS_NAME).unlink()
        return tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def generate_dataset(out_dir: Path, n: int = 458, seed: int = 0, width: int = 640, height: int = 480,
                     include_imminent: bool = False, label_noise: float = 0.0, photos_per_tree: int = 1,
                     domain: str = "default", workers: int = 1) -> Path:
    """Write a labelled synthetic dataset to ``out_dir`` and return ``out_dir``.

    Layout: ``out_dir/<Class>/<name>.jpg`` (Improbable, Possible, Probable[, Imminent]), ``manifest.csv``
    (label, group, every defect's severity and box, risk score, ...) and ``synth_config.json``. The same seed and
    options give byte-identical files, whatever ``workers`` is. Raises FileExistsError if ``out_dir`` is not
    empty, unless it already holds exactly this dataset (then it returns at once).
    """
    options = SynthOptions(n, seed, width, height, include_imminent, label_noise, photos_per_tree, domain)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers!r}.")
    out_dir = Path(out_dir)
    state, why = inspect_dataset(out_dir, options)
    if state == "same":
        return out_dir
    if state not in ("missing", "empty"):
        raise FileExistsError(f"Refusing to write into {out_dir}: {why}. Choose another folder or remove it.")
    _clear_stale_partials(out_dir)  # a killed `synth` run's folder (its process is gone): only ours, only dead
    built = _build(out_dir, options, workers)
    _move_into_place(built, out_dir, options)
    return out_dir


def _move_into_place(built: Path, out_dir: Path, options: SynthOptions) -> None:
    try:
        os.rename(built, out_dir)  # atomic; replaces out_dir only if it is an empty folder
    except OSError:
        # Someone else finished first (or put something there meanwhile): keep theirs, drop ours.
        shutil.rmtree(built, ignore_errors=True)
        state, why = inspect_dataset(out_dir, options)
        if state != "same":
            raise FileExistsError(f"Could not put the dataset in {out_dir}: {why}.") from None


def _target_lock(out_dir: Path) -> FileLock:
    """Held while one process checks and generates ``out_dir``, so two concurrent calls generate it only once."""
    return exclusive_lock(out_dir.parent / f".{out_dir.name}.lock")


def _clear_stale_partials(out_dir: Path) -> None:
    """Remove leftovers of our own killed runs for this target (their process on this machine is gone)."""
    host = socket.gethostname()
    for partial in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        try:
            owner = json.loads((partial / IN_PROGRESS_NAME).read_text())
        except (OSError, ValueError):
            continue  # not recognisably ours (or finishing right now): leave it
        if owner.get("host") == host and owner.get("target") == out_dir.name and not pid_alive(owner.get("pid")):
            shutil.rmtree(partial, ignore_errors=True)



def ensure_synthetic_dataset(out_dir: Path, n: int = 458, seed: int = 0, **options) -> Path:
    """Return ``out_dir`` holding the synthetic dataset for these options, generating it on first use.

    Returns at once if it is already there and complete. Clears and regenerates a half-written dataset only when
    it is clearly ours; raises FileExistsError (saying what is there) for anything else, such as a dataset made
    with other options or a folder of the user's own files. Safe when several processes call it at once.
    """
    workers = options.pop("workers", 1)
    unknown = set(options) - set(SynthOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"Unknown synthetic-dataset option(s) {sorted(unknown)}; known: "
                        f"{', '.join(SynthOptions.__dataclass_fields__)}, workers.")
    synth = SynthOptions(n=n, seed=seed, **options)
    out_dir = Path(out_dir)
    state, _ = inspect_dataset(out_dir, synth)
    if state == "same":
        return out_dir
    with _target_lock(out_dir):
        _clear_stale_partials(out_dir)
        state, why = inspect_dataset(out_dir, synth)  # again: another process may have finished meanwhile
        if state == "same":
            return out_dir
        if state == "incomplete":
            shutil.rmtree(out_dir)
        elif state not in ("missing", "empty"):
            raise FileExistsError(f"Cannot use {out_dir} for the synthetic dataset: {why}. "
                                  "Choose another folder, or remove this one to regenerate it.")
        return generate_dataset(out_dir, workers=workers, **{**synth.__dict__})


def read_manifest(out_dir: Path) -> list[dict]:
    """Manifest rows with severities as floats and boxes as (x0, y0, x1, y1) tuples or None."""
    rows = []
    with open(Path(out_dir) / MANIFEST_NAME, newline="") as handle:
        for row in csv.DictReader(handle):
            parsed: dict = dict(row)
            for d in DEFECTS:
                parsed[f"severity_{d}"] = float(row[f"severity_{d}"])
                box = row[f"bbox_{d}"]
                parsed[f"bbox_{d}"] = tuple(int(v) for v in box.split()) if box else None
            parsed["risk_score"] = float(row["risk_score"])
            parsed["width"], parsed["height"] = int(row["width"]), int(row["height"])
            rows.append(parsed)
    return rows


__all__ = [
    "MANIFEST_COLUMNS", "ensure_synthetic_dataset", "generate_dataset", "inspect_dataset",
    "plan_trees", "read_config", "read_manifest",
]
