"""Plotly figures for the visualizer: the network, decision boundary, neuron maps, loss, expression graph.

Figures are built from plain dicts (no per-trace validation while building) so a page rerun stays
cheap even for a 6 × 16 network with ~1,400 edges: edges are grouped into a few traces by sign and
width instead of one trace each.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .datasets import Dataset
from .expression import Graph, Value, node_definition
from .network import Network, Pass

POSITIVE = "#2563eb"  # blue: positive weight / activation
NEGATIVE = "#ea580c"  # orange: negative
NEUTRAL = "#e5e7eb"
PHASE_COLOURS = {"forward": "#16a34a", "backward": "#9333ea", "update": "#ca8a04"}
SELECTED = "#facc15"
ACTIVATION_SCALE = [[0.0, NEGATIVE], [0.5, "#f8fafc"], [1.0, POSITIVE]]
CLASS_COLOURS = ["#ea580c", "#2563eb", "#16a34a", "#9333ea", "#db2777", "#0891b2", "#65a30d", "#a16207"]
WIDTH_BUCKETS = 6
# Plotly validates every property of every trace when a figure is built, which costs more than drawing
# the data. The figures here come from fixed code, so the page skips it; the tests build every figure
# with VALIDATE = True, so a misspelt property still fails a test.
VALIDATE = False


def _figure(data: list[dict], layout: dict) -> go.Figure:
    if VALIDATE:
        return go.Figure(data=data, layout=layout)
    return go.Figure(data=data, layout=layout, _validate=False)


def _fmt(v: float) -> str:
    s = f"{v:.4g}"
    if "e" not in s and np.isfinite(v) and float(s) == round(float(s)) and v != round(v):
        return f"{v:.12g}"  # a saturated 0.99999999962 must not read as 1
    return s


def node_positions(sizes: list[int]) -> list[np.ndarray]:
    """y coordinate of every neuron, layer by layer, centred on 0, one unit apart."""
    return [(n - 1) / 2.0 - np.arange(n) for n in sizes]


def network_figure(net: Network, p: Pass | None, phase: str = "ready", layer: int = 0,
                   selected: tuple | None = None, example: int = 0, height: int | None = None) -> go.Figure:
    """The network: edge colour = sign of w, width = |w|; node colour = a for one example of the batch.

    ``phase``/``layer`` highlight what was just computed; ``selected`` is ('neuron', l, j) or
    ('weight', l, j, k). Node and edge-midpoint points carry customdata so clicks can select them.
    """
    sizes, L = net.sizes, net.L
    ys = node_positions(sizes)
    W = p.W if p is not None and not p.applied and p.W else net.W
    w_max = max(float(np.nanmax(np.abs(W[l]))) if W[l].size else 0.0 for l in range(1, L + 1)) or 1.0
    if not np.isfinite(w_max):
        w_max = 1.0
    active = _active_layers(phase, layer, L)
    traces: list[dict] = []
    shapes: list[dict] = []
    annotations: list[dict] = []
    if active and phase in PHASE_COLOURS:
        for l in active:
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=l - 0.32, x1=l + 0.32, y0=0.0, y1=1.0,
                               fillcolor=PHASE_COLOURS[phase], opacity=0.10, line=dict(width=0), layer="below"))
    # Edges, bucketed by (sign, width, highlighted) so there are a handful of traces, not one per edge.
    buckets: dict[tuple, list[list[float]]] = {}
    mid_x, mid_y, mid_data, mid_text = [], [], [], []
    for l in range(1, L + 1):
        Wl = W[l]
        hot = not active or l in active
        for j in range(sizes[l]):
            for k in range(sizes[l - 1]):
                w = float(Wl[j, k])
                mag = abs(w) / w_max if np.isfinite(w) else 1.0
                key = (w >= 0, min(int(mag * WIDTH_BUCKETS), WIDTH_BUCKETS - 1), hot)
                xs_ys = buckets.setdefault(key, [[], []])
                xs_ys[0] += [l - 1, l, np.nan]  # NaN breaks the line between segments
                xs_ys[1] += [ys[l - 1][k], ys[l][j], np.nan]
                mid_x.append(l - 0.5 + 0.18 * (k - (sizes[l - 1] - 1) / 2) / max(sizes[l - 1], 1))
                mid_y.append(ys[l - 1][k] + (ys[l][j] - ys[l - 1][k]) * (mid_x[-1] - (l - 1)))
                mid_data.append((1, l, j, k))  # customdata: (1 = weight, layer, j, k)
                mid_text.append(_weight_hover(p, W, l, j, k))
    for (positive, width, hot), (xs, yy) in sorted(buckets.items()):
        traces.append(dict(type="scatter", mode="lines", x=np.array(xs), y=np.array(yy), hoverinfo="skip",
                           showlegend=False,
                           line=dict(color=POSITIVE if positive else NEGATIVE, width=0.6 + 1.4 * width),
                           opacity=0.85 if hot else 0.25))
    traces.append(dict(type="scatter", mode="markers", x=np.array(mid_x), y=np.array(mid_y),
                       customdata=np.array(mid_data, dtype=int).reshape(-1, 4), hovertext=np.array(mid_text),
                       hoverinfo="text", showlegend=False, name="weights",
                       marker=dict(size=9, color="rgba(0,0,0,0)")))
    # Selected weight: drawn on top, gold, with its value.
    if selected and selected[0] == "weight":
        _, l, j, k = selected
        if 1 <= l <= L and j < sizes[l] and k < sizes[l - 1]:
            traces.append(dict(type="scatter", mode="lines", x=[l - 1, l], y=[ys[l - 1][k], ys[l][j]],
                               hoverinfo="skip", showlegend=False, line=dict(color=SELECTED, width=7), opacity=0.9))
            annotations.append(dict(x=l - 0.5, y=(ys[l - 1][k] + ys[l][j]) / 2,
                                    text=f"<b>w<sup>{l}</sup><sub>{j + 1}{k + 1}</sub></b>",
                                    showarrow=False, bgcolor="rgba(255,255,255,0.85)", font=dict(size=13)))
    # Nodes.
    node_x, node_y, colour, text, hover, data, line_c, line_w = [], [], [], [], [], [], [], []
    n_max = max(sizes)
    size = float(np.clip(260 / n_max, 14, 34))
    show_values = n_max <= 8
    for l in range(L + 1):
        for j in range(sizes[l]):
            node_x.append(l)
            node_y.append(ys[l][j])
            a = _value(p, "a", l, j, example)
            colour.append(a if a is not None and np.isfinite(a) else 0.0)
            text.append(_fmt(a) if (show_values and a is not None) else "")
            hover.append(_node_hover(p, l, j, example))
            data.append((0, l, j, -1))  # customdata: (0 = neuron, layer, j, -)
            d = _value(p, "delta", l, j, example)
            is_sel = bool(selected and selected[0] == "neuron" and selected[1] == l and selected[2] == j)
            line_c.append(SELECTED if is_sel else PHASE_COLOURS["backward"] if d is not None else "#334155")
            line_w.append(5 if is_sel else 3 if d is not None else 1)
    traces.append(dict(type="scatter", mode="markers+text", x=np.array(node_x), y=np.array(node_y),
                       customdata=np.array(data, dtype=int), text=text, textposition="middle right",
                       textfont=dict(size=11, color="#0f172a"),
                       hovertext=hover, hoverinfo="text", showlegend=False, name="neurons",
                       marker=dict(size=size, color=colour, colorscale=ACTIVATION_SCALE, cmin=-1, cmax=1,
                                   line=dict(color=line_c, width=line_w),
                                   colorbar=dict(title=dict(text="a", side="right"), thickness=10, len=0.6, x=1.02))))
    # Layer captions.
    for l in range(L + 1):
        name = "input x" if l == 0 else ("output" if l == L else f"hidden {l}")
        annotations.append(dict(x=l, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                                text=f"<b>{name}</b><br>{_layer_caption(net, l)}", font=dict(size=12)))
    if active and phase in PHASE_COLOURS:
        what = {"forward": "forward: z, a", "backward": "backward: δ, ∂C/∂W", "update": "update W ← W + ΔW"}[phase]
        annotations.append(dict(x=0.0, y=-0.02, xref="paper", yref="paper", xanchor="left", yanchor="top",
                                showarrow=False, text=f"<b style='color:{PHASE_COLOURS[phase]}'>{what}</b>"))
    span = (n_max - 1) / 2 + 0.7
    if height is None:  # tall enough for the widest layer, no taller
        height = int(np.clip(150 + 38 * n_max, 290, 520))
    layout = dict(height=height, margin=dict(l=10, r=30, t=60, b=30), plot_bgcolor="white",
                  xaxis=dict(visible=False, range=[-0.45, L + 0.6], fixedrange=True),
                  yaxis=dict(visible=False, range=[-span, span], fixedrange=True),
                  shapes=shapes, annotations=annotations, hovermode="closest", clickmode="event+select",
                  dragmode=False)
    return _figure(traces, layout)


def _active_layers(phase: str, layer: int, L: int) -> list[int]:
    if phase == "update":
        return list(range(1, L + 1))
    if phase in ("forward", "backward") and layer >= 1:
        return [layer]
    return []


def _layer_caption(net: Network, l: int) -> str:
    if l == 0:
        return f"{net.sizes[0]} inputs"
    act = net.f(l).label
    return f"{net.sizes[l]} × {act}"


def _value(p: Pass | None, what: str, l: int, j: int, example: int) -> float | None:
    if p is None:
        return None
    arr = getattr(p, what)[l]
    if arr is None or j >= arr.shape[0]:
        return None
    return float(arr[j, min(example, arr.shape[1] - 1)])


def _node_hover(p: Pass | None, l: int, j: int, example: int) -> str:
    parts = [f"<b>layer {l}, neuron {j + 1}</b>"]
    for what, sym in (("z", "z"), ("a", "a"), ("delta", "δ")):
        v = _value(p, what, l, j, example)
        if v is not None and not (what == "z" and l == 0):
            parts.append(f"{sym} = {_fmt(v)}")
    if p is not None and l >= 1 and p.db[l] is not None:
        parts.append(f"∂C/∂b = {_fmt(float(p.db[l][j, 0]))}")
    return "<br>".join(parts)


def _weight_hover(p: Pass | None, W: list, l: int, j: int, k: int) -> str:
    parts = [f"<b>w<sup>{l}</sup><sub>{j + 1}{k + 1}</sub> = {_fmt(float(W[l][j, k]))}</b>"]
    if p is not None and p.dW[l] is not None:
        parts.append(f"∂C/∂w = {_fmt(float(p.dW[l][j, k]))}")
        parts.append(f"Δw = {_fmt(float(p.dW_step[l][j, k]))}")
    parts.append("click to inspect")
    return "<br>".join(parts)


# ---------------------------------------------------------------------- the data plane
def plane_extent(data: Dataset, margin: float = 0.25) -> tuple[float, float, float, float]:
    X = data.X if not data.has_test else np.vstack([data.X, data.X_test])
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum((hi - lo) * margin, 0.25)
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])


def _grid(extent, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x0, x1, y0, y1 = extent
    gx = np.linspace(x0, x1, resolution)
    gy = np.linspace(y0, y1, resolution)
    xx, yy = np.meshgrid(gx, gy)
    return gx, gy, np.vstack([xx.ravel(), yy.ravel()])


def decision_boundary_figure(net: Network, data: Dataset, resolution: int = 70, height: int = 420,
                             highlight: np.ndarray | None = None) -> go.Figure:
    """The network's output over the input plane, with the training (filled) and test (hollow) points.

    Two classes: the heatmap is a^L (probability of class 1 for a sigmoid output). More classes: the
    predicted class, shaded by its confidence. ``highlight`` marks the current batch.
    """
    extent = plane_extent(data)
    gx, gy, pts = _grid(extent, resolution)
    with np.errstate(all="ignore"):
        a = net.predict(pts)
    traces: list[dict] = []
    if a.shape[0] == 1 or (a.shape[0] == 2 and net.output == "softmax"):
        p1 = a[-1] if a.shape[0] == 2 else a[0]
        z = p1.reshape(resolution, resolution)
        traces.append(dict(type="heatmap", x=gx, y=gy, z=z, zmin=0, zmax=1, colorscale=ACTIVATION_SCALE,
                           opacity=0.55, showscale=True, colorbar=dict(title=dict(text="output"), thickness=10),
                           hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>output=%{z:.3f}<extra></extra>"))
        traces.append(dict(type="contour", x=gx, y=gy, z=z, showscale=False, hoverinfo="skip",
                           name="boundary (output = 0.5)", showlegend=True,
                           contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                           line=dict(color="#0f172a", width=2)))
    else:
        cls = a.argmax(axis=0).reshape(resolution, resolution)
        k = a.shape[0]
        scale = []
        for c in range(k):
            scale += [[c / k, CLASS_COLOURS[c % 8]], [(c + 1) / k, CLASS_COLOURS[c % 8]]]
        traces.append(dict(type="heatmap", x=gx, y=gy, z=cls, zmin=-0.5, zmax=k - 0.5, colorscale=scale,
                           opacity=0.35, showscale=False,
                           hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>class %{z}<extra></extra>"))
    for c in range(max(data.n_classes, 2)):
        sel = data.labels == c
        if sel.any():
            traces.append(dict(type="scatter", mode="markers", x=data.X[sel, 0], y=data.X[sel, 1],
                               name=f"class {c} (train)",
                               marker=dict(color=CLASS_COLOURS[c % 8], size=8, line=dict(color="white", width=1))))
        if data.has_test:
            sel = data.labels_test == c
            if sel.any():
                traces.append(dict(type="scatter", mode="markers", x=data.X_test[sel, 0], y=data.X_test[sel, 1],
                                   name=f"class {c} (test)",
                                   marker=dict(color="rgba(0,0,0,0)", size=8,
                                               line=dict(color=CLASS_COLOURS[c % 8], width=1.5))))
    if highlight is not None and 0 < len(highlight) < len(data.X):
        traces.append(dict(type="scatter", mode="markers", x=data.X[highlight, 0], y=data.X[highlight, 1],
                           name="current batch", marker=dict(color="rgba(0,0,0,0)", size=15,
                                                             line=dict(color="#0f172a", width=2))))
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                  xaxis=dict(title=dict(text="x₁"), range=list(extent[:2]), constrain="domain"),
                  yaxis=dict(title=dict(text="x₂"), range=list(extent[2:]), scaleanchor="x"),
                  legend=dict(orientation="h", y=-0.15))
    return _figure(traces, layout)


def neuron_maps_figure(net: Network, data: Dataset, resolution: int = 24, cell: int = 70) -> go.Figure:
    """Every neuron's activation a^l_j over the input plane: one row per layer, one small map each."""
    extent = plane_extent(data)
    gx, gy, pts = _grid(extent, resolution)
    with np.errstate(all="ignore"):
        _, a = net.forward(pts)
    L = net.L
    cols = max(net.sizes[1:])
    rows = L
    traces, layout = [], dict(height=rows * (cell + 22) + 30, margin=dict(l=70, r=10, t=10, b=10),
                              plot_bgcolor="white", showlegend=False, annotations=[])
    gap_x, gap_y = 0.012, 0.04
    w = (1 - gap_x * (cols - 1)) / cols
    h = (1 - gap_y * (rows - 1)) / rows
    n = 0
    for l in range(1, L + 1):
        scale = ACTIVATION_SCALE
        lo, hi = (-1, 1) if net.f(l).name in ("tanh", "linear", "gelu", "leaky_relu", "relu") else (0, 1)
        for j in range(net.sizes[l]):
            n += 1
            ax = "" if n == 1 else str(n)
            r = l - 1
            x0 = j * (w + gap_x)
            y1 = 1 - r * (h + gap_y)
            traces.append(dict(type="heatmap", x=gx, y=gy, z=a[l][j].reshape(resolution, resolution),
                               zmin=lo, zmax=hi, colorscale=scale, showscale=False, xaxis=f"x{ax}", yaxis=f"y{ax}",
                               hovertemplate=f"layer {l}, neuron {j + 1}<br>a=%{{z:.3f}}<extra></extra>"))
            layout[f"xaxis{ax}"] = dict(domain=[max(x0, 0.0), min(x0 + w, 1.0)], visible=False, anchor=f"y{ax}")
            layout[f"yaxis{ax}"] = dict(domain=[max(y1 - h, 0.0), min(y1, 1.0)], visible=False, anchor=f"x{ax}")
        layout["annotations"].append(dict(x=-0.005, y=1 - r * (h + gap_y) - h / 2, xref="paper", yref="paper",
                                          xanchor="right", showarrow=False,
                                          text="output" if l == L else f"hidden {l}"))
    return _figure(traces, layout)


