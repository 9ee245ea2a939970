"""Backprop, step by step: watch a small dense network learn, every number in its formula.

All maths lives in lightning_module.backprop; this page holds the controls and the layout. The
configuration lives in the URL (a link reproduces it), the training state in st.session_state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from lightning_module.backprop import formulas, plots
from lightning_module.backprop.activations import HIDDEN, OUTPUTS
from lightning_module.backprop.config import (BATCH_MODES, DATA_CHOICES, MODES, Config, layers_to_text,
                                              parse_layers)
from lightning_module.backprop.costs import COSTS, INCOMPATIBLE
from lightning_module.backprop.datasets import dataset_from_table, parse_csv, predicted_class
from lightning_module.backprop.diagnosis import diagnose
from lightning_module.backprop.export import from_json, pytorch_code, to_json
from lightning_module.backprop.expression import ExpressionError, backward, node_definition, parse_expression, parse_values
from lightning_module.backprop.gradcheck import gradient_check
from lightning_module.backprop.network import INITIALISATIONS
from lightning_module.backprop.presets import PRESETS
from lightning_module.backprop.stepper import StepError, Stepper, load_dataset

# Widget keys of the configuration, by Config field.
FIELDS = {"mode": "bp_mode", "preset": "bp_preset", "hidden_layers": "bp_layers", "activation": "bp_act",
          "output": "bp_out", "cost": "bp_cost", "learning_rate": "bp_lr", "batch": "bp_batch",
          "batch_size": "bp_bs", "weight_decay": "bp_l2", "init": "bp_init", "epsilon": "bp_eps",
          "seed": "bp_seed", "dataset": "bp_data", "expression": "bp_expr", "values": "bp_vals"}
VIEWS = ["Decision boundary", "Neuron maps", "Loss", "Gradient check", "Arrays", "Data", "Export"]
TICK_SECONDS = 0.8  # a slower machine must finish drawing the figures between ticks
state = st.session_state


# ---------------------------------------------------------------------- configuration <-> widgets
def _seed_widgets(config: Config) -> None:
    for name, key in FIELDS.items():
        value = getattr(config, name)
        state[key] = layers_to_text(value) if name == "hidden_layers" else value
    state.bp_values = {key: state[key] for key in FIELDS.values()}


def _restore_widgets() -> None:
    """Streamlit forgets the value of a widget that a run does not draw (the batch size outside
    mini-batch mode, every network control in graph mode); put the last value back before drawing."""
    for key, value in state.bp_values.items():
        if key not in state:
            state[key] = value


def _config_from_widgets() -> tuple[Config, list[str]]:
    errors = []
    state.bp_values = {key: state.get(key, state.bp_values[key]) for key in FIELDS.values()}
    values = {name: state.bp_values[key] for name, key in FIELDS.items()}
    try:
        values["hidden_layers"] = parse_layers(str(values["hidden_layers"]))
        state.bp_last_layers = values["hidden_layers"]
    except ValueError as exc:
        errors.append(f"Hidden layers: {exc} Keeping {layers_to_text(state.bp_last_layers)}.")
        values["hidden_layers"] = state.bp_last_layers
    values["batch_size"] = int(values["batch_size"])
    values["seed"] = int(values["seed"])
    return Config(**values), errors


def _apply_preset() -> None:
    """Choosing a preset is an explicit request: its network, data and η replace the current ones."""
    config, _ = _config_from_widgets()
    _seed_widgets(config.with_preset(state.bp_preset))


def _init_session() -> None:
    if "bp_initialised" in state:
        return
    config, warnings = Config.from_query(st.query_params.to_dict())
    state.bp_last_layers = config.hidden_layers
    _seed_widgets(config)
    state.bp_url_warnings, state.bp_url_config = warnings, config
    state.bp_playing = False
    state.bp_edited = {}  # the user's edited point tables, per data set: switching away loses nothing
    state.bp_initialised = True


def _sidebar() -> Config:
    sb = st.sidebar
    _restore_widgets()
    sb.radio("Mode", list(MODES), key="bp_mode", format_func=MODES.get, horizontal=True)
    if state.bp_mode == "graph":
        config, _ = _config_from_widgets()
        return config
    presets = ["", *PRESETS]
    sb.selectbox("Preset from the course notes", presets, key="bp_preset", on_change=_apply_preset,
                 format_func=lambda p: PRESETS[p].label if p else "none (your own network)")
    sb.selectbox("Data", list(DATA_CHOICES), key="bp_data", format_func=DATA_CHOICES.get)
    if state.bp_data == "csv":
        upload = sb.file_uploader("CSV with columns x1, x2, label", type=["csv", "txt"], key="bp_csv_file")
        if upload is not None and state.get("bp_csv_id") != upload.file_id:
            try:
                state.bp_csv = parse_csv(upload.getvalue(), seed=int(state.bp_seed))
                state.bp_csv_id = upload.file_id
            except ValueError as exc:
                sb.error(f"{upload.name}: {exc}")
    sb.text_input("Hidden layers (neurons per layer)", key="bp_layers",
                  help="Comma-separated, up to 6 layers of up to 16 neurons, e.g. 8,8. 'none' for no hidden layer.")
    sb.selectbox("Hidden activation", list(HIDDEN), key="bp_act", format_func=lambda k: HIDDEN[k].label)
    sb.selectbox("Output layer", list(OUTPUTS), key="bp_out", format_func=lambda k: OUTPUTS[k].label)
    allowed = [c for c in COSTS if (state.bp_out, c) not in INCOMPATIBLE]
    if state.bp_cost not in allowed:
        sb.info(f"{COSTS[state.bp_cost].label.capitalize()} does not fit a {state.bp_out} output: "
                f"{INCOMPATIBLE[(state.bp_out, state.bp_cost)]} Switched to {COSTS[allowed[0]].label}.")
        state.bp_cost = allowed[0]
    sb.selectbox("Cost", allowed, key="bp_cost", format_func=lambda k: COSTS[k].label)
    sb.number_input("Learning rate η", min_value=1e-6, max_value=100.0, step=0.01, format="%g", key="bp_lr")
    sb.radio("Batch", list(BATCH_MODES), key="bp_batch", format_func=BATCH_MODES.get)
    if state.bp_batch == "mini":
        sb.number_input("Mini-batch size", min_value=1, max_value=5000, step=1, key="bp_bs")
    sb.number_input("L2 weight decay λ", min_value=0.0, max_value=10.0, step=0.001, format="%g", key="bp_l2",
                    help="Adds (λ/2)·Σ‖W‖² to the cost and λW to ∂C/∂W. Biases are not decayed.")
    sb.selectbox("Initialisation", list(INITIALISATIONS), key="bp_init", format_func=INITIALISATIONS.get)
    if state.bp_init == "small_normal":
        sb.number_input("ε (standard deviation)", min_value=1e-6, max_value=10.0, step=0.01, format="%g",
                        key="bp_eps")
    sb.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="bp_seed")
    sb.slider("Steps per tick when playing", 1, 50, key="bp_steps_per_tick", value=5)
    config, errors = _config_from_widgets()
    for e in errors:
        sb.error(e)
    sb.caption("η, λ and the batch mode apply from the next step; any other change starts a new network.")
    return config


def _sync_url(config: Config) -> None:
    wanted = config.to_query()
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


# ---------------------------------------------------------------------- data and stepper
def _dataset(config: Config):
    """The data for this config and an identity for it (so edits start a new network)."""
    if config.dataset == "csv":
        data = state.get("bp_csv")
        return data, ("csv", state.get("bp_csv_id"))
    base = load_dataset(config.dataset, config.seed)
    edited = state.bp_edited.get((config.dataset, config.seed))
    if edited is not None:
        return dataset_from_table(edited, name=base.name, test=base), ("edited", config.dataset, edited.to_json())
    return base, ("builtin", config.dataset, config.seed)


def _stepper(config: Config, data, data_key) -> Stepper:
    key = (config.structure_key(), data_key)
    if state.get("bp_stepper_key") != key:
        stepper, notes = Stepper.from_config(config, data)
        state.bp_stepper, state.bp_stepper_key, state.bp_notes = stepper, key, notes
        state.bp_playing = False
        _default_pick(stepper)
    stepper = state.bp_stepper
    stepper.set_training(config.learning_rate, config.weight_decay, config.batch, config.batch_size)
    return stepper


PICK_DEFAULTS = {"bp_pick_kind": "weight", "bp_pick_layer": -1, "bp_pick_j": 0, "bp_pick_k": 0, "bp_pick_example": 1}


def _default_pick(stepper: Stepper) -> None:
    """Restore the inspector's choices. Streamlit forgets a widget's value on a run that does not draw
    it (k is not drawn while a neuron is inspected), so the last choices are kept aside as well."""
    kept = state.setdefault("bp_pick_kept", {})
    for key, value in PICK_DEFAULTS.items():
        if key not in state:
            state[key] = kept.get(key, stepper.L if value == -1 else value)
    _clamp_pick(stepper)


def _keep_pick() -> None:
    state.bp_pick_kept = {key: state[key] for key in PICK_DEFAULTS if key in state}


def _clamp_pick(stepper: Stepper) -> None:
    sizes, L = stepper.net.sizes, stepper.L
    lo = 1 if state.bp_pick_kind == "weight" else 0
    if not lo <= state.bp_pick_layer <= L:
        state.bp_pick_layer = L
    l = state.bp_pick_layer
    if state.bp_pick_j >= sizes[l]:
        state.bp_pick_j = 0
    if l >= 1 and state.bp_pick_k >= sizes[l - 1]:
        state.bp_pick_k = 0


# ---------------------------------------------------------------------- controls
def _act(action: str) -> None:
    """Button callbacks: run before the rerun, so the page draws the new state at once."""
    s: Stepper = state.bp_stepper
    state.bp_message = None
    try:
        if action == "forward":
            s.forward_one_layer()
        elif action == "backward":
            s.backward_one_layer()
        elif action == "update":
            s.apply_update()
        elif action == "step":
            s.whole_step()
        elif action == "reset":
            s.reset()
            state.bp_playing = False
            state.bp_full_rerun = True
        elif action == "play":
            state.bp_playing = not state.bp_playing
            state.bp_full_rerun = True  # run_every is set when the fragment is created: rerun the app
    except StepError as exc:
        state.bp_message = str(exc)


def _on_chart_pick() -> None:
    """A click on a neuron or a weight in the drawing selects it in the inspector."""
    chart = state.get("bp_net_chart") or {}
    points = (chart.get("selection") or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if data is None or len(data) != 4:
            continue
        kind, l, j, k = (int(v) for v in data)
        state.bp_pick_kind = "weight" if kind == 1 else "neuron"
        state.bp_pick_layer, state.bp_pick_j = l, j
        if kind == 1:
            state.bp_pick_k = k
        return


def _controls(s: Stepper) -> None:
    cols = st.columns(6)
    playing = state.bp_playing
    cols[0].button("Forward →", key="bp_forward", on_click=_act, args=("forward",), width="stretch",
                   disabled=not s.can_forward() or playing, help="Forward one layer: compute z and a of the next layer.")
    cols[1].button("← Backward", key="bp_backward", on_click=_act, args=("backward",), width="stretch",
                   disabled=not s.can_backward() or playing,
                   help="Backward one layer: compute δ, ∂C/∂W and ∂C/∂b of the next layer down.")
    cols[2].button("Apply ΔW", key="bp_update", on_click=_act, args=("update",), width="stretch",
                   disabled=not s.can_update() or playing, help="Apply the update W ← W − η ∂C/∂W to every layer.")
    cols[3].button("Whole step", key="bp_step", on_click=_act, args=("step",), disabled=playing, width="stretch",
                   help="Finish the current step: the rest of the forward pass, the backward pass and the update.")
    cols[4].button("⏸ Pause" if playing else "▶ Play", key="bp_play", on_click=_act, args=("play",),
                   type="primary", width="stretch", disabled=s.diverged_at is not None and not playing,
                   help="Train continuously, a few whole steps per tick.")
    cols[5].button("Reset", key="bp_reset", on_click=_act, args=("reset",), width="stretch",
                   help="Back to the initial weights and step 0.")


def play_tick(s: Stepper, steps: int) -> int:
    """What one timer tick does while playing: a few whole steps, stopping on divergence."""
    done = s.run(steps)
    if s.diverged_at is not None:
        state.bp_playing = False
        state.bp_full_rerun = True
    return done


def _status(s: Stepper) -> None:
    h = s.history
    parts = [f"step **{s.step}**", f"epoch **{s.epoch:.4g}**", f"train cost **{h.train_cost[-1]:.4g}**",
             f"train accuracy **{h.train_accuracy[-1]:.0%}**"]
    if np.isfinite(h.test_cost[-1]):
        parts += [f"test cost **{h.test_cost[-1]:.4g}**", f"test accuracy **{h.test_accuracy[-1]:.0%}**"]
    st.markdown(f"**{s.describe()}**  \n" + " · ".join(parts))


# ---------------------------------------------------------------------- inspector
def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _show(v) -> str:
    return "—" if v is None else f"{float(v):.6g}"


def _inspector(s: Stepper) -> None:
    """Pick a neuron or a weight; its numbers in a table and its formulas with the numbers plugged in."""
    _default_pick(s)
    net, p = s.net, s.current
    sizes, L = net.sizes, net.L
    m = s.batch_size_now
    c0, c1, c2, c3, c4 = st.columns([1.3, 1.2, 1, 1, 1.2])
    c0.radio("Inspect", ["weight", "neuron"], key="bp_pick_kind")
    _clamp_pick(s)
    kind = state.bp_pick_kind
    layers = list(range(1 if kind == "weight" else 0, L + 1))
    name = lambda l: "input" if l == 0 else ("output" if l == L else f"hidden {l}")  # noqa: E731
    c1.selectbox("Layer l", layers, key="bp_pick_layer", format_func=lambda l: f"{l} ({name(l)})")
    l = state.bp_pick_layer
    c2.selectbox("Neuron j" if kind == "neuron" else "To neuron j", list(range(sizes[l])), key="bp_pick_j",
                 format_func=lambda j: str(j + 1))
    if kind == "weight":
        c3.selectbox("From neuron k", list(range(sizes[l - 1])), key="bp_pick_k", format_func=lambda k: str(k + 1))
    i = 0
    if m > 1:
        state.bp_pick_example = min(max(int(state.get("bp_pick_example", 1)), 1), m)
        c4.number_input(f"Example (of {m})", min_value=1, max_value=m, step=1, key="bp_pick_example",
                        help="Which example of the batch z, a and δ are shown for; gradients are batch means.")
        i = int(state.bp_pick_example) - 1
    _keep_pick()
    j = state.bp_pick_j
    if kind == "weight":
        k = state.bp_pick_k
        values = {f"w{_sup(l)}{_sub(j + 1)}{_sub(k + 1)} now": net.W[l][j, k],
                  "∂C/∂w": _entry(p, "dW", l, j, k), "Δw": _entry(p, "dW_step", l, j, k)}
        if p is not None and p.applied:
            values["w before the update"] = p.W[l][j, k]
        rows = formulas.weight_rows(net, p, l, j, k) if p is not None else []
    else:
        values = {"z": _entry(p, "z", l, j, i), "a": _entry(p, "a", l, j, i), "δ": _entry(p, "delta", l, j, i),
                  "∂C/∂b": _entry(p, "db", l, j, 0), "Δb": _entry(p, "db_step", l, j, 0)}
        if l == 0:
            values = {"a = x": values["a"]}
        rows = formulas.neuron_rows(net, p, l, j, i) if p is not None else []
    st.dataframe(pd.DataFrame({k: [_show(v)] for k, v in values.items()}), hide_index=True, key="bp_values")
    if p is None:
        st.info("Press **Forward →** to start a step: the numbers appear here as they are computed.")
    for caption, latex in rows:
        st.caption(caption)
        st.latex(latex)


def _entry(p, what: str, l: int, j: int, col: int):
    """One entry of a pass's array, or None while the pass has not computed it."""
    arr = getattr(p, what)[l] if p is not None else None
    if arr is None:
        return None
    return arr[j, min(col, arr.shape[1] - 1)]


