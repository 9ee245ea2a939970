"""The backprop engine: agreement with torch.autograd, the course's numbers, truth tables, symmetry,
the layer-by-layer stepper, gradient check, data parsing, the URL round trip and the exports."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lightning_module.backprop.activations import HIDDEN, LEAKY_SLOPE
from lightning_module.backprop.config import Config
from lightning_module.backprop.costs import COSTS, INCOMPATIBLE
from lightning_module.backprop.datasets import (DATASETS, dataset_from_table, make_dataset, parse_csv,
                                                predicted_class, targets)
from lightning_module.backprop.diagnosis import diagnose
from lightning_module.backprop.export import from_json, pytorch_code, to_json
from lightning_module.backprop.formulas import neuron_rows, num, weight_rows
from lightning_module.backprop.gradcheck import gradient_check
from lightning_module.backprop.network import INITIALISATIONS, Network
from lightning_module.backprop.presets import EXERCISE_W1, EXERCISE_W2, EXERCISE_X, EXERCISE_Y, PRESETS
from lightning_module.backprop.stepper import StepError, Stepper

OUTPUTS_AND_COSTS = [(o, c) for o in ("sigmoid", "softmax", "linear") for c in COSTS if (o, c) not in INCOMPATIBLE]
TORCH_ACT = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, LEAKY_SLOPE),
    "gelu": lambda z: torch.nn.functional.gelu(z),  # exact erf GELU, as the engine
}


def torch_reference(net: Network, x: np.ndarray, y: np.ndarray):
    """Cost and gradients of the same network by torch.autograd, written independently of the engine."""
    Ws = [torch.tensor(net.W[l], dtype=torch.float64, requires_grad=True) for l in range(1, net.L + 1)]
    bs = [torch.tensor(net.b[l], dtype=torch.float64, requires_grad=True) for l in range(1, net.L + 1)]
    a = torch.tensor(x, dtype=torch.float64)
    Y = torch.tensor(y, dtype=torch.float64)
    for l in range(net.L):
        z = Ws[l] @ a + bs[l]
        if l < net.L - 1:
            a = TORCH_ACT[net.hidden](z)
        elif net.output == "softmax":
            a = torch.softmax(z, dim=0)
        else:
            a = TORCH_ACT[net.output](z)
    if net.cost == "quadratic":
        per_example = 0.5 * ((a - Y) ** 2).sum(dim=0)
    elif net.cost == "cross_entropy":
        per_example = -(Y * torch.log(a) + (1 - Y) * torch.log(1 - a)).sum(dim=0)
    else:
        per_example = -(Y * torch.log(a)).sum(dim=0)
    cost = per_example.mean() + net.weight_decay / 2 * sum((W ** 2).sum() for W in Ws)
    cost.backward()
    return float(cost.detach()), [W.grad.numpy() for W in Ws], [b.grad.numpy() for b in bs], a.detach().numpy()


def random_problem(hidden: str, output: str, cost: str, seed: int, decay: float = 0.0):
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 5, 3]
    net = Network(sizes, hidden, output, cost, weight_decay=decay)
    net.init_weights("xavier", seed)
    for l in range(1, net.L + 1):
        net.b[l] = rng.normal(0, 0.5, net.b[l].shape)
    x = rng.normal(size=(3, 7))
    if cost == "log_likelihood":
        y = np.eye(3)[:, rng.integers(0, 3, 7)]
    elif cost == "cross_entropy":
        y = rng.integers(0, 2, (3, 7)).astype(float)
    else:
        y = rng.normal(size=(3, 7)) if output == "linear" else rng.uniform(size=(3, 7))
    return net, x, y


# ---------------------------------------------------------------------- torch.autograd agreement
@pytest.mark.parametrize("hidden", list(HIDDEN))
@pytest.mark.parametrize("output,cost", OUTPUTS_AND_COSTS)
def test_backprop_matches_torch_autograd(hidden, output, cost):
    for seed, decay in ((0, 0.0), (1, 0.05)):
        net, x, y = random_problem(hidden, output, cost, seed, decay)
        p = net.backprop(x, y, learning_rate=0.1)
        ref_cost, ref_dW, ref_db, ref_a = torch_reference(net, x, y)
        assert abs(p.cost - ref_cost) <= 1e-10
        np.testing.assert_allclose(p.a[net.L], ref_a, rtol=0, atol=1e-12)
        for l in range(1, net.L + 1):
            np.testing.assert_allclose(p.dW[l], ref_dW[l - 1], rtol=0, atol=1e-10)
            np.testing.assert_allclose(p.db[l], ref_db[l - 1], rtol=0, atol=1e-10)
            np.testing.assert_allclose(p.dW_step[l], -0.1 * ref_dW[l - 1], rtol=0, atol=1e-11)


def test_every_incompatible_pair_is_refused_with_a_reason():
    for (output, cost), reason in INCOMPATIBLE.items():
        with pytest.raises(ValueError, match=reason[:20]):
            Network([2, 1], "tanh", output, cost)


def test_numerical_gradient_check_agrees_on_smooth_networks():
    for hidden in ("sigmoid", "tanh", "gelu"):
        net, x, y = random_problem(hidden, "softmax", "log_likelihood", seed=3, decay=0.01)
        checks = gradient_check(net, x, y)
        assert all(c.agrees for c in checks), [c.max_relative_error for c in checks]
        assert max(c.max_abs_difference for c in checks) < 1e-8


def test_gradient_check_catches_a_wrong_gradient(monkeypatch):
    net, x, y = random_problem("tanh", "sigmoid", "quadratic", seed=4)
    monkeypatch.setitem(HIDDEN, "tanh", HIDDEN["tanh"].__class__(
        "tanh", "tanh", np.tanh, lambda z: 1.0 - np.tanh(z), r"\tanh", ""))  # a plausible but wrong f′
    assert not all(c.agrees for c in gradient_check(net, x, y))


# ---------------------------------------------------------------------- the course exercise
def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_course_exercise_numbers_by_hand_and_by_torch():
    """w¹ = [[1,2],[3,4],[5,6]], w² = [7,8,9], sigmoid, C = ½(y − a)², η = 0.01, zero biases."""
    stepper, notes = Stepper.from_config(Config().with_preset("exercise"))
    assert notes == []
    net = stepper.net
    np.testing.assert_array_equal(net.W[1], [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(net.W[2], [[7, 8, 9]])
    assert stepper.learning_rate == 0.01 and net.cost == "quadratic"
    x1, x2 = EXERCISE_X
    y = EXERCISE_Y
    # plain formulas, one neuron at a time
    z1 = [w[0] * x1 + w[1] * x2 for w in EXERCISE_W1]
    a1 = [_sigmoid(v) for v in z1]
    z2 = sum(w * a for w, a in zip(EXERCISE_W2[0], a1))
    a2 = _sigmoid(z2)
    delta2 = (a2 - y) * a2 * (1 - a2)
    delta1 = [EXERCISE_W2[0][j] * delta2 * a1[j] * (1 - a1[j]) for j in range(3)]
    dW2 = [delta2 * a for a in a1]
    dW1 = [[delta1[j] * x1, delta1[j] * x2] for j in range(3)]
    assert z1 == [1.0, 3.0, 5.0]  # x = (1, 0) picks w¹'s first column

    p = stepper.whole_step()
    np.testing.assert_allclose(p.z[1][:, 0], z1, rtol=1e-15)
    np.testing.assert_allclose(p.a[1][:, 0], a1, rtol=1e-15)
    assert p.z[2][0, 0] == pytest.approx(z2, rel=1e-15)
    assert p.a[2][0, 0] == pytest.approx(a2, rel=1e-15)
    assert p.delta[2][0, 0] == pytest.approx(delta2, rel=1e-12)
    np.testing.assert_allclose(p.delta[1][:, 0], delta1, rtol=1e-12)
    np.testing.assert_allclose(p.dW[2][0], dW2, rtol=1e-12)
    np.testing.assert_allclose(p.dW[1], dW1, rtol=1e-12)
    np.testing.assert_allclose(p.dW_step[2][0], [-0.01 * g for g in dW2], rtol=1e-12)
    np.testing.assert_allclose(stepper.net.W[2][0], [w - 0.01 * g for w, g in zip(EXERCISE_W2[0], dW2)], rtol=1e-15)
    # the same numbers from torch.autograd
    ref_cost, ref_dW, _, _ = torch_reference(net, np.array([[x1], [x2]]), np.array([[y]]))
    assert p.cost == pytest.approx(ref_cost, abs=1e-12)
    np.testing.assert_allclose(p.dW[1], ref_dW[0], atol=1e-18)
    np.testing.assert_allclose(p.dW[2], ref_dW[1], atol=1e-18)
    # the point of the exercise: a saturated output learns slowly despite a large error
    assert p.cost > 0.49 and abs(p.dW[2]).max() < 1e-9


# ---------------------------------------------------------------------- hand-weight truth tables
@pytest.mark.parametrize("name,truth", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("xnor", [1, 0, 0, 1])])
def test_hand_weight_presets_compute_their_truth_tables(name, truth):
    stepper, notes = Stepper.from_config(Config().with_preset(name))
    assert notes == []
    a = stepper.net.predict(stepper.x_train)
    assert list(predicted_class(a)) == truth
    assert np.all(np.abs(a[0] - np.array(truth)) < 1e-4)  # confidently, as σ(±10) is
    assert stepper.history.train_accuracy[-1] == 1.0


def test_and_neuron_has_the_course_weights():
    net, _ = Stepper.from_config(Config().with_preset("and"))
    np.testing.assert_array_equal(net.net.W[1], [[20, 20]])
    np.testing.assert_array_equal(net.net.b[1], [[-30]])


def test_xor_preset_learns_xor_from_random_weights():
    stepper, _ = Stepper.from_config(Config().with_preset("xor_learn"))
    stepper.run(400)
    assert list(predicted_class(stepper.net.predict(stepper.x_train))) == [0, 1, 1, 0]
    assert stepper.history.train_cost[-1] < 0.1 < stepper.history.train_cost[0]


# ---------------------------------------------------------------------- initialisation
def test_zero_initialisation_keeps_hidden_units_identical():
    config = Config(hidden_layers=(4, 3), activation="sigmoid", init="zeros", dataset="circles", learning_rate=1.0)
    stepper, _ = Stepper.from_config(config)
    stepper.run(50)
    net = stepper.net
    assert stepper.history.train_cost[-1] < stepper.history.train_cost[0]  # it did train...
    assert np.abs(net.W[2]).max() > 0  # ...and the weights moved
    for l in (1, 2):  # ...yet every hidden neuron of a layer is still the same neuron
        # (up to the last bits: BLAS may sum the rows of one matrix product in different orders)
        np.testing.assert_allclose(net.W[l], np.repeat(net.W[l][:1], net.sizes[l], axis=0), rtol=1e-12, atol=0)
        np.testing.assert_allclose(net.b[l], np.repeat(net.b[l][:1], net.sizes[l], axis=0), rtol=1e-12, atol=0)
    assert any("symmetry" in note for note in diagnose(stepper))


def test_random_initialisations_break_symmetry_and_follow_their_scales():
    sizes = [200, 300, 1]
    for method in ("small_normal", "xavier", "he"):
        net = Network(sizes)
        net.init_weights(method, seed=0, epsilon=0.01)
        assert len(np.unique(net.W[1][:, 0])) == sizes[1]
        assert np.all(net.b[1] == 0)
    std = {m: Network(sizes) for m in INITIALISATIONS}
    for m, net in std.items():
        net.init_weights(m, seed=0, epsilon=0.01)
    assert np.std(std["small_normal"].W[1]) == pytest.approx(0.01, rel=0.05)
    assert np.std(std["he"].W[1]) == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert np.abs(std["xavier"].W[1]).max() <= np.sqrt(6 / 500)
    assert np.std(std["xavier"].W[1]) == pytest.approx(np.sqrt(2 / 500), rel=0.05)


# ---------------------------------------------------------------------- the stepper
def test_layer_by_layer_equals_the_whole_step_and_enforces_the_order():
    config = Config(hidden_layers=(5, 4), activation="relu", dataset="gaussians", batch="mini", batch_size=8)
    by_layer, _ = Stepper.from_config(config)
    whole, _ = Stepper.from_config(config)
    with pytest.raises(StepError, match="forward pass first"):
        by_layer.backward_one_layer()
    with pytest.raises(StepError):
        by_layer.apply_update()
    assert [by_layer.forward_one_layer() for _ in range(3)] == [1, 2, 3]
    assert by_layer.phase == "forward" and not by_layer.can_forward()
    with pytest.raises(StepError, match="go backward"):
        by_layer.forward_one_layer()
    assert by_layer.current.delta[3] is None
    assert [by_layer.backward_one_layer() for _ in range(3)] == [3, 2, 1]
    assert by_layer.can_update() and by_layer.net.W[1] is by_layer.current.W[1]  # not applied yet
    by_layer.apply_update()
    whole.whole_step()
    assert by_layer.step == whole.step == 1
    np.testing.assert_array_equal(by_layer.batch_indices, whole.batch_indices)
    for l in range(1, 4):
        np.testing.assert_array_equal(by_layer.net.W[l], whole.net.W[l])
    assert by_layer.epoch == pytest.approx(8 / 200)


def test_whole_step_finishes_a_half_done_step_and_reset_restores_the_start():
    stepper, _ = Stepper.from_config(Config(hidden_layers=(3,), dataset="xor"))
    W0 = stepper.net.W[1].copy()
    stepper.forward_one_layer()
    p = stepper.whole_step()
    assert p.applied and stepper.phase == "ready" and stepper.step == 1
    np.testing.assert_allclose(stepper.net.W[1], W0 + p.dW_step[1])
    stepper.run(5)
    assert stepper.step == 6 and len(stepper.history.step) == 7
    stepper.reset()
    assert stepper.step == 0 and stepper.current is None
    np.testing.assert_array_equal(stepper.net.W[1], W0)


def test_sgd_visits_every_example_once_per_epoch():
    stepper, _ = Stepper.from_config(Config(dataset="and", batch="sgd", hidden_layers=()))
    seen = []
    for _ in range(8):
        stepper.whole_step()
        seen.append(int(stepper.batch_indices[0]))
    assert sorted(seen[:4]) == [0, 1, 2, 3] and sorted(seen[4:]) == [0, 1, 2, 3]
    assert stepper.epoch == 2


def test_learning_rate_change_applies_to_the_next_step():
    stepper, _ = Stepper.from_config(Config(dataset="xor", hidden_layers=(2,)))
    stepper.set_training(0.05, 0.0, "full", 16)
    assert stepper.whole_step().learning_rate == 0.05


def test_a_diverging_network_is_explained_in_words():
    stepper, _ = Stepper.from_config(Config(hidden_layers=(8, 8), activation="relu", output="linear",
                                            cost="quadratic", dataset="circles", learning_rate=50.0))
    stepper.run(100)
    assert stepper.diverged_at is not None and stepper.step < 100
    notes = diagnose(stepper)
    assert len(notes) == 1 and "diverged" in notes[0] and "learning rate η = 50" in notes[0]


def test_a_healthy_network_gets_no_warnings():
    stepper, _ = Stepper.from_config(Config().with_preset("xor_learn"))
    stepper.run(400)
    assert diagnose(stepper) == []


# ---------------------------------------------------------------------- data
def test_toy_datasets_are_seeded_and_targets_fit_the_output_layer():
    for name in DATASETS:
        a, b = make_dataset(name, seed=3), make_dataset(name, seed=3)
        np.testing.assert_array_equal(a.X, b.X)
        assert a.X.shape[1] == 2 and set(np.unique(a.labels)) == set(range(a.n_classes))
    blobs = make_dataset("blobs")
    assert targets(blobs.labels, 3, "softmax").shape == (3, 200)
    assert targets(np.array([0, 1, 1]), 2, "sigmoid").tolist() == [[0.0, 1.0, 1.0]]
    assert targets(np.array([0, 1]), 2, "softmax").tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_csv_parsing_accepts_common_shapes_and_explains_errors():
    d = parse_csv(b"x1,x2,label\n0,0,no\n1,1,yes\n0.5,0.2,yes\n")
    assert d.labels.tolist() == [0, 1, 1] and d.n_classes == 2
    d = parse_csv("class;a;b\n2;0.1;0.2\n5;0.3;0.4\n")  # label named, not last; ';' separated
    assert d.labels.tolist() == [0, 1] and d.X.tolist() == [[0.1, 0.2], [0.3, 0.4]]
    d = parse_csv("\n".join(f"{i},{-i},{i % 2}" for i in range(50)))  # no header: a test split is held out
    assert len(d.X) == 40 and len(d.X_test) == 10
    for text, message in [("", "empty"), ("x1,x2,x3,label\n1,2,3,0\n", "exactly two input columns"),
                          ("x1,x2,label\n1,abc,0\n2,3,1\n", "Row 1: column 'x2' must be a number"),
                          ("x1,x2,label\n1,2,0\n3,4,0\n", "same class"),
                          ("x1,x2,label\n1,2,\n3,4,1\n", "Row 1: the label is missing")]:
        with pytest.raises(ValueError, match=message):
            parse_csv(text)


def test_edited_points_are_validated():
    table = make_dataset("xor").table()
    table.loc[len(table)] = [0.5, 0.5, 1]
    d = dataset_from_table(table)
    assert len(d.X) == 5 and d.labels[-1] == 1
    bad = table.astype(object)  # what a table edited as text holds
    bad.loc[1, "x1"] = "left"
    with pytest.raises(ValueError, match="Point 2: 'x1' must be a number"):
        dataset_from_table(bad)
    bad = table.astype(float)
    bad.loc[0, "label"] = 0.5
    with pytest.raises(ValueError, match="whole numbers"):
        dataset_from_table(bad)


# ---------------------------------------------------------------------- the URL
def test_config_round_trips_through_the_url_and_bad_values_warn():
    config = Config(hidden_layers=(16, 8, 4), activation="gelu", output="softmax", cost="log_likelihood",
                    learning_rate=0.003, batch="mini", batch_size=32, weight_decay=1e-4, init="he", seed=42,
                    dataset="blobs")
    back, warnings = Config.from_query(config.to_query())
    assert back == config and warnings == []
    back, warnings = Config.from_query({"layers": "4,99", "lr": "fast", "act": "swish", "seed": "7",
                                        "out": "linear", "cost": "cross_entropy", "zzz": "ignored"})
    assert back.hidden_layers == Config().hidden_layers and back.learning_rate == Config().learning_rate
    assert back.activation == Config().activation and back.seed == 7
    assert (back.output, back.cost) == (Config().output, Config().cost)
    assert len(warnings) == 4 and any("1 to 16 neurons" in w for w in warnings)
    assert Config.from_query({"layers": "none"})[0].hidden_layers == ()
    assert Config.from_query({"layers": "1,2,3,4,5,6,7"})[1]  # at most 6 hidden layers


# ---------------------------------------------------------------------- export
def test_json_export_round_trips_and_rejects_foreign_files():
    net, x, y = random_problem("gelu", "softmax", "log_likelihood", seed=5, decay=0.01)
    back = from_json(to_json(net, {"lr": "0.1"}))
    for l in range(1, net.L + 1):
        np.testing.assert_array_equal(back.W[l], net.W[l])
        np.testing.assert_array_equal(back.b[l], net.b[l])
    assert (back.hidden, back.output, back.cost, back.weight_decay) == ("gelu", "softmax", "log_likelihood", 0.01)
    for text in ("not json", '{"format": "other"}', '{"format": "treerisk-backprop-network", "sizes": [2, 1]}'):
        with pytest.raises(ValueError):
            from_json(text)


@pytest.mark.parametrize("hidden,output,cost", [("leaky_relu", "sigmoid", "cross_entropy"),
                                                ("gelu", "softmax", "log_likelihood"),
                                                ("tanh", "linear", "quadratic")])
def test_pytorch_code_builds_the_same_network(hidden, output, cost):
    net, x, y = random_problem(hidden, output, cost, seed=6, decay=0.02)
    namespace: dict = {}
    exec(compile(pytorch_code(net, 0.1), "<exported>", "exec"), namespace)  # our own generated code
    model, torch_cost = namespace["model"], namespace["cost"]
    X = torch.tensor(x.T)  # PyTorch: examples in rows
    a = model(X)
    np.testing.assert_allclose(a.detach().numpy().T, net.predict(x), atol=1e-12)
    c = torch_cost(a, torch.tensor(y.T))
    c.backward()
    p = net.backprop(x, y)
    assert float(c.detach()) == pytest.approx(p.cost, abs=1e-10)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), p.dW[1], atol=1e-10)


# ---------------------------------------------------------------------- formulas
def test_formulas_plug_in_the_pass_numbers():
    stepper, _ = Stepper.from_config(Config().with_preset("exercise"))
    stepper.forward_one_layer()
    rows = dict(neuron_rows(stepper.net, stepper.current, 1, 2))
    assert rows["Weighted input"].endswith("= 5")  # z³ = 5·1 + 6·0 + 0
    assert r"5 \cdot 1 + 6 \cdot 0 + 0" in rows["Weighted input"]
    assert r"\sigma(5) = 0.9933" in rows["Activation"]
    assert "backward pass" in rows["Error δ"]
    stepper.forward_one_layer()
    stepper.backward_one_layer()
    rows = dict(weight_rows(stepper.net, stepper.current, 2, 0, 1))
    assert num(stepper.current.dW[2][0, 1]) in rows["Gradient"]
    assert num(stepper.current.dW_step[2][0, 1]) in rows["Update"]
    assert num(0.99999999961) == "0.99999999961"  # a saturated σ must not print as 1
    assert num(-3.85e-10) == r"-3.850 \times 10^{-10}"


def test_all_combinations_produce_formulas_without_errors():
    for hidden, (output, cost) in itertools.product(("relu", "tanh"), OUTPUTS_AND_COSTS):
        net, x, y = random_problem(hidden, output, cost, seed=7)
        p = net.backprop(x, y, 0.1)
        for l in range(net.L + 1):
            assert neuron_rows(net, p, l, 0, 2)
        for l in range(1, net.L + 1):
            assert len(weight_rows(net, p, l, 0, 0)) == 3


def test_presets_are_consistent():
    for name, preset in PRESETS.items():
        stepper, notes = Stepper.from_config(Config().with_preset(name))
        assert notes == [], name
        assert stepper.net.sizes == preset.sizes


# ---------------------------------------------------------------------- figures
def test_figures_are_valid_and_identical_to_what_plotly_validation_would_make(monkeypatch):
    """The page skips plotly's validation for speed. Every figure must pass validation, and the
    unvalidated figure must send plotly.js exactly the same JSON (no shorthand like title="…" or
    line_width that only validation would have expanded)."""
    import json

    import plotly.io as pio

    from lightning_module.backprop import plots
    from lightning_module.backprop.expression import backward, parse_expression

    stepper, _ = Stepper.from_config(Config(hidden_layers=(3, 2), dataset="blobs", output="softmax",
                                            cost="log_likelihood"))
    stepper.forward_one_layer()
    graph = parse_expression("f = tanh(x * y) + x ** 2", {"x": 1.0, "y": 2.0})
    backward(graph, 2)
    builders = {
        "network, forward": lambda: plots.network_figure(stepper.net, stepper.current, "forward", 1,
                                                         ("weight", 1, 0, 1)),
        "network, neuron picked": lambda: plots.network_figure(stepper.net, stepper.current, "update", 0,
                                                               ("neuron", 2, 1)),
        "boundary": lambda: plots.decision_boundary_figure(stepper.net, stepper.data, highlight=np.arange(5)),
        "neuron maps": lambda: plots.neuron_maps_figure(stepper.net, stepper.data),
        "loss": lambda: plots.loss_figure(stepper.history),
        "graph": lambda: plots.expression_figure(graph, 2),
    }
    for name, build in builders.items():
        monkeypatch.setattr(plots, "VALIDATE", True)
        validated = json.loads(pio.to_json(build()))
        monkeypatch.setattr(plots, "VALIDATE", False)
        raw = json.loads(pio.to_json(build()))
        for fig in (validated, raw):
            fig["layout"].pop("template", None)
        assert raw == validated, name
    assert len(plots.neuron_maps_figure(stepper.net, stepper.data).data) == 3 + 2 + 3
