"""``python -m autograd_core``: draw a recorded graph, or explain its backward pass, from the shell.

    python -m autograd_core draw nielsen --grads --bp -o nielsen.png
    python -m autograd_core draw --expr "(w @ x + b).sigmoid()" --var w=[0.8,0.3] --var b=0.1 \\
        --const x=[0.5,-1.5]
    python -m autograd_core explain micrograd

Examples are built here with plain ``Tensor`` expressions (the engine never imports
``nn``). An ``--expr`` is read by a small interpreter over Python's syntax tree, which
knows numbers, the variables given, arithmetic (+ − * / ** @), the tensor methods
listed in ``--help`` and nothing else: no names, attributes or calls of its own, so
no code runs that the expression does not spell out.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .animate import animate_backward
from .draw import draw
from .explain import explain_backward
from .tensor import Tensor

# ------------------------------------------------------------------ the named examples


# Each example returns its output and its leaves: the tape holds leaves only weakly (a node
# points at the tensor whose .grad it fills), so the caller keeps them alive while drawing.
Example = tuple[Tensor, list[Tensor]]     # (the output, its leaves)


def neuron() -> Example:
    """One sigmoid neuron and its quadratic cost: C = ½(σ(w·x + b) − y)², x and y constants."""
    x = Tensor([0.5, -1.5], name="x")
    w = Tensor([0.8, 0.3], requires_grad=True, name="w")
    b = Tensor(0.1, requires_grad=True, name="b")
    z = w @ x + b
    z.name = "z"
    a = z.sigmoid()
    a.name = "a"
    cost = 0.5 * (a - 1.0) ** 2
    cost.name = "C"
    return cost, [w, b]


def nielsen(batch: int = 10, seed: int = 0) -> Example:
    """Nielsen's 784-30-10 sigmoid network with the quadratic cost, on one mini-batch of 10.

    Written as ``nn`` computes it (z = a Wᵀ + b, C = (1/2n) Σ‖a − y‖²), with the same
    parameter names per layer, so the diagram groups each layer. The pixels are random
    numbers in [0, 1) and the labels random digits: the graph is what matters here.
    """
    rng = np.random.default_rng(seed)
    x = Tensor(rng.random((batch, 784)), name="x")
    y = Tensor(np.eye(10)[rng.integers(0, 10, size=batch)], name="y")
    a, leaves = x, []
    for layer, (n_in, n_out) in zip((2, 3), ((784, 30), (30, 10))):
        W = Tensor(rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), requires_grad=True,
                   name=f"layer{layer}.W")
        b = Tensor(rng.standard_normal(n_out), requires_grad=True, name=f"layer{layer}.b")
        a = (a @ W.T + b).sigmoid()
        leaves += [W, b]
    diff = a - y
    cost = (diff * diff).sum() * (0.5 / batch)
    cost.name = "C"
    return cost, leaves


def micrograd() -> Example:
    """The expression from micrograd's README: g = 24.7041, dg/da = 138.8338, dg/db = 645.5773."""
    a = Tensor(-4.0, requires_grad=True, name="a")
    b = Tensor(2.0, requires_grad=True, name="b")
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.name = "g"
    return g, [a, b]


EXAMPLES: dict[str, Callable[[], Example]] = {"neuron": neuron, "nielsen": nielsen, "micrograd": micrograd}

# ------------------------------------------------------------------ --expr, read safely

#: The tensor methods an expression may call, as ``t.name(...)`` or ``name(t, ...)``.
METHODS = ("sigmoid", "tanh", "relu", "exp", "log", "sqrt", "sin", "cos", "abs", "sum", "mean", "max",
           "min", "softmax", "log_softmax", "reshape", "transpose")
_OPERATORS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__",
              ast.Pow: "__pow__", ast.MatMult: "__matmul__"}