# ---------------------------------------------------------------------- views under the drawing
def _cached(name: str, s: Stepper, extra, build):
    """A figure rebuilt only when the weights (or ``extra``) changed: stepping through one pass,
    or picking another neuron, does not move the weights, so the plane plots need not be redrawn."""
    key = (state.bp_stepper_key, id(s), s.resets, s.step, extra)
    cache = state.setdefault("bp_figure_cache", {})
    if name not in cache or cache[name][0] != key:
        cache[name] = (key, build())
    return cache[name][1]


def _view_boundary(s: Stepper) -> None:
    highlight = s.batch_indices if s.current is not None and not s.current.applied else None
    fig = _cached("boundary", s, None if highlight is None else highlight.tobytes(),
                  lambda: plots.decision_boundary_figure(s.net, s.data, highlight=highlight))
    st.plotly_chart(fig, key="bp_boundary")
    if len(s.data.X) <= 16:  # truth tables and the exercise: show the table the notes show
        with np.errstate(all="ignore"):
            a = s.net.predict(s.x_train)
        table = s.data.table().rename(columns={"label": "target y"})
        table["output a^L"] = a[-1] if a.shape[0] <= 2 else a.max(axis=0)
        table["predicted"] = predicted_class(a)
        table["correct"] = np.where(table["predicted"] == table["target y"], "✓", "✗")
        st.dataframe(table, hide_index=True, key="bp_truth_table")