def loss_figure(history, height: int = 320) -> go.Figure:
    """Train and test cost per step (log scale when every value is positive)."""
    steps = np.asarray(history.step)
    train = np.asarray(history.train_cost, dtype=float)
    test = np.asarray(history.test_cost, dtype=float)
    traces = [dict(type="scatter", mode="lines", x=steps, y=train, name="train cost", line=dict(color=POSITIVE))]
    if np.isfinite(test).any():
        traces.append(dict(type="scatter", mode="lines", x=steps, y=test, name="test cost",
                           line=dict(color=NEGATIVE, dash="dash")))
    finite = np.concatenate([train[np.isfinite(train)], test[np.isfinite(test)]])
    log = finite.size > 0 and bool((finite > 0).all())
    layout = dict(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                  xaxis=dict(title=dict(text="step (updates)"), gridcolor=NEUTRAL),
                  yaxis=dict(title=dict(text="cost C"), type="log" if log else "linear", gridcolor=NEUTRAL),
                  legend=dict(orientation="h", y=1.1))
    return _figure(traces, layout)


# ---------------------------------------------------------------------- expression graph
_OP_LABEL = {"+": "+", "-": "−", "*": "×", "/": "÷", "**": "^", "neg": "−x", "tanh": "tanh", "exp": "exp",
             "relu": "relu", "sigmoid": "σ", "log": "log"}


