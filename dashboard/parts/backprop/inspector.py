"""The Backprop page's inspector: pick a neuron or a weight, see its numbers and its formulas with them plugged in.

The choice survives reruns that do not draw a widget (Streamlit forgets those), and a click on the network
drawing selects in the inspector too.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lightning_module.backprop import formulas
from lightning_module.backprop.stepper import Stepper

state = st.session_state

PICK_DEFAULTS = {"bp_pick_kind": "weight", "bp_pick_layer": -1, "bp_pick_j": 0, "bp_pick_k": 0, "bp_pick_example": 1}


def default_pick(stepper: Stepper) -> None:
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


def on_chart_pick() -> None:
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


def sup(n: int) -> str:
    """A layer number as a superscript, as the notes write it (W¹, δ²)."""
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _show(v) -> str:
    return "—" if v is None else f"{float(v):.6g}"


def inspector(s: Stepper) -> None:
    """Pick a neuron or a weight; its numbers in a table and its formulas with the numbers plugged in."""
    default_pick(s)
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
        values = {f"w{sup(l)}{_sub(j + 1)}{_sub(k + 1)} now": net.W[l][j, k],
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
