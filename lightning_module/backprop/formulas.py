"""The course formulas as LaTeX, with the numbers of the current pass plugged in.

Every function returns a list of ``(caption, latex)`` rows for ``st.latex``. Symbols follow the
engine: layer l, neuron j, input k; ``i`` picks which example of the batch the per-example values
(z, a, δ) are shown for. Gradients are batch averages, as in the update.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .activations import HIDDEN
from .costs import SIMPLE_OUTPUT_ERROR
from .network import Network, Pass

MAX_TERMS = 4  # longer sums show their first terms and ⋯, then the total


def num(v: float, digits: int = 4) -> str:
    """A number for LaTeX: 4 significant digits, powers of ten written out, −0 shown as 0."""
    v = float(v)
    if math.isnan(v):
        return r"\text{NaN}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        s = f"{v:.{digits}g}"
        if "e" in s:
            return _sci(v, digits)
        if float(s) == round(float(s)) and v != round(v):
            # 0.99999999962 must not read as 1: that difference is the whole point of a saturated sigmoid
            s = f"{v:.15g}"
        return s
    return _sci(v, digits)


def _sci(v: float, digits: int) -> str:
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def par(v: float) -> str:
    """A number as a factor: negatives and powers of ten in parentheses."""
    s = num(v)
    return f"({s})" if v < 0 or r"\times" in s else s


def _sum_terms(terms: list[str], total_terms: int) -> str:
    if total_terms > len(terms):
        return " + ".join(terms) + r" + \cdots"
    return " + ".join(terms)


def visible_length(latex: str) -> int:
    """Rough count of the characters a formula shows: commands count as one, braces and scripts as none,
    and a fraction as its wider part."""
    text = re.sub(r"\\frac\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}",
                  lambda m: "x" * max(visible_length(m.group(1)), visible_length(m.group(2))), latex)
    text = re.sub(r"\\(?:left|right|big|Big|mathrm|text|quad|qquad|,|;)", "", text)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    text = re.sub(r"[{}^_ ]", "", text)
    return len(text)


def chain(lhs: str, *steps: str, width: int = 58) -> str:
    """lhs = step₁ = step₂ = …, on one line when it fits the page, else one step per line (aligned on '=')."""
    steps = tuple(s for s in steps if s)
    if visible_length(" = ".join((lhs, *steps))) <= width:
        return " = ".join((lhs, *steps))
    body = rf" \\ ".join(f"&= {s}" for s in steps)
    return rf"\begin{{aligned}} {lhs} {body} \end{{aligned}}"


def neuron_rows(net: Network, p: Pass, l: int, j: int, i: int = 0) -> list[tuple[str, str]]:
    """z, a, δ, ∂C/∂b and Δb of neuron j in layer l, as far as the pass has computed them."""
    rows: list[tuple[str, str]] = []
    if l == 0:
        rows.append(("Input", rf"a^{{0}}_{{{j + 1}}} = x_{{{j + 1}}} = {num(p.x[j, i])}"))
        return rows
    J = j + 1
    W, b = p.W[l], p.b[l]
    a_prev = p.a[l - 1]
    if p.z[l] is None:
        rows.append(("Not computed yet", r"\text{the forward pass has not reached layer " + str(l) + "}"))
        return rows
    n_in = W.shape[1]
    shown = min(n_in, MAX_TERMS)
    prev = "x" if l == 1 else f"a^{{{l - 1}}}"
    terms = [f"{par(W[j, k])} \\cdot {par(a_prev[k, i])}" for k in range(shown)]
    rows.append(("Weighted input", chain(
        rf"z^{{{l}}}_{{{J}}}",
        rf"\sum_k w^{{{l}}}_{{{J}k}}\, {prev}_k + b^{{{l}}}_{{{J}}}",
        rf"{_sum_terms(terms, n_in)} + {par(b[j, 0])}",
        num(p.z[l][j, i]))))
    f = net.f(l)
    if f.name == "softmax":
        zl = p.z[l][:, i]
        with np.errstate(over="ignore"):
            denominator = float(np.exp(zl).sum())
        rows.append(("Activation (softmax)", chain(
            rf"a^{{{l}}}_{{{J}}}",
            rf"\frac{{e^{{z^{{{l}}}_{{{J}}}}}}}{{\sum_k e^{{z^{{{l}}}_k}}}}",
            rf"\frac{{e^{{{num(zl[j])}}}}}{{{num(denominator)}}}",
            num(p.a[l][j, i]))))
    else:
        rows.append(("Activation", chain(rf"a^{{{l}}}_{{{J}}}", rf"{f.latex}(z^{{{l}}}_{{{J}}})",
                                         rf"{f.latex}({num(p.z[l][j, i])})", num(p.a[l][j, i]))))
    if p.delta[l] is None:
        rows.append(("Error δ", r"\delta^{" + str(l) + r"}\ \text{comes in the backward pass}"))
        return rows
    rows.append(("Error δ", _delta_latex(net, p, l, j, i)))
    m = p.batch_size
    db = p.db[l][j, 0]
    dbl = rf"\frac{{\partial C}}{{\partial b^{{{l}}}_{{{J}}}}}"
    if m == 1:
        rows.append(("Bias gradient", chain(dbl, rf"\delta^{{{l}}}_{{{J}}}", num(db))))
    else:
        rows.append(("Bias gradient (batch mean)",
                     chain(dbl, rf"\frac{{1}}{{{m}}}\sum_x \delta^{{{l}}}_{{{J}}}", num(db))))
    rows.append(("Bias update", chain(rf"\Delta b^{{{l}}}_{{{J}}}", rf"-\eta\,{dbl}",
                                      rf"-{par(p.learning_rate)} \cdot {par(db)}", num(p.db_step[l][j, 0]))))
    if p.applied:
        rows.append(("Bias after the update", chain(rf"b^{{{l}}}_{{{J}}}", rf"{num(b[j, 0])} + {par(p.db_step[l][j, 0])}",
                                                    num(b[j, 0] + p.db_step[l][j, 0], 6))))
    return rows


def _delta_latex(net: Network, p: Pass, l: int, j: int, i: int) -> str:
    J, L = j + 1, net.L
    d = p.delta[l][j, i]
    lhs = rf"\delta^{{{l}}}_{{{J}}}"
    if l == L:
        a, y, z = p.a[L][j, i], p.y[j, i], p.z[L][j, i]
        if (net.output, net.cost) in SIMPLE_OUTPUT_ERROR:
            return chain(lhs, rf"a^{{{L}}}_{{{J}}} - y_{{{J}}}", rf"{num(a)} - {par(y)}", num(d))
        if net.output == "softmax":
            g = net.C.grad_a(p.a[L][:, i:i + 1], p.y[:, i:i + 1])[:, 0]
            s = float((p.a[L][:, i] * g).sum())
            return chain(lhs, rf"a^{{{L}}}_{{{J}}}\Big(\frac{{\partial C}}{{\partial a^{{{L}}}_{{{J}}}}} - "
                              rf"\sum_k a^{{{L}}}_k \frac{{\partial C}}{{\partial a^{{{L}}}_k}}\Big)",
                         rf"{par(a)} \cdot \big({num(g[j])} - {par(s)}\big)", num(d))
        f = net.f(L)
        fprime = f.df(np.array([z]))[0]
        return chain(lhs, rf"(a^{{{L}}}_{{{J}}} - y_{{{J}}})\,{f.latex}'(z^{{{L}}}_{{{J}}})",
                     rf"({num(a)} - {par(y)}) \cdot {par(fprime)}", num(d))
    W_next = p.W[l + 1]
    n_next = W_next.shape[0]
    shown = min(n_next, MAX_TERMS)
    terms = [f"{par(W_next[k, j])} \\cdot {par(p.delta[l + 1][k, i])}" for k in range(shown)]
    f = HIDDEN[net.hidden]
    fprime = f.df(np.array([p.z[l][j, i]]))[0]
    return chain(lhs, rf"\Big(\sum_k w^{{{l + 1}}}_{{k{J}}}\,\delta^{{{l + 1}}}_k\Big)\,{f.latex}'(z^{{{l}}}_{{{J}}})",
                 rf"\big({_sum_terms(terms, n_next)}\big) \cdot {par(fprime)}", num(d))


def weight_rows(net: Network, p: Pass, l: int, j: int, k: int) -> list[tuple[str, str]]:
    """∂C/∂w, Δw and the new w for weight w^l_{jk} (from neuron k of layer l−1 to neuron j of layer l)."""
    J, K = j + 1, k + 1
    w = p.W[l][j, k]
    wl = rf"w^{{{l}}}_{{{J}{K}}}"
    rows: list[tuple[str, str]] = []
    if p.delta[l] is None:
        rows.append(("Gradient", r"\partial C/\partial w\ \text{needs}\ \delta^{" + str(l) +
                     r"}\text{: it comes in the backward pass}"))
        return rows
    m = p.batch_size
    prev = "x" if l == 1 else f"a^{{{l - 1}}}"
    products = p.delta[l][j, :] * p.a[l - 1][k, :]
    lam = net.weight_decay
    decay = rf" + \lambda {wl}" if lam else ""
    decay_num = rf" + {par(lam)} \cdot {par(w)}" if lam else ""
    g = p.dW[l][j, k]
    dwl = rf"\frac{{\partial C}}{{\partial {wl}}}"
    if m == 1:
        rows.append(("Gradient", chain(dwl, rf"\delta^{{{l}}}_{{{J}}}\,{prev}_{{{K}}}{decay}",
                                       rf"{par(p.delta[l][j, 0])} \cdot {par(p.a[l - 1][k, 0])}{decay_num}", num(g))))
    else:
        shown = min(m, 2)
        terms = [f"{par(p.delta[l][j, x])} \\cdot {par(p.a[l - 1][k, x])}" for x in range(shown)]
        rows.append(("Gradient (mean over the batch)", chain(
            dwl, rf"\frac{{1}}{{m}}\sum_x \delta^{{{l}}}_{{{J}}}\,{prev}_{{{K}}}{decay}",
            rf"\frac{{1}}{{{m}}}\big({_sum_terms(terms, m)}\big){decay_num}",
            rf"{num(products.mean())}{decay_num}" if lam else "", num(g))))
    dw = p.dW_step[l][j, k]
    rows.append(("Update", chain(rf"\Delta {wl}", rf"-\eta\,{dwl}", rf"-{par(p.learning_rate)} \cdot {par(g)}",
                                 num(dw))))
    caption = "New weight" if p.applied else "New weight, once the update is applied"
    rows.append((caption, chain(rf"{wl} + \Delta {wl}", rf"{num(w)} + {par(dw)}", num(w + dw, 6))))
    return rows


def layer_equations(net: Network) -> list[str]:
    """The general equations of this network's forward and backward pass (no numbers)."""
    f, out = HIDDEN[net.hidden].latex, net.f(net.L).latex
    L = net.L
    eqs = [r"z^l = W^l a^{l-1} + b^l,\quad a^l = " + f + r"(z^l)\ (l < L),\quad a^L = " + out + "(z^L)"]
    if (net.output, net.cost) in SIMPLE_OUTPUT_ERROR:
        eqs.append(r"\delta^L = a^L - y")
    elif net.output == "softmax":
        eqs.append(r"\delta^L = J_{\mathrm{softmax}}^\top\, \nabla_a C")
    else:
        eqs.append(r"\delta^L = \nabla_a C \odot " + out + r"'(z^L)")
    if L > 1:
        eqs.append(r"\delta^l = (W^{l+1})^\top \delta^{l+1} \odot " + f + r"'(z^l)")
    decay = r" + \lambda W^l" if net.weight_decay else ""
    eqs.append(r"\frac{\partial C}{\partial W^l} = \frac{1}{m}\,\delta^l (a^{l-1})^\top" + decay +
               r",\quad \frac{\partial C}{\partial b^l} = \frac{1}{m}\sum_x \delta^l,\quad "
               r"W^l \leftarrow W^l - \eta \frac{\partial C}{\partial W^l}")
    return eqs


