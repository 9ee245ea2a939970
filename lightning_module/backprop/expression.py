"""Scalar expressions as computational graphs, micrograd-style, stepped backward node by node.

The text is parsed with Python's ``ast`` and only a whitelist of node types is accepted (numbers,
variable names, + − * / **, unary minus, and the functions tanh, exp, relu, sigmoid, log); nothing
is ever evaluated with ``eval``. Each operation becomes a :class:`Value` that remembers its inputs
and the local derivatives ∂out/∂input, so one backward step is the chain rule for one node:

    input.grad += (∂out/∂input) · out.grad

Example (CS231n's): ``f = (x + y) * z`` at x = −2, y = 5, z = −4 gives q = x + y = 3, f = q·z = −12,
and ∂f/∂x = ∂f/∂y = z = −4, ∂f/∂z = q = 3.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

MAX_CHARS = 300
MAX_OPERATIONS = 60
FUNCTIONS = ("tanh", "exp", "relu", "sigmoid", "log")
_OP_SYMBOL = {"+": "+", "-": "-", "*": r"\cdot", "/": "/"}


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated; the message says where and why."""


@dataclass(eq=False)
class Value:
    """One node: a number, how it was made (op and inputs) and its gradient ∂f/∂(this)."""

    data: float
    children: tuple["Value", ...] = ()
    op: str = ""  # '' for leaves (variables, constants), else '+', '-', '*', '/', '**', 'neg', 'tanh', ...
    label: str = ""
    local: tuple[float, ...] = ()  # ∂(this)/∂child, one per child
    grad: float = 0.0
    exponent: float | None = None  # for '**' with a constant exponent
    is_constant: bool = False

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass
class Graph:
    """A parsed expression: every node in topological order (inputs first, output last)."""

    output: Value
    nodes: list[Value]
    variables: dict[str, Value]
    text: str
    output_name: str = "f"
    ops: list[Value] = field(default_factory=list)  # the operation nodes in backward order

    @property
    def n_steps(self) -> int:
        return len(self.ops)


def parse_values(text: str) -> dict[str, float]:
    """'x = -2, y = 5, z = -4' → {'x': -2.0, 'y': 5.0, 'z': -4.0}; also accepts ';' or new lines."""
    values: dict[str, float] = {}
    text = _normalise(text)
    for part in re.split(r"[,;\n]+", text):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(\S.*)", part)
        if not m:
            raise ExpressionError(f"'{part}' is not of the form name = number (e.g. x = -2).")
        name, raw = m.group(1), m.group(2).strip()
        try:
            value = float(raw)
        except ValueError:
            raise ExpressionError(f"The value of {name} must be a number; got '{raw}'.") from None
        if not math.isfinite(value):
            raise ExpressionError(f"The value of {name} must be a finite number.")
        values[name] = value
    return values


def _normalise(text: str) -> str:
    # Let people type the maths they see in the notes.
    return (text.replace("−", "-").replace("·", "*").replace("×", "*").replace("⋅", "*")
            .replace("^", "**"))


