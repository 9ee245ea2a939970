"""The backprop page, driven headless with AppTest: the controls change the shown numbers as they should."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "backprop.py")


def open_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, key: str, times: int = 1) -> AppTest:
    for _ in range(times):
        at.button(key=key).click().run()
        assert not at.exception, at.exception
    return at


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page that has this column."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a '{column}' column; tables: {[list(f.value.columns) for f in at.dataframe]}")


def shown(at: AppTest, column: str) -> str:
    """A value of the inspector's table, as displayed."""
    frame = table_with(at, column)
    return str(frame[column].iloc[0])


def status(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "train cost" in m.value)


def step_number(at: AppTest) -> int:
    return int(re.search(r"step \*\*(\d+)\*\*", status(at)).group(1))


def inspect_neuron(at: AppTest, layer: int, j: int = 0, example: int | None = None) -> None:
    at.radio(key="bp_pick_kind").set_value("neuron").run()
    at.selectbox(key="bp_pick_layer").set_value(layer).run()
    at.selectbox(key="bp_pick_j").set_value(j).run()
    if example is not None:
        at.number_input(key="bp_pick_example").set_value(example).run()
    assert not at.exception, at.exception


def inspect_weight(at: AppTest, layer: int, j: int, k: int) -> None:
    at.radio(key="bp_pick_kind").set_value("weight").run()
    at.selectbox(key="bp_pick_layer").set_value(layer).run()
    at.selectbox(key="bp_pick_j").set_value(j).run()
    at.selectbox(key="bp_pick_k").set_value(k).run()
    assert not at.exception, at.exception


def test_page_opens_on_defaults_and_puts_the_configuration_in_the_url():
    at = open_page()
    assert at.title[0].value == "Backprop, step by step"
    assert step_number(at) == 0
    assert at.query_params["layers"] == ["4,4"] or at.query_params["layers"] == "4,4"
    assert set(at.query_params) >= {"layers", "act", "out", "cost", "lr", "batch", "l2", "init", "seed", "data"}
    assert at.button(key="bp_backward").disabled and at.button(key="bp_update").disabled
    assert not at.button(key="bp_forward").disabled


def test_forward_one_layer_shows_the_engines_activations():
    at = open_page({"data": "xor", "layers": "3"})
    inspect_neuron(at, layer=1, j=1, example=4)  # example 4 is x = (1, 1)
    assert shown(at, "a") == "—" and shown(at, "z") == "—"
    click(at, "bp_forward")
    s = at.session_state["bp_stepper"]
    assert s.phase == "forward" and s.layer == 1
    assert float(shown(at, "z")) == pytest.approx(s.current.z[1][1, 3], rel=1e-5)
    assert float(shown(at, "a")) == pytest.approx(np.tanh(s.current.z[1][1, 3]), rel=1e-5)
    assert shown(at, "δ") == "—"  # not before the backward pass
    assert any("Forward pass: layer 1 computed" in m.value for m in at.markdown)
    latex = " ".join(l.value for l in at.latex)
    assert r"\tanh(" in latex and f"{s.current.a[1][1, 3]:.4g}" in latex
    click(at, "bp_forward")  # the output layer
    assert at.button(key="bp_forward").disabled and not at.button(key="bp_backward").disabled


def test_backward_then_apply_update_moves_the_weight_by_delta_w():
    at = open_page({"data": "xor", "layers": "3", "lr": "0.5"})
    inspect_weight(at, layer=1, j=2, k=1)
    click(at, "bp_forward", 2)
    assert shown(at, "∂C/∂w") == "—"
    click(at, "bp_backward")  # δ² first: the selected weight is in layer 1, not known yet
    assert shown(at, "Δw") == "—"
    click(at, "bp_backward")
    s = at.session_state["bp_stepper"]
    grad, step = s.current.dW[1][2, 1], s.current.dW_step[1][2, 1]
    assert float(shown(at, "∂C/∂w")) == pytest.approx(grad, rel=1e-5)
    assert float(shown(at, "Δw")) == pytest.approx(-0.5 * grad, rel=1e-5)
    w_before = float(shown(at, "w¹₃₂ now"))
    assert w_before == pytest.approx(s.net.W[1][2, 1], rel=1e-5)
    assert not at.button(key="bp_update").disabled
    click(at, "bp_update")
    w_after = float(shown(at, "w¹₃₂ now"))
    assert w_after == pytest.approx(w_before + step, abs=2e-6)
    assert float(shown(at, "w before the update")) == pytest.approx(w_before, rel=1e-6)
    assert at.session_state["bp_stepper"].net.W[1][2, 1] == pytest.approx(w_before + step, abs=1e-6)
    assert step_number(at) == 1
    assert any(r"\Delta w^{1}_{32}" in l.value for l in at.latex)


