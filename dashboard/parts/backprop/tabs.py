"""The Backprop page's views under the network drawing: boundary, neuron maps, loss, gradient check, arrays,
the editable data and the export. One is shown at a time (``VIEWS``, in this order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.parts.backprop.inspector import sup
from lightning_module.backprop import formulas, plots
from lightning_module.backprop.config import Config
from lightning_module.backprop.datasets import dataset_from_table, predicted_class
from lightning_module.backprop.export import from_json, pytorch_code, to_json
from lightning_module.backprop.gradcheck import gradient_check
from lightning_module.backprop.stepper import Stepper, load_dataset

VIEWS = ["Decision boundary", "Neuron maps", "Loss", "Gradient check", "Arrays", "Data", "Export"]
state = st.session_state


def show_view(view: str, config: Config, s: Stepper) -> None:
    """Draw the view chosen under the drawing."""
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
    cols[0].markdown(f"W{sup(l)} (now)")
    cols[0].dataframe(_numbered(s.net.W[l]).round(5), key="bp_arr_W")
    for n, (what, label) in enumerate((("dW", "∂C/∂W"), ("dW_step", "ΔW"), ("z", "z"), ("a", "a"),
                                       ("delta", "δ"), ("db", "∂C/∂b"))):
        label = f"{label}{sup(l)}"
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