def _view_gradcheck(s: Stepper) -> None:
    p = s.current
    x, y = (p.x, p.y) if p is not None else (s.x_train, s.y_train)
    if x.shape[1] > 64:  # finite differences need 2 forward passes per parameter: keep it interactive
        x, y = x[:, :64], y[:, :64]
    if s.net.n_parameters() * x.shape[1] > 200_000 and not st.button("Run the gradient check", key="bp_gc_run"):
        st.info("This network is large: press the button to run the check.")
        return
    checks = gradient_check(s.net, x, y)
    st.markdown(f"Two-sided finite differences (C(w + ε) − C(w − ε)) / 2ε with ε = 10⁻⁴ against backprop, "
                f"on {x.shape[1]} example(s) of the current batch, at the current weights.")
    st.dataframe(pd.DataFrame({
        "layer": [c.layer for c in checks],
        "max |backprop − numerical|": [f"{c.max_abs_difference:.2e}" for c in checks],
        "max relative error": [f"{c.max_relative_error:.2e}" for c in checks],
        "agree": ["✓" if c.agrees else "✗ (a kink at z = 0?)" for c in checks],
    }), hide_index=True, key="bp_gc_table")
    if state.bp_pick_kind == "weight":
        l, j, k = state.bp_pick_layer, state.bp_pick_j, state.bp_pick_k
        c = checks[l - 1]
        st.latex(rf"\text{{selected }} w^{{{l}}}_{{{j + 1}{k + 1}}}:\quad "
                 rf"\text{{backprop}}\ {formulas.num(c.analytic_W[j, k], 8)}"
                 rf"\qquad \text{{numerical}}\ {formulas.num(c.numeric_W[j, k], 8)}")