def test_whole_step_play_pause_and_reset():
    at = open_page({"data": "circles", "layers": "4", "lr": "0.5"})
    click(at, "bp_step")
    assert step_number(at) == 1
    at.slider(key="bp_steps_per_tick").set_value(3).run()
    click(at, "bp_play")  # playing: every run of the live fragment trains a few steps
    assert at.session_state["bp_playing"] and at.button(key="bp_step").disabled
    first = step_number(at)
    at.run()
    assert step_number(at) == first + 3
    click(at, "bp_play")  # pause
    paused = step_number(at)
    at.run()
    assert step_number(at) == paused and not at.session_state["bp_playing"]
    click(at, "bp_reset")
    assert step_number(at) == 0 and at.session_state["bp_stepper"].current is None


def test_xnor_preset_shows_its_hand_weights_and_truth_table():
    at = open_page()
    at.selectbox(key="bp_preset").set_value("xnor").run()
    assert not at.exception
    assert at.text_input(key="bp_layers").value == "2" and at.selectbox(key="bp_data").value == "xnor"
    truth = table_with(at, "predicted")
    assert truth["predicted"].tolist() == [1, 0, 0, 1]
    assert set(truth["correct"]) == {"✓"}
    inspect_weight(at, layer=1, j=0, k=0)
    assert float(shown(at, "w¹₁₁ now")) == 20.0
    assert at.query_params["preset"] in ("xnor", ["xnor"])


def test_course_exercise_preset_shows_its_numbers():
    at = open_page({"preset": "exercise", "layers": "3", "act": "sigmoid", "out": "sigmoid", "cost": "quadratic",
                    "lr": "0.01", "data": "exercise", "batch": "sgd"})
    inspect_neuron(at, layer=1, j=2)
    click(at, "bp_forward")
    assert shown(at, "z") == "5"  # z³ = 5·1 + 6·0
    latex = " ".join(l.value for l in at.latex)
    assert r"5 \cdot 1 + 6 \cdot 0 + 0" in latex and r"\sigma(5) = 0.9933" in latex
    assert any("confident, wrong" in w.value for w in at.warning)  # the quadratic cost's slow-down, in words


def test_a_link_reproduces_the_configuration_and_bad_values_only_warn():
    at = open_page({"layers": "6,5", "act": "relu", "out": "softmax", "cost": "log_likelihood", "lr": "abc",
                    "seed": "-3", "data": "blobs", "init": "he"})
    s = at.session_state["bp_stepper"]
    assert s.net.sizes == [2, 6, 5, 3] and s.net.hidden == "relu" and s.net.output == "softmax"
    assert s.learning_rate == 0.3  # the default, not a crash
    warnings = " ".join(w.value for w in at.warning)
    assert "lr='abc'" in warnings and "seed='-3'" in warnings


def test_an_impossible_output_and_cost_pair_is_switched_with_a_reason():
    at = open_page()
    at.selectbox(key="bp_out").set_value("linear").run()
    assert not at.exception
    assert at.selectbox(key="bp_cost").value == "quadratic"
    assert any("needs outputs between 0" in i.value for i in at.info)


def test_bad_hidden_layers_keep_the_last_good_network():
    at = open_page({"layers": "3"})
    at.text_input(key="bp_layers").set_value("3,40").run()
    assert not at.exception
    assert any("1 to 16 neurons" in e.value for e in at.sidebar.error)
    assert at.session_state["bp_stepper"].net.sizes == [2, 3, 1]


def test_a_diverging_network_is_explained_in_words():
    at = open_page({"layers": "8,8", "act": "relu", "out": "linear", "cost": "quadratic", "lr": "60",
                    "data": "circles"})
    at.slider(key="bp_steps_per_tick").set_value(50).run()
    click(at, "bp_play")
    at.run()
    s = at.session_state["bp_stepper"]
    assert s.diverged_at is not None and not at.session_state["bp_playing"]  # play stops by itself
    assert any("diverged" in w.value and "too large" in w.value for w in at.warning)


def test_zero_initialisation_is_explained_as_the_symmetry_problem():
    at = open_page({"layers": "4", "act": "sigmoid", "init": "zeros", "data": "circles", "lr": "1"})
    click(at, "bp_step", 3)
    assert any("symmetry problem" in w.value for w in at.warning)


@pytest.mark.parametrize("view,expect", [
    ("Neuron maps", None), ("Loss", None), ("Gradient check", "agree"), ("Arrays", None),
    ("Data", None), ("Export", "nn.Sequential"),
])
def test_every_view_renders(view, expect):
    at = open_page({"data": "gaussians", "layers": "3"})
    click(at, "bp_step")
    at.segmented_control(key="bp_view").set_value(view).run()
    assert not at.exception, at.exception
    if view == "Gradient check":
        assert set(table_with(at, "agree")["agree"]) == {"✓"}
    if view == "Export":
        assert any("nn.Sequential" in c.value for c in at.code)
        assert len(at.get("download_button")) == 2


