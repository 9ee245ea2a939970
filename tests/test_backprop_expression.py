"""Computational-graph mode: safe parsing, the notes' example, node-by-node backward, torch agreement."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from lightning_module.backprop.expression import (MAX_OPERATIONS, ExpressionError, backward, node_definition,
                                                  parse_expression, parse_values)
from lightning_module.backprop.formulas import graph_step_rows
from lightning_module.backprop.plots import expression_figure


def grads(graph) -> dict[str, float]:
    return {name: v.grad for name, v in graph.variables.items()}


def test_the_notes_example_step_by_step():
    """f = (x + y)·z at x = −2, y = 5, z = −4: q = 3, f = −12, ∂f/∂x = ∂f/∂y = −4, ∂f/∂z = 3."""
    g = parse_expression("f = (x + y) * z", parse_values("x = -2, y = 5, z = -4"))
    labels = {v.label: v for v in g.nodes}
    assert labels["q"].data == 3 and labels["f"].data == -12 and g.output is labels["f"]
    assert node_definition(labels["q"]) == "q = x + y"
    assert g.n_steps == 2
    assert backward(g, 0) == [] and g.output.grad == 1 and grads(g) == {"x": 0, "y": 0, "z": 0}
    steps = backward(g, 1)  # f = q·z sends z to q and q to z
    assert steps[0].node is g.output
    assert labels["q"].grad == -4 and grads(g) == {"x": 0, "y": 0, "z": 3}
    backward(g, 2)  # q = x + y passes its gradient through unchanged
    assert grads(g) == {"x": -4, "y": -4, "z": 3}
    assert backward(g, 99) and grads(g) == {"x": -4, "y": -4, "z": 3}  # clamped, replayable
    rows = graph_step_rows(steps[0], "f")
    assert r"z \cdot \text{grad}_{f} = (-4) \cdot 1 = -4" in rows[1]


def test_unicode_and_caret_are_read_as_the_notes_write_them():
    g = parse_expression("f = (x + y)·z − x^2", {"x": 2.0, "y": 1.0, "z": 3.0})
    backward(g)
    assert g.output.data == 9 - 4
    assert grads(g) == {"x": 3 - 4, "y": 3, "z": 3}


def test_a_variable_used_twice_accumulates_its_gradient():
    g = parse_expression("x * x + x", {"x": 3.0})
    backward(g)
    assert g.variables["x"].grad == 2 * 3 + 1


T = torch  # the same expressions written out by hand in torch, for autograd to differentiate
EXPRESSIONS = [
    ("tanh(a * b + c) / (1 + exp(-a)) - log(b ** 2 + 1) + sigmoid(c) * relu(a - c)",
     lambda a, b, c: T.tanh(a * b + c) / (1 + T.exp(-a)) - T.log(b ** 2 + 1) + T.sigmoid(c) * T.relu(a - c)),
    ("(a + b) ** 3 / c - -a + 2 ** b + b ** c",
     lambda a, b, c: (a + b) ** 3 / c - -a + 2 ** b + b ** c),
    ("sigmoid(tanh(a) * tanh(b)) * log(exp(c) + a * a)",
     lambda a, b, c: T.sigmoid(T.tanh(a) * T.tanh(b)) * T.log(T.exp(c) + a * a)),
]


@pytest.mark.parametrize("text,torch_f", EXPRESSIONS)
@pytest.mark.parametrize("values", [{"a": 0.7, "b": 1.3, "c": -0.4}, {"a": -1.1, "b": 0.2, "c": 2.5}])
def test_gradients_match_torch_autograd(text, torch_f, values):
    g = parse_expression(text, values)
    backward(g)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    out = torch_f(**tensors)
    out.backward()
    assert g.output.data == pytest.approx(float(out.detach()), rel=1e-12)
    for name, t in tensors.items():
        assert g.variables[name].grad == pytest.approx(float(t.grad), rel=1e-10, abs=1e-12), name


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/pwned')",
    "open('/tmp/pwned', 'w')",
    "x.__class__",
    "[x for x in y]",
    "lambda: 1",
    "x if y else z",
    "'text'",
    "x[0]",
    "f(x) = 2",
    "x; y",
    "tanh(x, y)",
    "tanh(x=1)",
    "True + x",
])
def test_anything_but_arithmetic_is_refused_and_never_run(text, tmp_path: Path):
    with pytest.raises(ExpressionError):
        parse_expression(text, {"x": 1.0, "y": 2.0, "z": 3.0})
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("text,values,message", [
    ("x + w", {"x": 1.0}, "Give a value for w"),
    ("log(x - 2)", {"x": 1.0}, "log needs a positive argument"),
    ("1 / (x - 1)", {"x": 1.0}, "Division by zero"),
    ("x ** 0.5", {"x": -4.0}, "fractional power"),
    ("x ** y", {"x": -2.0, "y": 2.0}, "base must be"),
    ("exp(exp(exp(x)))", {"x": 10.0}, "too large"),
    ("x +", {"x": 1.0}, "not a valid expression"),
    ("x", {"x": 1.0}, "no operation"),
    ("tanh", {"x": 1.0}, "is a function"),
    ("", {}, "Type an expression"),
    ("x" + " + x" * (MAX_OPERATIONS + 1), {"x": 1.0}, "At most"),
    ("x" * 400, {}, "under 300 characters"),
])
def test_bad_expressions_get_clear_messages(text, values, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, values)


def test_values_are_parsed_with_clear_messages():
    assert parse_values("x = -2; y=5\nz = −4") == {"x": -2.0, "y": 5.0, "z": -4.0}
    assert parse_values("") == {}
    for text, message in (("x -2", "name = number"), ("x = two", "must be a number"), ("x = inf", "finite")):
        with pytest.raises(ExpressionError, match=message):
            parse_values(text)


def test_deep_nesting_is_refused_not_crashed():
    with pytest.raises(ExpressionError):
        parse_expression("(" * 200 + "x" + ")" * 200 + " + " + " + ".join(["x"] * 70), {"x": 1.0})


def test_graph_figure_marks_the_current_node_and_unknown_gradients():
    g = parse_expression("f = (x + y) * z", parse_values("x = -2, y = 5, z = -4"))
    backward(g, 1)
    fig = expression_figure(g, 1)
    texts = [re.sub("<span[^>]*>|</span>", "", a.text) for a in fig.layout.annotations]
    assert "<b>x</b> = -2<br>grad ?" in texts  # not reached yet
    assert "<b>z</b> = -4<br>grad 3" in texts
    assert "<b>f</b> = -12<br>grad 1" in texts
    assert math.isclose(g.variables["z"].grad, 3.0)