def _numbered(arr: np.ndarray) -> pd.DataFrame:
    """Rows and columns numbered from 1, as the notes number neurons."""
    return pd.DataFrame(arr, index=range(1, arr.shape[0] + 1), columns=range(1, arr.shape[1] + 1))


def _view_arrays(s: Stepper) -> None:
    p = s.current
    l = st.selectbox("Layer", list(range(1, s.L + 1)), key="bp_arrays_layer", index=s.L - 1)
    st.caption("Neurons are rows; examples are columns (the first 12 of the batch).")
    cols = st.columns(2)
    cols[0].markdown(f"W{_sup(l)} (now)")
    cols[0].dataframe(_numbered(s.net.W[l]).round(5), key="bp_arr_W")
    for n, (what, label) in enumerate((("dW", "∂C/∂W"), ("dW_step", "ΔW"), ("z", "z"), ("a", "a"),
                                       ("delta", "δ"), ("db", "∂C/∂b"))):
        label = f"{label}{_sup(l)}"
        arr = getattr(p, what)[l] if p is not None else None
        col = cols[(n + 1) % 2]
        col.markdown(label)
        if arr is None:
            col.caption("not computed yet in this step")
        else:
            col.dataframe(_numbered(arr[:, :12]).round(6), key=f"bp_arr_{what}")
    for eq in formulas.layer_equations(s.net):
        st.latex(eq)


