"""ISA likelihood-of-failure categories and the class groupings ("scenarios") the lab compared."""

from __future__ import annotations

from collections.abc import Iterable

# Ordered from least to most likely to fail; the order is used for display and risk matrices.
ISA_CATEGORIES: tuple[str, ...] = ("Improbable", "Possible", "Probable", "Imminent")

# Each scenario maps a target class to the ISA categories merged into it. Order = class index.
SCENARIOS: dict[str, dict[str, tuple[str, ...]]] = {
    "Pr_Im": {"Improbable": ("Improbable",), "Probable": ("Probable",)},
    "PrPo_Im": {"Improbable": ("Improbable",), "Probable+Possible": ("Probable", "Possible")},
    "Pr_PoIm": {"Possible+Improbable": ("Possible", "Improbable"), "Probable": ("Probable",)},
    "Pr_Po_Im": {"Improbable": ("Improbable",), "Possible": ("Possible",), "Probable": ("Probable",)},
}
SCENARIO_NAMES: tuple[str, ...] = (*SCENARIOS, "all")


def canonical_class_name(name: str) -> str:
    """Return the ISA spelling of ``name`` when it matches one case-insensitively, else ``name`` unchanged."""
    folded = name.strip().casefold()
    for category in ISA_CATEGORIES:
        if category.casefold() == folded:
            return category
    return name.strip()


def _sort_key(name: str) -> tuple[int, str]:
    return (ISA_CATEGORIES.index(name), "") if name in ISA_CATEGORIES else (len(ISA_CATEGORIES), name)


def scenario_mapping(scenario: str, available: Iterable[str]) -> dict[str, str]:
    """Map each source class used by ``scenario`` to its target class.

    Source classes not named by the scenario are left out (their images are not used).
    Raises ``ValueError`` naming the missing class when the data lacks one the scenario needs.
    """
    present = {canonical_class_name(c) for c in available}
    if scenario == "all":
        return {c: c for c in sorted(present, key=_sort_key)}
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown scenario {scenario!r}; choose one of {', '.join(SCENARIO_NAMES)}.")
    mapping: dict[str, str] = {}
    for target, sources in SCENARIOS[scenario].items():
        missing = [s for s in sources if s not in present]
        if missing:
            raise ValueError(
                f"Scenario {scenario!r} needs class {missing[0]!r}, but the data has only: "
                f"{', '.join(sorted(present, key=_sort_key)) or 'no classes'}."
            )
        mapping.update({s: target for s in sources})
    return mapping


def scenario_classes(scenario: str, available: Iterable[str]) -> list[str]:
    """Target class names of ``scenario`` in class-index order."""
    if scenario == "all":
        return list(scenario_mapping(scenario, available).values())
    scenario_mapping(scenario, available)  # validates
    return list(SCENARIOS[scenario])


def isa_category_of(class_name: str) -> str | None:
    """The most severe ISA category a (possibly merged) class name stands for, or None if it is not ISA."""
    parts = [canonical_class_name(p) for p in class_name.split("+")]
    isa = [p for p in parts if p in ISA_CATEGORIES]
    return max(isa, key=ISA_CATEGORIES.index) if isa else None