_COLUMN = 3.0  # x distance between depths: a value box (2 wide) and an operation circle fit between


def _layout_graph(graph: Graph) -> dict[int, tuple[float, float]]:
    """Leaves left, output right (column = 2·depth); leaves stacked in visiting order, a node at the
    mean height of its inputs, so tree-shaped expressions draw without crossings."""
    depth: dict[int, int] = {}
    for n in graph.nodes:  # topological order: inputs first
        depth[id(n)] = 0 if n.is_leaf else 1 + max(depth[id(c)] for c in n.children)
    ypos: dict[int, float] = {}
    counter = [0.0]

    def place(n: Value) -> float:
        stack = [(n, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in ypos:
                continue
            if node.is_leaf:
                ypos[id(node)] = counter[0]
                counter[0] += 1.0
            elif ready:
                ypos[id(node)] = float(np.mean([ypos[id(c)] for c in node.children]))
            else:
                stack.append((node, True))
                for c in reversed(node.children):
                    if id(c) not in ypos:
                        stack.append((c, False))
        return ypos[id(n)]

    place(graph.output)
    return {k: (_COLUMN * depth[k], -ypos[k]) for k in ypos}


def expression_figure(graph: Graph, steps_done: int, height: int | None = None) -> go.Figure:
    """micrograd's draw_dot in plotly: each value a box 'name | data | grad', each operation a circle.

    The node whose chain-rule step was just taken is outlined in purple, and the inputs it just sent
    gradient to are shaded; gradients not yet reached show as '?'.
    """
    pos = _layout_graph(graph)
    current = graph.ops[steps_done - 1] if 0 < steps_done <= graph.n_steps else None
    reached = {id(graph.output)}
    for op in graph.ops[:steps_done]:
        reached.update(id(c) for c in op.children)
    shapes, annotations, edge_x, edge_y = [], [], [], []
    box_w, box_h, r = 1.9, 0.56, 0.3
    ink = "#0f172a"
    for n in graph.nodes:
        x, y = pos[id(n)]
        if not n.is_leaf:
            ox = x - box_w / 2 - 0.55  # the operation circle sits just left of its value box
            for c in n.children:
                cx, cy = pos[id(c)]
                edge_x += [cx + box_w / 2, ox - r, np.nan]
                edge_y += [cy, y, np.nan]
            edge_x += [ox + r, x - box_w / 2, np.nan]
            edge_y += [y, y, np.nan]
            is_current = current is n
            shapes.append(dict(type="circle", x0=ox - r, x1=ox + r, y0=y - r * 0.75, y1=y + r * 0.75, layer="below",
                               line=dict(color=PHASE_COLOURS["backward"] if is_current else "#475569",
                                         width=3 if is_current else 1),
                               fillcolor="#f1f5f9"))
            annotations.append(dict(x=ox, y=y, text=f"<b>{_OP_LABEL.get(n.op, n.op)}</b>", showarrow=False,
                                    font=dict(size=15 if len(_OP_LABEL.get(n.op, n.op)) <= 2 else 11, color=ink)))
        got_grad = id(n) in reached
        just_got = current is not None and any(c is n for c in current.children)
        fill = "#ede9fe" if just_got else ("#f8fafc" if got_grad else "#ffffff")
        border = PHASE_COLOURS["backward"] if (current is n or just_got) else "#334155"
        shapes.append(dict(type="rect", x0=x - box_w / 2, x1=x + box_w / 2, y0=y - box_h / 2, y1=y + box_h / 2,
                           layer="below", line=dict(color=border, width=3 if current is n else 1.5), fillcolor=fill))
        grad = f"<span style='color:{PHASE_COLOURS['backward']}'>{n.grad:.4g}</span>" if got_grad else "?"
        name = n.label if not n.is_constant else "const"
        annotations.append(dict(x=x, y=y, showarrow=False, font=dict(size=14, color=ink),
                                text=f"<b>{name}</b> = {n.data:.4g}<br>grad {grad}"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    n_rows = len(set(ys))
    traces = [dict(type="scatter", mode="lines", x=edge_x, y=edge_y, hoverinfo="skip", showlegend=False,
                   line=dict(color="#64748b", width=1.5))]
    hover_x, hover_y, hover_t = [], [], []
    for n in graph.nodes:
        x, y = pos[id(n)]
        hover_x.append(x)
        hover_y.append(y)
        hover_t.append(node_definition(n).replace("\\cdot", "·").replace("\\", ""))
    traces.append(dict(type="scatter", mode="markers", x=hover_x, y=hover_y, hovertext=hover_t, hoverinfo="text",
                       marker=dict(size=30, color="rgba(0,0,0,0)"), showlegend=False))
    layout = dict(height=height or max(220, 75 * n_rows + 40), margin=dict(l=10, r=10, t=10, b=10),
                  plot_bgcolor="white", shapes=shapes, annotations=annotations,
                  xaxis=dict(visible=False, range=[min(xs) - 1.1, max(xs) + 1.1], fixedrange=True),
                  yaxis=dict(visible=False, range=[min(ys) - 0.5, max(ys) + 0.5], fixedrange=True), dragmode=False)
    return _figure(traces, layout)