def _set_points(key: tuple, table: pd.DataFrame | None) -> None:
    """Keep the user's points (None: back to the original ones) and restart on them."""
    if table is None:
        state.bp_edited.pop(key, None)
    else:
        state.bp_edited[key] = table.reset_index(drop=True)
    state.bp_edit_version = state.get("bp_edit_version", 0) + 1  # a fresh editor over the new points
    st.rerun()


def _view_data(config: Config, s: Stepper) -> None:
    if config.dataset == "csv":
        st.caption("Uploaded points. To change them, edit the CSV and upload it again.")
        st.dataframe(s.data.table(), hide_index=True)
        return
    st.caption("Add, change or delete training points; the network restarts on the edited points. "
               "Your edits are kept per data set, so switching data sets loses nothing.")
    key = (config.dataset, config.seed)
    current = state.bp_edited.get(key, load_dataset(config.dataset, config.seed).table())
    c = st.columns([1, 1, 1, 1.1])
    x1 = c[0].number_input("x₁", value=0.0, step=0.1, format="%g", key="bp_add_x1")
    x2 = c[1].number_input("x₂", value=0.0, step=0.1, format="%g", key="bp_add_x2")
    label = c[2].number_input("class", min_value=0, max_value=7, value=0, step=1, key="bp_add_label")
    if c[3].button("Add point", key="bp_add", width="stretch"):
        _set_points(key, pd.concat([current, pd.DataFrame({"x1": [x1], "x2": [x2], "label": [int(label)]})]))
    c = st.columns([2, 1.1, 1.1])
    number = c[0].number_input(f"Point number (1–{len(current)})", min_value=1, max_value=max(len(current), 1),
                               value=len(current), step=1, key="bp_remove_n")
    if c[1].button("Remove point", key="bp_remove", width="stretch", disabled=len(current) <= 1):
        _set_points(key, current.drop(index=current.index[int(number) - 1]))
    if c[2].button("Original points", key="bp_restore", width="stretch", disabled=key not in state.bp_edited):
        _set_points(key, None)
    edited = st.data_editor(current, num_rows="dynamic", hide_index=False,
                            key=f"bp_editor_{config.dataset}_{config.seed}_{state.get('bp_edit_version', 0)}")
    if not edited.reset_index(drop=True).equals(current.reset_index(drop=True)):
        try:
            dataset_from_table(edited)
        except ValueError as exc:
            st.error(f"These points cannot be used yet: {exc} The network keeps the previous points.")
        else:
            _set_points(key, edited)


