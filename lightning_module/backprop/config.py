"""The page's whole configuration, and its round trip through the URL's query parameters.

A link reproduces a session: ``Config.to_query()`` gives the parameters, ``Config.from_query()``
reads them back. Reading is defensive: a bad value becomes a warning and that field's default,
never an exception.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from .activations import HIDDEN, OUTPUTS
from .costs import COSTS, INCOMPATIBLE
from .datasets import DATASETS
from .network import INITIALISATIONS
from .presets import PRESETS

MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 16
BATCH_MODES = {"full": "full batch", "sgd": "single example (SGD)", "mini": "mini-batch"}
MODES = {"network": "network", "graph": "computational graph"}
DATA_CHOICES = {**DATASETS, "exercise": "exercise example (1 point)", "csv": "uploaded CSV"}
DEFAULT_EXPRESSION = "f = (x + y) * z"
DEFAULT_VALUES = "x = -2, y = 5, z = -4"


@dataclass(frozen=True)
class Config:
    mode: str = "network"
    preset: str = ""
    hidden_layers: tuple[int, ...] = (4, 4)
    activation: str = "tanh"
    output: str = "sigmoid"
    cost: str = "cross_entropy"
    learning_rate: float = 0.3
    batch: str = "full"
    batch_size: int = 16
    weight_decay: float = 0.0
    init: str = "xavier"
    epsilon: float = 0.1
    seed: int = 0
    dataset: str = "xor"
    expression: str = DEFAULT_EXPRESSION
    values: str = DEFAULT_VALUES

    def structure_key(self) -> tuple:
        """Fields whose change means a new network (η, λ and the batch mode apply to the next step)."""
        return (self.preset, self.hidden_layers, self.activation, self.output, self.cost, self.init,
                self.epsilon, self.seed, self.dataset)

    def with_preset(self, name: str) -> "Config":
        """This config with a preset's network, data and learning rate (name '' clears the preset)."""
        if not name:
            return replace(self, preset="")
        p = PRESETS[name]
        return replace(self, preset=name, hidden_layers=p.hidden_layers, activation=p.activation, output=p.output,
                       cost=p.cost, learning_rate=p.learning_rate, dataset=p.dataset, init=p.init, seed=p.seed,
                       batch=p.batch, weight_decay=0.0)

    def to_query(self) -> dict[str, str]:
        d = asdict(self)
        out = {}
        for f in fields(self):
            if f.name == "hidden_layers":
                out[_QUERY_NAMES[f.name]] = layers_to_text(self.hidden_layers)
            elif self.mode != "graph" and f.name in ("expression", "values"):
                continue  # keep network links short
            elif f.name == "preset" and not self.preset:
                continue
            else:
                out[_QUERY_NAMES[f.name]] = _fmt(d[f.name])
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> tuple["Config", list[str]]:
        """A config from query parameters; unknown keys are ignored, bad values warned about."""
        warnings: list[str] = []
        default = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = _QUERY_NAMES[f.name]
            if key not in params:
                continue
            raw = params[key]
            if isinstance(raw, list):
                raw = raw[-1] if raw else ""
            raw = str(raw).strip()
            try:
                values[f.name] = _PARSERS[f.name](raw)
            except ValueError as exc:
                warnings.append(f"Ignored {key}={raw!r} in the link: {exc} Using {_show(f.name, getattr(default, f.name))}.")
        config = replace(default, **values)
        if (config.output, config.cost) in INCOMPATIBLE:
            warnings.append(f"The link pairs a {config.output} output with the {config.cost} cost, which does "
                            f"not work: {INCOMPATIBLE[(config.output, config.cost)]} Using "
                            f"{default.output} with {default.cost}.")
            config = replace(config, output=default.output, cost=default.cost)
        return config, warnings


_QUERY_NAMES = {"mode": "mode", "preset": "preset", "hidden_layers": "layers", "activation": "act",
                "output": "out", "cost": "cost", "learning_rate": "lr", "batch": "batch",
                "batch_size": "bs", "weight_decay": "l2", "init": "init", "epsilon": "eps", "seed": "seed",
                "dataset": "data", "expression": "expr", "values": "vals"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _show(name: str, value: Any) -> str:
    return layers_to_text(value) if name == "hidden_layers" else _fmt(value)


def layers_to_text(layers: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in layers) if layers else "none"


def parse_layers(text: str) -> tuple[int, ...]:
    """'4,4' → (4, 4); 'none' or '' → no hidden layer. Raises ValueError with the limits."""
    text = text.strip().lower()
    if text in ("", "none", "0", "-"):
        return ()
    parts = [p for p in text.replace(" ", ",").replace("-", ",").split(",") if p]
    try:
        layers = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError("hidden layers must be whole numbers separated by commas, like 4,4.") from None
    if len(layers) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"at most {MAX_HIDDEN_LAYERS} hidden layers.")
    if any(n < 1 or n > MAX_NEURONS for n in layers):
        raise ValueError(f"each hidden layer has 1 to {MAX_NEURONS} neurons.")
    return layers


def _choice(options: Mapping[str, str] | tuple, what: str):
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"unknown {what} (choose from {', '.join(options)}).")
        return raw
    return parse


def _number(lo: float, hi: float, what: str, integer: bool = False, lo_open: bool = False):
    def parse(raw: str):
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            raise ValueError(f"{what} must be a {'whole ' if integer else ''}number.") from None
        if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
            raise ValueError(f"{what} must be {'above' if lo_open else 'at least'} {lo:.10g} and at most {hi:.10g}.")
        return value
    return parse


def _preset(raw: str) -> str:
    if raw in ("", "none"):
        return ""
    if raw not in PRESETS:
        raise ValueError(f"unknown preset (choose from {', '.join(PRESETS)}).")
    return raw


def _text(limit: int):
    def parse(raw: str) -> str:
        if len(raw) > limit:
            raise ValueError(f"longer than {limit} characters.")
        return raw
    return parse


_PARSERS = {
    "mode": _choice(MODES, "mode"),
    "preset": _preset,
    "hidden_layers": parse_layers,
    "activation": _choice(HIDDEN, "activation"),
    "output": _choice(OUTPUTS, "output layer"),
    "cost": _choice(COSTS, "cost"),
    "learning_rate": _number(0.0, 100.0, "the learning rate", lo_open=True),
    "batch": _choice(BATCH_MODES, "batch mode"),
    "batch_size": _number(1, 5000, "the batch size", integer=True),
    "weight_decay": _number(0.0, 10.0, "λ"),
    "init": _choice(INITIALISATIONS, "initialisation"),
    "epsilon": _number(0.0, 10.0, "ε", lo_open=True),
    "seed": _number(0, 2**31 - 1, "the seed", integer=True),
    "dataset": _choice(DATA_CHOICES, "data set"),
    "expression": _text(300),
    "values": _text(300),
}
