"""The network as JSON (to save or share) and as equivalent PyTorch code (to take further)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .costs import COSTS
from .network import Network

FORMAT = "treerisk-backprop-network"
_TORCH_ACTIVATION = {"sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()", "relu": "nn.ReLU()",
                     "leaky_relu": "nn.LeakyReLU(0.01)", "gelu": "nn.GELU()", "linear": "nn.Identity()",
                     "softmax": "nn.Softmax(dim=1)"}
_TORCH_COST = {
    "quadratic": "0.5 * ((a - y) ** 2).sum(dim=1).mean()",
    "cross_entropy": "-(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum(dim=1).mean()",
    "log_likelihood": "-(y * torch.log(a)).sum(dim=1).mean()",
}


def to_dict(net: Network, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": 1,
        "layout": "W[l] is (n_l, n_{l-1}); z^l = W^l a^{l-1} + b^l with examples as columns",
        "sizes": net.sizes,
        "hidden_activation": net.hidden,
        "output_activation": net.output,
        "cost": net.cost,
        "weight_decay": net.weight_decay,
        "layers": [{"layer": l, "W": net.W[l].tolist(), "b": net.b[l][:, 0].tolist()} for l in range(1, net.L + 1)],
        **({"config": config} if config else {}),
    }


def to_json(net: Network, config: dict[str, Any] | None = None) -> str:
    """The weights and the network's definition as JSON text (full float64 precision)."""
    return json.dumps(to_dict(net, config), indent=1)


def from_json(text: str | bytes) -> Network:
    """A network back from :func:`to_json`; raises ValueError saying what is wrong with the file."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"This is not JSON: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError("This JSON is not a network exported by the backprop visualizer.")
    try:
        net = Network(list(d["sizes"]), d["hidden_activation"], d["output_activation"], d["cost"],
                      float(d.get("weight_decay", 0.0)))
        layers = sorted(d["layers"], key=lambda layer: layer["layer"])
        net.set_weights([layer["W"] for layer in layers], [layer["b"] for layer in layers])
    except KeyError as exc:
        raise ValueError(f"The network file lacks the field {exc}.") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The network file does not fit together: {exc}") from None
    if any(not np.all(np.isfinite(net.W[l])) or not np.all(np.isfinite(net.b[l])) for l in range(1, net.L + 1)):
        raise ValueError("The network file holds weights that are not finite numbers.")
    return net


def _tensor(values: np.ndarray) -> str:
    return f"torch.tensor({json.dumps(values.tolist())}, dtype=torch.float64)"


def pytorch_code(net: Network, learning_rate: float | None = None) -> str:
    """Python source that builds the same network in PyTorch (float64) with the same weights.

    Running it defines ``model`` (an ``nn.Sequential``) and ``cost(a, y)``. PyTorch puts examples in
    rows, so ``model(X)`` takes X of shape (m, n_0); nn.Linear's weight is (out, in), the same layout
    as W^l, so the matrices copy across unchanged.
    """
    sizes = "-".join(map(str, net.sizes))
    lines = [
        "import torch",
        "from torch import nn",
        "",
        f"# A {sizes} network exported from the backprop visualizer: {net.hidden} hidden layers, "
        f"{net.output} output, {net.cost} cost.",
        "# PyTorch puts examples in rows: model(X) takes X of shape (m, inputs). nn.Linear's weight is",
        "# (out, in), the same layout as W^l in the course notes.",
        "model = nn.Sequential(",
    ]
    for l in range(1, net.L + 1):
        act = _TORCH_ACTIVATION[net.output if l == net.L else net.hidden]
        lines.append(f"    nn.Linear({net.sizes[l - 1]}, {net.sizes[l]}), {act},")
    lines += [").double()", "", "with torch.no_grad():"]
    for l in range(1, net.L + 1):
        i = 2 * (l - 1)
        lines.append(f"    model[{i}].weight.copy_({_tensor(net.W[l])})  # W^{l}")
        lines.append(f"    model[{i}].bias.copy_({_tensor(net.b[l][:, 0])})  # b^{l}")
    lam = net.weight_decay
    lines += [
        "",
        "",
        "def cost(a, y):",
        f"    \"\"\"Mean over the batch (rows) of the {COSTS[net.cost].label} cost"
        f"{', plus (λ/2)·Σ‖W‖² (biases not decayed)' if lam else ''}.\"\"\"",
        f"    c = {_TORCH_COST[net.cost]}",
    ]
    if lam:
        lines.append(f"    c = c + {lam!r} / 2 * sum((layer.weight ** 2).sum() for layer in model[::2])")
    lines.append("    return c")
    if learning_rate is not None:
        lines += [
            "",
            "",
            "# One gradient-descent step, as the visualizer's 'whole step' does:",
            f"# optimizer = torch.optim.SGD(model.parameters(), lr={learning_rate!r})",
            "# optimizer.zero_grad(); cost(model(X), Y).backward(); optimizer.step()",
        ]
    return "\n".join(lines) + "\n"