def _view_export(config: Config, s: Stepper) -> None:
    query = "&".join(f"{k}={v}" for k, v in config.to_query().items())
    st.markdown("**Link to this configuration** (the page's URL already holds it):")
    st.code("?" + query, language=None)
    json_text = to_json(s.net, config.to_query())
    code = pytorch_code(s.net, config.learning_rate)
    c1, c2 = st.columns(2)
    c1.download_button("Weights as JSON", json_text, file_name="network.json", mime="application/json",
                       key="bp_dl_json")
    c2.download_button("PyTorch code", code, file_name="network.py", mime="text/x-python", key="bp_dl_torch")
    st.code(code, language="python")
    upload = st.file_uploader("Start from weights saved as JSON", type=["json"], key="bp_json_file",
                              help="Replaces the current weights (export them first to keep them); Reset then "
                                   "returns to the loaded ones.")
    if upload is not None and state.get("bp_json_id") != upload.file_id:
        state.bp_json_id = upload.file_id
        try:
            loaded = from_json(upload.getvalue())
            s.replace_weights(loaded)
        except ValueError as exc:
            st.error(f"{upload.name}: {exc}")
        else:
            differs = [f"{what} {theirs} (the page keeps {ours})" for what, theirs, ours in (
                ("hidden activation", loaded.hidden, s.net.hidden), ("output", loaded.output, s.net.output),
                ("cost", loaded.cost, s.net.cost)) if theirs != ours]
            st.success(f"Loaded the weights of {upload.name}." + (" The file was saved with " + "; ".join(differs) + "."
                                                                   if differs else ""))