class ExpressionError(ValueError):
    """An --expr uses something the interpreter does not allow."""


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """The value of ``expression`` with ``variables``: arithmetic and ``METHODS`` only."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"--expr is not a Python expression: {error.msg} in {expression!r}") from None
    return _evaluate(tree.body, variables)


def _evaluate(node: ast.AST, variables: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in variables:
            known = ", ".join(variables) or "none"
            raise ExpressionError(f"--expr uses {node.id!r}, which is not a variable (given: {known}); "
                                  f"add --var {node.id}=VALUE or --const {node.id}=VALUE")
        return variables[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left, variables), _evaluate(node.right, variables)
        return _binary(type(node.op), left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _evaluate(node.operand, variables)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return _tensor(_evaluate(node.value, variables), "T").T
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
            target, name, args = node.func.value, node.func.attr, node.args
        elif isinstance(node.func, ast.Name) and node.func.id in METHODS and node.args:
            target, name, args = node.args[0], node.func.id, node.args[1:]
        else:
            raise ExpressionError(f"--expr may call only these tensor methods: {', '.join(METHODS)}; "
                                  f"not {ast.unparse(node.func)!r}")
        tensor = _tensor(_evaluate(target, variables), name)
        values = [_literal(arg) for arg in args]
        options = {keyword.arg: _literal(keyword.value) for keyword in node.keywords}
        if None in options:
            raise ExpressionError("--expr: **keywords are not allowed")
        return getattr(tensor, name)(*values, **options)
    raise ExpressionError(f"--expr may use numbers, variables, + - * / ** @, .T and the methods "
                          f"{', '.join(METHODS)}; not {ast.unparse(node)!r}")


def _binary(op: type, left: Any, right: Any) -> Any:
    if not isinstance(left, Tensor) and not isinstance(right, Tensor):
        left = Tensor(left)                 # two numbers: the result is still a tensor
    if isinstance(left, Tensor):
        return getattr(left, _OPERATORS[op])(right)
    return getattr(right, "__r" + _OPERATORS[op][2:])(left)


def _tensor(value: Any, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise ExpressionError(f"--expr: .{name} is applied to a number; apply it to a variable or an "
                              "expression")
    return value


def _literal(node: ast.AST) -> Any:
    """A method's argument: a number, None, True/False or a tuple of them (axis=(0, 1))."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise ExpressionError(f"--expr: a method's arguments must be literal numbers, not "
                              f"{ast.unparse(node)!r}") from None
    allowed = (int, float, bool, type(None))
    axes = isinstance(value, tuple) and all(isinstance(v, int) for v in value)
    if not (isinstance(value, allowed) or axes):
        raise ExpressionError(f"--expr: unsupported argument {ast.unparse(node)!r}")
    return value


_RANDOM = re.compile(r"^(randn|rand|zeros|ones)\((\s*\d+\s*(?:,\s*\d+\s*)*)\)$")


