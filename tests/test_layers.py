"""Imports run down the layers only: a module never imports from a layer above its own.

The layers, bottom to top (docs/ARCHITECTURE.md draws them):

    files, processes → synthetic → data → models → training, evaluation → assessment, runs, grid, reliability
    → the command line (``__main__``)

``backprop`` stands alone: it imports nothing else from the package. Packages on one level may import each other.
Every ``import`` and ``from`` statement counts, also those inside functions: a lazy import still makes the lower
layer depend on the upper one. A new subpackage or top-level module must be given a level in ``LAYERS`` below, so
that nothing escapes the check by being unknown.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "lightning_module"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Level of each part of the package (the first name after ``lightning_module.``); higher levels may import lower.
LAYERS: dict[str, int] = {
    "files": 0,  # generic helpers: atomic writes, locks, process liveness
    "processes": 0,  # starting, stopping and reaping background processes; imports only files
    "threads": 0,  # per-process thread pools for work beside the caller (imports nothing from the package)
    "synthetic": 1,
    "data": 2,
    "models": 3,
    "training": 4,
    "evaluation": 4,
    "assessment": 5,
    "runs": 5,
    "grid": 5,
    "reliability": 5,
    "labelling": 5,  # raters' ratings, their agreement and the consensus manifest
    "__main__": 6,  # the command line dispatches to every layer
    "__init__": 0,  # the package's own __init__ holds only the version
}
STANDALONE = {"backprop"}  # imports nothing from the rest of the package
DASHBOARD = "dashboard"  # the top layer, outside the package: nothing in the package imports it


def part_of(module: str) -> str:
    """``lightning_module.models.networks`` → ``models``; ``lightning_module`` itself → ``__init__``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    names = list(relative.parts)
    if names[-1] == "__init__" and len(names) > 1:
        names.pop()
    return ".".join(names)


def imported_modules(path: Path, root: Path = PACKAGE_DIR) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of the package in ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == PACKAGE:  # ``from lightning_module import runs`` imports the part ``runs``
                found += [(node.lineno, _from_package(alias.name, root)) for alias in node.names]
            else:
                found.append((node.lineno, target))
    ours = (PACKAGE, DASHBOARD)
    return sorted((line, name) for line, name in found if name in ours or name.split(".")[0] in ours)


def _from_package(name: str, root: Path) -> str:
    """What ``from lightning_module import name`` imports: a part of the package, or a name in its ``__init__``."""
    is_part = (root / name).is_dir() or (root / f"{name}.py").is_file()
    return f"{PACKAGE}.{name}" if is_part else PACKAGE


def upward_imports(root: Path = PACKAGE_DIR) -> list[str]:
    """Every import that runs up the layers, as ``file:line: importer (level) imports module (level)``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        importer = part_of(module_name(path, root))
        for line, target in imported_modules(path, root):
            imported = part_of(target)
            where = f"{path.relative_to(root.parent)}:{line}"
            if target.split(".")[0] == DASHBOARD:
                problems.append(f"{where}: {importer} imports {target}, a higher layer (the dashboard sits on top of all)")
            elif importer in STANDALONE:
                if imported not in (importer, "__init__"):
                    problems.append(f"{where}: {importer} stands alone but imports {target}")
            elif imported in STANDALONE:
                continue  # anyone may use a part that stands alone
            elif imported not in LAYERS:
                problems.append(f"{where}: {target} belongs to no layer; give {imported!r} one in tests/test_layers.py")
            elif LAYERS[imported] > LAYERS[importer]:
                problems.append(
                    f"{where}: {importer} (level {LAYERS[importer]}) imports {target} (level {LAYERS[imported]}), "
                    "a higher layer"
                )
    return problems


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in PACKAGE_DIR.rglob("*.py")}
    unknown = sorted(parts - set(LAYERS) - STANDALONE)
    assert not unknown, f"give these parts of {PACKAGE} a level in LAYERS: {', '.join(unknown)}"


def test_no_module_imports_from_a_higher_layer() -> None:
    problems = upward_imports()
    assert not problems, "imports that run up the layers:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from lightning_module.training.finetuning import X", ["training"]),
        ("import lightning_module.grid.spec", ["grid"]),
        ("from lightning_module import runs", ["runs"]),
        ("from ..evaluation import baseline", ["evaluation"]),
        ("def f():\n    from lightning_module.runs.store import read_run", ["runs"]),
        ("from dashboard.parts.shared import widgets", ["parts"]),
    ],
)
def test_the_check_sees_every_form_of_import(tmp_path: Path, source: str, expected: list[str]) -> None:
    fake = tmp_path / PACKAGE / "models" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source + "\n")
    root = tmp_path / PACKAGE
    (root / "runs").mkdir()  # so that ``from lightning_module import runs`` names a part of the package
    assert [part_of(name) for _, name in imported_modules(fake, root)] == expected
    [problem] = upward_imports(root)
    assert problem.startswith(f"{PACKAGE}/models/fake.py:") and "a higher layer" in problem