def test_csv_upload_trains_on_the_file_and_a_bad_file_is_explained():
    at = open_page({"data": "csv"})
    assert any("Upload a CSV" in i.value for i in at.info)
    at.file_uploader(key="bp_csv_file").set_value(("bad.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert any("bad.csv" in e.value and "two input columns" in e.value for e in at.sidebar.error)
    rows = "\n".join(f"{i / 10},{(i % 7) / 7},{int(i % 2)}" for i in range(30))
    at.file_uploader(key="bp_csv_file").set_value(("points.csv", ("x1,x2,label\n" + rows).encode(), "text/csv")).run()
    assert not at.exception
    s = at.session_state["bp_stepper"]
    assert len(s.data.X) == 24 and len(s.data.X_test) == 6


def test_graph_mode_steps_the_notes_example_node_by_node():
    at = open_page({"mode": "graph", "expr": "f = (x + y) * z", "vals": "x = -2, y = 5, z = -4"})

    def grad_of(name: str):
        table = table_with(at, "node")
        shown = table.set_index("node").iloc[:, -1][name]
        return None if shown.startswith("?") else float(shown)

    assert grad_of("x") is None and grad_of("f") == 1
    click(at, "bp_g_one")
    assert grad_of("q") == -4 and grad_of("z") == 3 and grad_of("x") is None
    click(at, "bp_g_one")
    assert grad_of("x") == -4 and grad_of("y") == -4
    assert at.button(key="bp_g_one").disabled
    click(at, "bp_g_reset")
    assert grad_of("z") is None
    at.text_input(key="bp_expr").set_value("f = __import__('os')").run()
    assert not at.exception
    assert "Unknown function" in at.error[0].value


def test_points_can_be_added_and_removed_and_switching_data_keeps_them():
    at = open_page({"data": "xor", "layers": "3"})
    at.segmented_control(key="bp_view").set_value("Data").run()
    at.number_input(key="bp_add_x1").set_value(0.5).run()
    at.number_input(key="bp_add_x2").set_value(0.5).run()
    at.number_input(key="bp_add_label").set_value(1).run()
    click(at, "bp_add")
    s = at.session_state["bp_stepper"]
    assert len(s.data.X) == 5 and s.data.X[-1].tolist() == [0.5, 0.5] and s.step == 0
    at.number_input(key="bp_remove_n").set_value(1).run()
    click(at, "bp_remove")  # the point (0, 0) goes
    assert at.session_state["bp_stepper"].data.X.tolist() == [[0, 1], [1, 0], [1, 1], [0.5, 0.5]]
    at.number_input(key="bp_add_label").set_value(2).run()
    click(at, "bp_add")  # a third class: the output layer grows to one neuron per class
    assert at.session_state["bp_stepper"].net.sizes == [2, 3, 3]
    at.selectbox(key="bp_data").set_value("and").run()
    assert len(at.session_state["bp_stepper"].data.X) == 4
    at.selectbox(key="bp_data").set_value("xor").run()  # back: the edited points are still there
    assert len(at.session_state["bp_stepper"].data.X) == 5
    at.segmented_control(key="bp_view").set_value("Data").run()
    click(at, "bp_restore")
    assert len(at.session_state["bp_stepper"].data.X) == 4


def test_weights_saved_as_json_load_back_and_a_mismatch_is_explained():
    from lightning_module.backprop.export import to_json
    from lightning_module.backprop.network import Network

    at = open_page({"data": "xor", "layers": "2"})
    at.segmented_control(key="bp_view").set_value("Export").run()
    hand = Network([2, 2, 1], "tanh", "sigmoid", "cross_entropy")
    hand.set_weights([[[1, 2], [3, 4]], [[5, 6]]], [[0.5, -0.5], [0.25]])
    at.file_uploader(key="bp_json_file").set_value(("mine.json", to_json(hand).encode(), "application/json")).run()
    assert not at.exception
    assert any("Loaded the weights of mine.json" in m.value for m in at.success)
    s = at.session_state["bp_stepper"]
    assert s.net.W[2].tolist() == [[5, 6]] and s.step == 0
    click(at, "bp_step")
    click(at, "bp_reset")  # Reset returns to the loaded weights
    assert at.session_state["bp_stepper"].net.W[1].tolist() == [[1, 2], [3, 4]]
    wrong = Network([2, 5, 1])
    at.file_uploader(key="bp_json_file").set_value(("other.json", to_json(wrong).encode(), "application/json")).run()
    assert any("2-5-1" in e.value and "2-2-1" in e.value for e in at.error)
    assert at.session_state["bp_stepper"].net.W[1].tolist() == [[1, 2], [3, 4]]  # nothing lost


def test_hidden_controls_keep_their_values_across_modes():
    at = open_page({"batch": "mini", "bs": "8", "init": "small_normal", "eps": "0.05", "layers": "5"})
    at.radio(key="bp_mode").set_value("graph").run()
    assert not at.exception and at.button(key="bp_g_one")
    at.radio(key="bp_mode").set_value("network").run()
    at.radio(key="bp_batch").set_value("full").run()
    at.selectbox(key="bp_init").set_value("he").run()
    at.radio(key="bp_batch").set_value("mini").run()
    at.selectbox(key="bp_init").set_value("small_normal").run()
    assert not at.exception
    assert at.number_input(key="bp_bs").value == 8 and at.number_input(key="bp_eps").value == 0.05
    assert at.text_input(key="bp_layers").value == "5"
    assert at.query_params["bs"] in ("8", ["8"])