# ---------------------------------------------------------------------- the live part
def _live(config: Config) -> None:
    s: Stepper = state.bp_stepper
    _default_pick(s)
    if state.pop("bp_full_rerun", False):
        st.rerun()  # play/pause changes the fragment's timer, which needs an app rerun
    if state.bp_playing:
        play_tick(s, int(state.get("bp_steps_per_tick", 5)))
    _controls(s)
    if state.get("bp_message"):
        st.warning(state.bp_message)
    for note in diagnose(s):
        st.warning(note, icon="⚠️")
    _status(s)
    phase = "update" if s.phase == "ready" and s.current is not None and s.current.applied else s.phase
    if state.bp_playing:
        phase = "ready"  # every layer changes every tick: a highlight would only flicker
    selected = (("weight", state.bp_pick_layer, state.bp_pick_j, state.bp_pick_k)
                if state.bp_pick_kind == "weight" else ("neuron", state.bp_pick_layer, state.bp_pick_j))
    example = int(state.get("bp_pick_example", 1)) - 1
    fig = plots.network_figure(s.net, s.current, phase, s.layer, selected, example)
    st.plotly_chart(fig, key="bp_net_chart", on_select=_on_chart_pick, selection_mode="points",
                    config={"displayModeBar": False})
    st.caption("Edge colour: sign of w (blue +, orange −); width: |w|. Node colour: a for the chosen example; "
               "a purple ring: δ is known. Click a neuron or a weight to inspect it.")
    _inspector(s)
    view = st.segmented_control("View", VIEWS, key="bp_view", default=VIEWS[0], label_visibility="collapsed")
    view = view or VIEWS[0]
    if view == "Decision boundary":
        _view_boundary(s)
    elif view == "Neuron maps":
        st.plotly_chart(_cached("maps", s, None, lambda: plots.neuron_maps_figure(s.net, s.data)), key="bp_maps")
    elif view == "Loss":
        st.plotly_chart(plots.loss_figure(s.history), key="bp_loss")
    elif view == "Gradient check":
        _view_gradcheck(s)
    elif view == "Arrays":
        _view_arrays(s)
    elif view == "Data":
        _view_data(config, s)
    else:
        _view_export(config, s)


