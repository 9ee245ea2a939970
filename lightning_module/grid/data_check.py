"""Checking a grid's data before any training: every scenario must have its classes and enough groups for k folds.

The same sources, class mapping and group k-fold the data module uses, without decoding a single photo, so a
grid that cannot work fails in seconds with every reason at once instead of failing fold after fold.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lightning_module.data.categories import scenario_mapping
from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.data.sources import DataSourceError, PhotoRecord, discover_folder, read_manifest
from lightning_module.data.splits import group_k_fold
from lightning_module.grid.spec import GridSpec

MIN_PHOTOS_PER_CLASS = 3  # the data module's own rule


class GridDataError(ValueError):
    """The grid's data cannot be split as asked; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ScenarioData:
    """What one scenario of the grid trains on."""

    scenario: str
    per_class: dict[str, int]
    groups: int
    warnings: list[str] = field(default_factory=list)

    @property
    def photos(self) -> int:
        return sum(self.per_class.values())


def read_records(spec: GridSpec, make_synthetic: bool = True) -> list[PhotoRecord] | None:
    """The grid's photos (not decoded). For synthetic data that does not exist yet: made when ``make_synthetic``,
    else None."""
    if spec.source == "synthetic":
        module = TreeRiskDataModule(source="synthetic", synthetic_size=spec.synthetic_size, seed=spec.seed, cache_dir=None)
        manifest = module.synthetic_dir / "manifest.csv"
        if not manifest.is_file():
            if not make_synthetic:
                return None
            module.prepare_data()  # generates the dataset once, as a fit would
        return read_manifest(manifest)
    path = Path(spec.source)
    if path.suffix.lower() == ".csv":
        return read_manifest(path, spec.group_regex)
    records, _ = discover_folder(path, spec.group_regex)
    return records


def check_grid_data(spec: GridSpec, make_synthetic: bool = True) -> dict[str, ScenarioData]:
    """Per scenario: the photos per class and the number of groups, with warnings about lopsided folds.

    Returns an empty dict for synthetic data not made yet when ``make_synthetic`` is False.

    Raises:
        GridDataError: some scenario lacks a class, has too few photos of one, or too few groups for the folds.
    """
    try:
        records = read_records(spec, make_synthetic)
    except DataSourceError as error:
        raise GridDataError([f"data.source: {error}"]) from error
    except FileExistsError as error:  # the synthetic folder holds something else
        raise GridDataError([f"data.source: {error}"]) from error
    except ImportError as error:  # the generator is missing from this installation
        raise GridDataError([f"data.source: the synthetic dataset cannot be made here ({error})"]) from error
    if records is None:
        return {}
    problems: list[str] = []
    result: dict[str, ScenarioData] = {}
    labels_present = {r.label for r in records}
    for scenario in spec.scenarios:
        try:
            mapping = scenario_mapping(scenario, labels_present)
        except ValueError as error:
            problems.append(str(error))
            continue
        used = [r for r in records if r.label in mapping]
        classes = list(dict.fromkeys(mapping.values()))
        labels = [classes.index(mapping[r.label]) for r in used]
        groups = [r.group for r in used]
        per_class = {name: labels.count(k) for k, name in enumerate(classes)}
        few = [f"{name} ({n})" for name, n in per_class.items() if n < MIN_PHOTOS_PER_CLASS]
        if few:
            problems.append(f"{scenario}: too few photos of {', '.join(few)}; each class needs at least {MIN_PHOTOS_PER_CLASS}")
            continue
        n_groups = len(set(groups))
        if n_groups < spec.folds:
            problems.append(f"{scenario}: {spec.folds} folds need at least {spec.folds} groups (source photos); "
                            f"the data has {n_groups}. Lower 'folds'.")  # fmt: skip
            continue
        result[scenario] = ScenarioData(scenario, per_class, n_groups, _fold_warnings(scenario, classes, labels, groups, spec))
    problems += check_weights(spec)
    if problems:
        raise GridDataError(problems)
    return result


def check_weights(spec: GridSpec) -> list[str]:
    """Problems with the ImageNet weights the grid's pretrained cells need (each backbone checked once)."""
    from lightning_module.runs.launcher import TrainingRequest, check_request

    problems: list[str] = []
    for backbone in dict.fromkeys(c.backbone for c in spec.cells if c.pretrained == "imagenet"):
        request = TrainingRequest(run_name="grid", backbone=backbone, pretrained="imagenet", image_size=224)
        problems += [p for p in check_request(request) if p not in problems]
    return problems


def _fold_warnings(scenario: str, classes: list[str], labels: list[int], groups: list[str], spec: GridSpec) -> list[str]:
    warnings = []
    for fold, (_, held_out) in enumerate(group_k_fold(labels, groups, spec.folds, spec.seed)):
        present = Counter(labels[i] for i in held_out)
        missing = [name for k, name in enumerate(classes) if present[k] == 0]
        if missing:
            warnings.append(
                f"{scenario}: validation fold {fold} has no {', '.join(missing)} photo, so that fold's macro "
                "scores stand on fewer classes; fewer folds would avoid it"
            )
    return warnings
