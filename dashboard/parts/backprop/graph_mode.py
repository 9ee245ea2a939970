"""The Backprop page in graph mode: a scalar expression's computational graph, stepped backward node by node.

Parsing and the chain rule live in ``lightning_module.backprop.expression``; this module holds the buttons and
the drawing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lightning_module.backprop import formulas, plots
from lightning_module.backprop.expression import ExpressionError, backward, node_definition, parse_expression, parse_values

state = st.session_state


def _graph_act(action: str, n_steps: int) -> None:
    if action == "one":
        state.bp_graph_steps = min(state.bp_graph_steps + 1, n_steps)
    elif action == "all":
        state.bp_graph_steps = n_steps
    else:
        state.bp_graph_steps = 0


def graph_mode() -> None:
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