def _network_mode(config: Config) -> None:
    data, data_key = _dataset(config)
    if data is None:
        st.info("Upload a CSV in the sidebar: two numeric input columns and a class label column "
                "(named label/class/y/target, or the last column).")
        return
    try:
        _stepper(config, data, data_key)
    except ValueError as exc:
        st.error(str(exc))
        return
    for note in state.get("bp_notes", []):
        st.info(note)
    if config.preset:
        st.caption(PRESETS[config.preset].description)
    run_every = TICK_SECONDS if state.bp_playing else None
    st.fragment(_live, run_every=run_every)(config)


# ---------------------------------------------------------------------- graph mode
def _graph_act(action: str, n_steps: int) -> None:
    if action == "one":
        state.bp_graph_steps = min(state.bp_graph_steps + 1, n_steps)
    elif action == "all":
        state.bp_graph_steps = n_steps
    else:
        state.bp_graph_steps = 0


def _graph_mode() -> None:
    st.caption("Type a scalar expression and the values of its variables (functions: tanh, exp, relu, sigmoid, "
               "log; operators + − * / ** or ^). Each backward step applies the chain rule at one node n: "
               "grad_c += (∂n/∂c) · grad_n for each input c, where grad_v = ∂f/∂v.")
    c1, c2 = st.columns([3, 2])
    c1.text_input("Expression", key="bp_expr")
    c2.text_input("Values", key="bp_vals")
    try:
        graph = parse_expression(state.bp_expr, parse_values(state.bp_vals))
    except ExpressionError as exc:
        st.error(str(exc))
        return
    signature = (state.bp_expr, state.bp_vals)
    if state.get("bp_graph_signature") != signature:
        state.bp_graph_signature, state.bp_graph_steps = signature, 0
    n = graph.n_steps
    cols = st.columns(3)
    cols[0].button("Backward one node", key="bp_g_one", on_click=_graph_act, args=("one", n),
                   disabled=state.bp_graph_steps >= n, width="stretch")
    cols[1].button("Whole backward pass", key="bp_g_all", on_click=_graph_act, args=("all", n),
                   disabled=state.bp_graph_steps >= n, width="stretch")
    cols[2].button("Reset gradients", key="bp_g_reset", on_click=_graph_act, args=("reset", n), width="stretch")
    steps = state.bp_graph_steps
    done = backward(graph, steps)
    out = graph.output_name
    if steps == 0:
        st.markdown(f"**Forward pass done: {out} = {graph.output.data:.6g}.** The backward pass starts from "
                    f"∂{out}/∂{out} = 1; press *Backward one node*.")
    elif steps < n:
        st.markdown(f"**Backward step {steps} of {n}: node {done[-1].node.label}.**")
    else:
        st.markdown(f"**Backward pass complete ({n} steps): every node holds ∂{out}/∂node.**")
    st.plotly_chart(plots.expression_figure(graph, steps), key="bp_graph_chart", config={"displayModeBar": False})
    if done:
        for row in formulas.graph_step_rows(done[-1], out):
            st.latex(row)
    reached = {id(graph.output)} | {id(c) for d in done for c, _, _ in d.contributions}
    st.dataframe(pd.DataFrame({
        "node": [v.label if not v.is_constant else "const" for v in graph.nodes],
        "definition": [node_definition(v).replace("\\cdot", "·").replace("\\", "") for v in graph.nodes],
        "data": [f"{v.data:.6g}" for v in graph.nodes],
        f"grad ∂{out}/∂node": [f"{v.grad:.6g}" if id(v) in reached else "? (not reached yet)" for v in graph.nodes],
    }), hide_index=True, key="bp_graph_table")


# ---------------------------------------------------------------------- page
_init_session()
st.title("Backprop, step by step")
config = _sidebar()
_sync_url(config)
if config == state.bp_url_config:  # once the user changes something, the link's problems are history
    for warning in state.bp_url_warnings:
        st.warning(warning)
if config.mode == "graph":
    _graph_mode()
else:
    _network_mode(config)