def local_derivative(node, index: int) -> str:
    """∂node/∂(its input number ``index``) as a formula in the inputs' names, e.g. z for q·z."""
    names = [c.label if not c.is_constant else num(c.data) for c in node.children]
    x, op = names[index], node.op
    if op == "+":
        return "1"
    if op == "-":
        return "1" if index == 0 else "-1"
    if op == "neg":
        return "-1"
    if op == "*":
        return names[1 - index]
    if op == "/":
        return rf"\frac{{1}}{{{names[1]}}}" if index == 0 else rf"-\frac{{{names[0]}}}{{{names[1]}^2}}"
    if op == "**":
        if node.exponent is not None:
            k = node.exponent
            power = "1" if k == 1 else x if k == 2 else rf"{x}^{{{num(k - 1)}}}"
            return power if k == 1 else rf"{num(k)}\,{power}"
        return rf"{names[1]}\,{names[0]}^{{{names[1]} - 1}}" if index == 0 else rf"{node.label}\,\ln {names[0]}"
    if op == "tanh":
        return rf"1 - {node.label}^2"
    if op == "exp":
        return node.label
    if op == "relu":
        return rf"[{x} > 0]"
    if op == "sigmoid":
        return rf"{node.label}(1 - {node.label})"
    if op == "log":
        return rf"\frac{{1}}{{{x}}}"
    return r"\cdot"


def graph_step_rows(step, output_name: str) -> list[str]:
    """The chain rule at one node n of an expression graph, with numbers: for each input c,
    grad_c += (∂n/∂c) · grad_n, where grad_v = ∂f/∂v is the output's gradient."""
    from .expression import node_definition  # local: formulas does not otherwise need the parser

    n = step.node
    g = lambda v: rf"\text{{grad}}_{{{v}}}"  # noqa: E731
    rows = [node_definition(n) + rf" = {num(n.data)},\qquad {g(n.label)} = "
            rf"\frac{{\partial {output_name}}}{{\partial {n.label}}} = {num(n.grad)}"]
    for index, (child, local, amount) in enumerate(step.contributions):
        if child.is_constant:  # a number's gradient exists but teaches nothing
            continue
        c = child.label
        d = local_derivative(n, index)
        if ("+" in d or "-" in d[1:]) and not d.startswith(r"\frac"):
            d = f"({d})"
        rows.append(rf"{g(c)} \mathrel{{+}}= \frac{{\partial {n.label}}}{{\partial {c}}}\,{g(n.label)} = "
                    rf"{d} \cdot {g(n.label)} = {par(local)} \cdot {par(n.grad)} = {num(amount)}")
    return rows