def parse_variable(text: str, requires_grad: bool, rng: np.random.Generator) -> tuple[str, Tensor]:
    """``NAME=VALUE``: a number, a nested list of numbers, or randn(3,2), rand(..), zeros(..), ones(..)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ExpressionError(f"--var/--const expects NAME=VALUE (for example x=2.0, w=[1,2], W=randn(3,2)), "
                              f"got {text!r}")
    match = _RANDOM.match(value.strip())
    if match:
        shape = tuple(int(n) for n in match.group(2).split(","))
        kind = match.group(1)
        data = {"randn": lambda: rng.standard_normal(shape), "rand": lambda: rng.random(shape),
                "zeros": lambda: np.zeros(shape), "ones": lambda: np.ones(shape)}[kind]()
    else:
        try:
            data = np.asarray(ast.literal_eval(value.strip()), dtype=np.float64)
        except (ValueError, SyntaxError, TypeError):
            raise ExpressionError(f"--var/--const {name}: {value!r} is not a number, a list of numbers, or "
                                  "randn(...), rand(...), zeros(...), ones(...)") from None
    return name, Tensor(data, requires_grad=requires_grad, name=name)


# ------------------------------------------------------------------ the command line

# html: the step-through page of the backward pass (animate_backward), not a drawing.
FORMATS = ("svg", "png", "dot", "html")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograd_core",
        description="Draw the graph the engine records (SVG, PNG, DOT or the step-through HTML page), "
                    "or explain its backward pass step by step.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples_help())
    commands = parser.add_subparsers(dest="command", required=True, metavar="{draw,explain}")
    drawing = commands.add_parser(
        "draw", help="write a diagram of the graph: SVG, PNG, DOT or the step-through HTML page",
        description="Write a diagram of the recorded graph: every tensor (name, shape, dtype, values),\n"
                    "every operation (hover in SVG for its rule), every input including constants.\n\n"
                    "With --format html (or -o FILE.html), write instead the page that steps through the\n"
                    "backward pass in a browser (animate_backward): the page uses --rankdir and --title,\n"
                    "and marks BP1–BP4 wherever Nielsen's layers are found.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples_help())
    explaining = commands.add_parser(
        "explain", help="print the backward pass as a table (explain_backward)",
        description="Print the engine's backward pass as a table: step, operation, rule, shapes, gradients.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples_help())
    for command in (drawing, explaining):
        command.set_defaults(command_parser=command)      # for its own error messages
        _add_source(command)
        command.add_argument("--bp", action="store_true",
                             help="mark δˡ and the rules computing Nielsen's BP1–BP4, where "
                                  "z = a·Wᵀ + b feeds a sigmoid")
        command.add_argument("--max-chars", type=int, default=44, metavar="N",
                             help="shorten value summaries to N characters (default 44)")
    drawing.add_argument("-o", "--output", metavar="FILE",
                         help="where to write: FILE.svg, FILE.png, FILE.dot or FILE.html (default: "
                              "EXAMPLE.svg); '-' writes SVG, PNG or DOT to standard output")
    drawing.add_argument("--format", choices=FORMATS,
                         help="output format (default: from the output file's suffix, else svg); "
                              "html: the step-through page of the backward pass")
    drawing.add_argument("--grads", action="store_true",
                         help="show every gradient, computed by the engine's backward pass "
                              "(no .grad changes)")
    drawing.add_argument("--values", choices=("kept", "recompute", "none"), default="kept",
                         help="kept: the values the tape holds (default); recompute: replay the forward "
                              "operations to fill in the rest; none: shapes only")
    drawing.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                         help="TB: top to bottom (default); LR: left to right")
    drawing.add_argument("--collapse", action="append", default=[], metavar="LAYER",
                         help="draw the layer LAYER (a parameter-name prefix such as layer2) as one box; "
                              "repeatable")
    drawing.add_argument("--collapse-all", action="store_true", help="draw every layer as one box")
    drawing.add_argument("--max-nodes", type=int, default=300, metavar="N",
                         help="above N boxes, fold layers and repeated structure (default 300)")
    drawing.add_argument("--tooltip-elements", type=int, default=120, metavar="N",
                         help="numbers shown in full in an SVG tooltip before eliding (default 120)")
    drawing.add_argument("--no-legend", action="store_true", help="leave out the legend")
    drawing.add_argument("--title", help="a title under the diagram")
    return parser


def _add_source(command: argparse.ArgumentParser) -> None:
    command.add_argument("example", nargs="?", choices=tuple(EXAMPLES),
                         help="a named example: " + ", ".join(EXAMPLES) + " (see below)")
    command.add_argument("--expr", metavar="EXPRESSION",
                         help="an expression of the variables, instead of an example: numbers, + - * / ** @, "
                              ".T and the methods " + ", ".join(METHODS))
    command.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                         help="a variable that requires grad: a number, a list (w=[1,2]), or randn(3,2), "
                              "rand(..), zeros(..), ones(..); repeatable")
    command.add_argument("--const", action="append", default=[], metavar="NAME=VALUE",
                         help="a constant (no gradient), written as for --var; repeatable")
    command.add_argument("--seed", type=int, default=0, help="seed for randn(...) and rand(...) (default 0)")


def _examples_help() -> str:
    lines = ["examples:"]
    for name, build in EXAMPLES.items():
        lines.append(f"  {name:10s} {build.__doc__.splitlines()[0]}")
    lines += [
        "",
        "for instance:",
        "  python -m autograd_core draw nielsen --grads --bp -o nielsen.png",
        "  python -m autograd_core draw neuron --grads --bp --values recompute -o neuron.svg",
        "  python -m autograd_core draw nielsen -o backward.html     (step through the backward pass)",
        "  python -m autograd_core draw --expr \"(w @ x + b).sigmoid()\" --var w=[0.8,0.3] "
        "--const x=[0.5,-1.5] --var b=0.1 --grads",
        "  python -m autograd_core explain micrograd",
        "",
        "Rendering SVG, PNG or HTML needs the Graphviz dot program (apt-get install graphviz, brew install "
        "graphviz); DOT output needs only the graphviz Python package (pip install autograd-core[diagrams]).",
    ]
    return "\n".join(lines)


def source_tensor(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Example:
    """The tensor to draw or explain and its leaves: a named example, or --expr with its variables."""
    if args.expr is None:
        if args.example is None:
            parser.error("give an example (" + ", ".join(EXAMPLES) + ") or --expr EXPRESSION")
        if args.var or args.const:
            parser.error("--var and --const go with --expr, not with a named example")
        return EXAMPLES[args.example]()
    if args.example is not None:
        parser.error("give either an example or --expr, not both")
    rng = np.random.default_rng(args.seed)
    try:
        variables = dict(parse_variable(text, True, rng) for text in args.var)
        variables.update(parse_variable(text, False, rng) for text in args.const)
        result = evaluate(args.expr, variables)
    except ExpressionError as error:
        parser.error(str(error))
    except (ValueError, TypeError) as error:       # shapes that do not fit, say
        parser.error(f"--expr {args.expr!r} failed: {error}")
    if not isinstance(result, Tensor):
        parser.error(f"--expr {args.expr!r} is a plain number; use at least one --var")
    return result, list(variables.values())


def write(diagram: Any, output: str, fmt: str) -> None:
    """Write ``diagram`` as ``fmt`` to the file ``output`` ('-': standard output)."""
    data = diagram.source.encode("utf-8") if fmt == "dot" else diagram.pipe(format=fmt)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with open(output, "wb") as file:
        file.write(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tensor, leaves = source_tensor(args, args.command_parser)   # leaves: kept alive while drawing
    if args.command == "explain":
        print(explain_backward(tensor, bp=args.bp, max_chars=args.max_chars))
        return 0
    output = args.output or f"{args.example or 'expression'}.{args.format or 'svg'}"
    suffix = os.path.splitext(output)[1].lstrip(".").lower()
    fmt = args.format or {"gv": "dot"}.get(suffix, suffix if suffix in FORMATS else "svg")
    collapse = True if args.collapse_all else tuple(args.collapse)
    if fmt == "html":
        if output == "-":
            print("python -m autograd_core draw: the step-through page needs a file (-o page.html)",
                  file=sys.stderr)
            return 1
        try:
            animate_backward(tensor, output, rankdir=args.rankdir, title=args.title)
        except (ImportError, RuntimeError, ValueError) as error:
            print(f"python -m autograd_core draw: {error}", file=sys.stderr)
            return 1
        print(f"wrote {output}: step through the backward pass in a browser (no network needed)")
        return 0
    try:
        diagram = draw(tensor, grads=args.grads, bp=args.bp, values=args.values, collapse=collapse,
                       rankdir=args.rankdir, max_chars=args.max_chars, max_nodes=args.max_nodes,
                       tooltip_elements=args.tooltip_elements, legend=not args.no_legend, title=args.title)
        write(diagram, output, fmt)
    except (ImportError, RuntimeError, ValueError) as error:
        print(f"python -m autograd_core draw: {error}", file=sys.stderr)
        if isinstance(error, RuntimeError) and "dot program" in str(error):
            print("From the command line, -o FILE.dot writes the DOT source without it.", file=sys.stderr)
        return 1
    if output != "-":
        print(f"wrote {output}" + "".join(f"\n  {note}" for note in diagram.notes))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:             # `... | head` stopped reading: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