def parse_expression(text: str, values: dict[str, float]) -> Graph:
    """Build the graph of ``text`` (optionally 'f = …') with the variables set to ``values``."""
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"Keep the expression under {MAX_CHARS} characters.")
    text = _normalise(text).strip()
    output_name = "f"
    m = re.match(r"^\s*([A-Za-z_]\w*)\s*=(?!=)(.*)$", text, re.S)
    if m:
        output_name, text = m.group(1), m.group(2).strip()
    if not text:
        raise ExpressionError("Type an expression, e.g. f = (x + y) * z.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"This is not a valid expression{where}: {exc.msg}.") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("This expression cannot be read (too deeply nested?).") from None
    builder = _Builder(values)
    try:
        out = builder.build(tree.body)
    except RecursionError:
        raise ExpressionError("The expression is nested too deeply.") from None
    except OverflowError:
        raise ExpressionError("A number in the expression is too large.") from None
    if output_name in builder.variables:  # 'f = f * 2': keep the variable's name for the variable
        output_name = "out"
    if out.is_leaf:
        raise ExpressionError("The expression has no operation to differentiate; try e.g. f = x * y.")
    out.label = output_name
    nodes = _topological(out)
    _name_intermediates(nodes, out, set(builder.variables) | {output_name})
    ops = [n for n in reversed(nodes) if not n.is_leaf]
    return Graph(out, nodes, builder.variables, text, output_name, ops)


class _Builder:
    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.variables: dict[str, Value] = {}
        self.n_ops = 0

    def _op(self, data: float, children: tuple[Value, ...], op: str, local: tuple[float, ...], **kw) -> Value:
        self.n_ops += 1
        if self.n_ops > MAX_OPERATIONS:
            raise ExpressionError(f"At most {MAX_OPERATIONS} operations, so the graph stays readable.")
        for v in (data, *local):
            if isinstance(v, complex) or not math.isfinite(v):
                raise ExpressionError(f"The value of '{_describe(op, children)}' is not a finite number "
                                      f"at these inputs ({_fmt(data)}); change the values.")
        return Value(float(data), children, op, local=tuple(float(v) for v in local), **kw)

    def build(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return Value(float(node.value), label=_fmt(float(node.value)), is_constant=True)
        if isinstance(node, ast.Name):
            return self._variable(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if operand.is_constant:  # −4 is a number, not an operation on 4
                return Value(-operand.data, label=_fmt(-operand.data), is_constant=True)
            return self._op(-operand.data, (operand,), "neg", (-1.0,))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError(f"'{_source(node)}' is not allowed: use numbers, variables, + − * / **, "
                              f"and {', '.join(FUNCTIONS)}.")

    def _variable(self, name: str) -> Value:
        if name in FUNCTIONS:
            raise ExpressionError(f"{name} is a function: write {name}(…).")
        if name not in self.variables:
            if name not in self.values:
                raise ExpressionError(f"Give a value for {name} (e.g. {name} = 1).")
            self.variables[name] = Value(self.values[name], label=name)
        return self.variables[name]  # the same node each time: its gradient accumulates, like micrograd

    def _binary(self, node: ast.BinOp) -> Value:
        a, b = self.build(node.left), self.build(node.right)
        try:
            if isinstance(node.op, ast.Add):
                return self._op(a.data + b.data, (a, b), "+", (1.0, 1.0))
            if isinstance(node.op, ast.Sub):
                return self._op(a.data - b.data, (a, b), "-", (1.0, -1.0))
            if isinstance(node.op, ast.Mult):
                return self._op(a.data * b.data, (a, b), "*", (b.data, a.data))
            if isinstance(node.op, ast.Div):
                if b.data == 0:
                    raise ExpressionError(f"Division by zero in '{_source(node)}' at these values.")
                return self._op(a.data / b.data, (a, b), "/", (1.0 / b.data, -a.data / b.data ** 2))
            # power
            if b.is_constant:
                k = b.data
                if a.data == 0 and k < 1:
                    raise ExpressionError(f"'{_source(node)}' has no derivative at 0.")
                if a.data < 0 and k != int(k):
                    raise ExpressionError(f"'{_source(node)}': a negative number to a fractional power is not real.")
                return self._op(a.data ** k, (a,), "**", (k * a.data ** (k - 1),), exponent=k)
            if a.data <= 0:
                raise ExpressionError(f"In '{_source(node)}' the exponent depends on a variable, so the base must be "
                                      f"positive (its derivative needs ln of the base).")
            out = a.data ** b.data
            return self._op(out, (a, b), "**", (b.data * a.data ** (b.data - 1), out * math.log(a.data)))
        except OverflowError:
            raise ExpressionError(f"'{_source(node)}' is too large to compute at these values.") from None

    def _call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"Unknown function in '{_source(node)}'; the functions are {', '.join(FUNCTIONS)}.")
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(f"{node.func.id} takes exactly one argument.")
        name, x = node.func.id, self.build(node.args[0])
        v = x.data
        try:
            if name == "tanh":
                t = math.tanh(v)
                return self._op(t, (x,), name, (1.0 - t * t,))
            if name == "exp":
                e = math.exp(v)
                return self._op(e, (x,), name, (e,))
            if name == "relu":
                return self._op(max(v, 0.0), (x,), name, (1.0 if v > 0 else 0.0,))
            if name == "sigmoid":
                s = 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
                return self._op(s, (x,), name, (s * (1.0 - s),))
            if v <= 0:
                raise ExpressionError(f"log needs a positive argument; '{_source(node.args[0])}' is {_fmt(v)}.")
            return self._op(math.log(v), (x,), name, (1.0 / v,))
        except OverflowError:
            raise ExpressionError(f"'{_source(node)}' is too large to compute at these values.") from None


def _source(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every node the parser produced
        return type(node).__name__


def _describe(op: str, children: tuple[Value, ...]) -> str:
    names = [c.label or _fmt(c.data) for c in children]
    if op in _OP_SYMBOL and len(names) == 2:
        return f"{names[0]} {op} {names[1]}"
    return f"{op}({', '.join(names)})"


def _topological(root: Value) -> list[Value]:
    order: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:  # iterative DFS: deep expressions cannot overflow Python's recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in reversed(node.children):
            if id(child) not in seen:
                stack.append((child, False))
    return order


def _name_intermediates(nodes: list[Value], out: Value, taken: set[str]) -> None:
    """Give operation nodes short names (q, r, s, …) as the notes do: q = x + y, f = q·z."""
    pool = [c for c in "qrstuvwpmnkhgabcde" if c not in taken]
    i = 0
    for n in nodes:
        if n.is_leaf or n is out:
            continue
        if i < len(pool):
            n.label = pool[i]
        else:
            n.label = f"q_{i - len(pool) + 1}"
        i += 1


def _fmt(x: float) -> str:
    if x == int(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.4g}"


# ---------------------------------------------------------------------- stepping backward
@dataclass
class BackwardStep:
    """One node's chain-rule step: which node, and the gradient it added to each input."""

    node: Value
    contributions: list[tuple[Value, float, float]]  # (child, local derivative, amount added)


def backward(graph: Graph, steps: int | None = None) -> list[BackwardStep]:
    """Run the first ``steps`` chain-rule steps (all of them by default) from f.grad = 1.

    Every gradient is reset first, so calling this with 0, 1, 2, … replays the backward pass up to
    that node; the page stores only the step count.
    """
    for n in graph.nodes:
        n.grad = 0.0
    graph.output.grad = 1.0
    total = graph.n_steps if steps is None else max(0, min(steps, graph.n_steps))
    done: list[BackwardStep] = []
    for node in graph.ops[:total]:
        contributions = []
        for child, local in zip(node.children, node.local):
            amount = local * node.grad
            child.grad += amount
            contributions.append((child, local, amount))
        done.append(BackwardStep(node, contributions))
    return done


def node_definition(node: Value) -> str:
    """LaTeX of how a node is computed, e.g. 'q = x + y'."""
    c = [ch.label or _fmt(ch.data) for ch in node.children]
    if node.op in ("+", "-", "*", "/"):
        body = f"{c[0]} {_OP_SYMBOL[node.op]} {c[1]}"
    elif node.op == "**":
        body = f"{c[0]}^{{{_fmt(node.exponent)}}}" if node.exponent is not None else f"{c[0]}^{{{c[1]}}}"
    elif node.op == "neg":
        body = f"-{c[0]}"
    elif node.op == "sigmoid":
        body = rf"\sigma({c[0]})"
    elif node.op == "relu":
        body = rf"\mathrm{{relu}}({c[0]})"
    elif node.op:
        body = rf"\{node.op}({c[0]})"
    else:
        return f"{node.label} = {_fmt(node.data)}"
    return f"{node.label} = {body}"
