"""Reading a recorded graph for people: its nodes, the real backward pass, BP1–BP4 on it.

``explain_backward(loss)`` prints the steps of the engine's backward pass as a table:
step number, operation, its rule, the shapes, and a summary of each gradient produced.
Everything here only *reads* the tape; ``draw.py`` (the diagrams) builds on the same
reading, so a picture and a table of one graph always agree.

- ``read_tape(tensor)``: every node behind a tensor, in tape order, with who consumes
  what, and the values and shapes the tape still holds.
- ``traced_backward(tensor)``: the engine's real backward pass
  (``gradients(..., retain_graph=True)`` inside ``trace_backward()``): the order and
  every gradient, with no ``.grad`` changed and the graph kept. Hooks registered with
  ``register_hook`` are user code (they may print, count, or change a gradient), so
  they are set aside for that pass and put back: reading a graph runs none of them.
- ``find_bp_layers(tape)``: where a weighted input z = a Wᵀ + b (or W a + b) feeds a
  sigmoid, recognised from the engine's own operations (``transpose``, ``matmul``,
  ``add``, ``sigmoid``; or one fused ``dense`` node), and which VJP computes which of
  Nielsen's BP1–BP4 there.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Iterable
from typing import Any

import numpy as np

from .backward import BackwardTrace, gradients, trace_backward
from .errors import BackwardError
from .node import Node, NotSaved
from .primitive import Primitive
from .tensor import Tensor

# ------------------------------------------------------------------ reading the tape


@dataclasses.dataclass
class Value:
    """What is known of one tensor of the graph: shape, dtype, and its values when available.

    ``how`` says where the values come from: "output" (the tensor drawn), "leaf" (the
    leaf tensor's current values), "kept" (saved on the tape for a rule: ``source``
    names which), "recomputed" (replayed from kept values), or "" (not known).
    """

    shape: tuple[int, ...] | None = None
    dtype: Any = None
    data: Any = None
    how: str = ""
    source: str = ""


@dataclasses.dataclass
class Constant:
    """An input of an operation that needs no gradient: data, a target, a literal such as 2.0."""

    consumer: Node
    index: int
    value: Value
    name: str | None = None      # the Tensor's name, when the tape kept the Tensor itself


class Tape:
    """The recorded graph behind ``tensor``: read, never changed.

    ``nodes``: every node (operations and leaves) in tape order (``seq``); ``consumers``:
    for each node, the (operation, input index) pairs that read its output; ``constants``:
    every operation input with no node (``parents[i]`` is None); ``value(node)``: what is
    known of each node's output. ``released`` is True when a backward pass without
    ``retain_graph`` has freed the saved values of some operation.
    """

    def __init__(self, tensor: Tensor) -> None:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"expected a Tensor, got {type(tensor).__name__}")
        self.tensor = tensor
        self.root: Node | None = tensor._node
        self.nodes: list[Node] = []
        self.consumers: dict[Node, list[tuple[Node, int]]] = {}
        self.values: dict[Node, Value] = {}
        self._constants: dict[tuple[Node, int], Constant] = {}
        if self.root is None:
            self.released = False
            return
        seen = {self.root}
        stack = [self.root]
        while stack:                       # iterative: a chain of a million nodes is fine
            node = stack.pop()
            self.nodes.append(node)
            self.consumers.setdefault(node, [])
            for index, parent in enumerate(node.parents):
                if parent is None:
                    continue
                self.consumers.setdefault(parent, []).append((node, index))
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        self.nodes.sort(key=lambda n: n.seq)
        for uses in self.consumers.values():
            uses.sort(key=lambda use: (use[0].seq, use[1]))
        self.released = any(node.released for node in self.nodes)

    @property
    def operations(self) -> list[Node]:
        return [node for node in self.nodes if node.op is not None]

    @property
    def leaves(self) -> list[Node]:
        return [node for node in self.nodes if node.op is None]

    def value(self, node: Node) -> Value:
        """What is known of ``node``'s output (or leaf): read from the tape on first asking."""
        value = self.values.get(node)
        if value is None:
            value = self.values[node] = self._value_of(node)
        return value

    def constant(self, node: Node, index: int) -> Constant:
        """Input ``index`` of operation ``node``, which has no node: a constant."""
        key = (node, index)
        constant = self._constants.get(key)
        if constant is None:
            kept = node.saved[index] if node.saved is not None else None
            value = Value()
            name = None
            if kept is not None:
                value.shape, value.dtype = tuple(np.shape(kept)), _dtype_of(kept)
                if not isinstance(kept, NotSaved):
                    value.data, value.how, value.source = kept, "kept", f"{node.op.name}'s rule"
                else:
                    name = kept.name
                    if kept.literal is not None:        # a number written in the expression
                        value.data, value.how, value.source = np.asarray(kept.literal), "kept", "a literal"
            tensor = next((t for i, t, _ in (node.watched or ()) if i == index), None)
            if tensor is not None:
                name = tensor.name
            constant = self._constants[key] = Constant(node, index, value, name)
        return constant

    @property
    def constants(self) -> list[Constant]:
        """Every input of every operation that has no node, in tape order."""
        return [self.constant(node, index) for node in self.nodes if node.op is not None
                for index, parent in enumerate(node.parents) if parent is None]

    def _value_of(self, node: Node) -> Value:
        if node is self.root:
            data = self.tensor.data
            return Value(data.shape, data.dtype, data, "output")
        tensor = node.tensor            # a leaf, or a tensor that called retain_grad()
        if tensor is not None:
            return Value(tensor.shape, tensor.dtype, tensor.data, "leaf" if node.op is None else "kept",
                         "" if node.op is None else "retain_grad()")
        if node.op is not None and isinstance(node.out, np.ndarray):
            return Value(node.out.shape, node.out.dtype, node.out, "kept", f"{node.op.name}'s rule (out)")
        value = Value()
        for consumer, index in self.consumers.get(node, ()):
            if consumer.saved is None:
                continue
            kept = consumer.saved[index]
            value.shape, value.dtype = tuple(np.shape(kept)), _dtype_of(kept)
            if not isinstance(kept, NotSaved):
                return Value(value.shape, value.dtype, kept, "kept", f"{consumer.op.name}'s rule")
        return value

    def recompute(self) -> int:
        """Fill in unknown values by replaying the recorded forward functions; returns how many.

        Only the engine's own primitives are replayed (pure numpy functions), in tape
        order, where every input is known; a custom ``Function`` is user code and is not
        run again. The graph is not changed.
        """
        constants: dict[tuple[Node, int], Any] = {
            (c.consumer, c.index): c.value.data for c in self.constants if c.value.data is not None}
        count = 0
        for node in self.nodes:
            value = self.value(node)
            if value.data is not None or node.op is None or type(node.op) is not Primitive:
                continue
            inputs = []
            for index, parent in enumerate(node.parents):
                known = self.value(parent).data if parent is not None else constants.get((node, index))
                if known is None:
                    break
                inputs.append(known)
            else:
                try:
                    with np.errstate(all="ignore"):
                        out = np.asarray(node.op.forward(*inputs, **node.params))
                except Exception:       # a replay that fails leaves the value unknown
                    continue
                self.values[node] = Value(out.shape, out.dtype, out, "recomputed")
                count += 1
        return count


def _dtype_of(value: Any) -> Any:
    return value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype


def bar(name: str) -> str:
    """The gradient's name in the rules' notation: x̄ for x; ∂/∂xs[1] for longer names."""
    return name + "\u0304" if len(name) == 1 else f"∂/∂{name}"


def input_name(node: Node, index: int) -> str:
    """The rule vocabulary's name of input ``index``: x, y, ... (xs[i] for variadic inputs)."""
    op = node.op
    names = getattr(op, "input_names", ())
    if getattr(op, "variadic", False):
        return f"{names[0] if names else 'xs'}[{index}]"
    return names[index] if index < len(names) else f"input {index}"


# ------------------------------------------------------------------ the real backward pass


def traced_backward(tensor: Tensor, tape: Tape | None = None) -> BackwardTrace:
    """Run the engine's backward pass from ``tensor`` and return its trace; nothing changes.

    ``gradients(tensor, [], retain_graph=True)`` inside ``trace_backward()``: the same loop
    as ``tensor.backward()``, in the same order, but it fills no ``.grad`` and frees nothing.
    A tensor with more than one element is seeded with ones (as ``tensor.sum()`` would be).
    The user's hooks (``register_hook``) do not run: the gradients are the rules' own, as
    they are before any hook changes them (``hooks_on`` counts what was set aside).
    """
    tape = tape if tape is not None else Tape(tensor)
    seed = None if tensor.data.size == 1 else np.ones_like(tensor.data)
    with trace_backward(run_hooks=False) as trace:
        gradients(tensor, [], grad_outputs=seed, retain_graph=True)
    return trace


def hooks_on(tape: Tape) -> int:
    """How many hooks (``register_hook``) wait on the graph: ``traced_backward`` runs none."""
    return sum(len(node.hooks) for node in tape.nodes if node.hooks)


def hooks_note(count: int) -> str:
    """The sentence that says the gradients shown are from before the user's hooks."""
    hooks = "1 hook" if count == 1 else f"{count} hooks"
    return (f"{hooks} registered with register_hook() did not run here: the gradients shown are "
            "the rules' own, before any hook changes them; loss.backward() runs them.")


# ------------------------------------------------------------------ BP1–BP4 on the tape

SUPERSCRIPTS = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


def sup(number: int | str) -> str:
    """``sup(3) == "³"``: layer indices as Nielsen writes them."""
    return str(number).translate(SUPERSCRIPTS)


@dataclasses.dataclass
class BPLayer:
    """One layer z^l = a^{l−1} (W^l)ᵀ + b^l (or W^l a^{l−1} + b^l), a^l = σ(z^l), found on the tape.

    The nodes are those of the engine's operations: ``z`` is the ``add`` (or the fused
    ``dense``) whose output is z^l, ``activation`` the ``sigmoid``. ``weight``,
    ``bias`` and ``input`` are the nodes of W^l, b^l and a^{l−1} (None where that
    value is a constant, so no gradient is computed for it). ``l`` follows Nielsen:
    the input is a¹, the first weighted layer is 2.
    """

    l: int  # noqa: E741  (Nielsen's name for the layer index)
    z: Node
    activation: Node
    matmul: Node | None = None
    add: Node | None = None
    transpose: Node | None = None
    weight: Node | None = None
    bias: Node | None = None
    input: Node | None = None
    input_index: int = 0               # which input of matmul (or dense) is a^{l−1}
    weight_index: int = 1              # which input of matmul carries W (or Wᵀ)
    bias_index: int = 1                # which input of add is b
    fused: bool = False
    output: bool = False               # the last layer: its δ is BP1's


@dataclasses.dataclass
class BPMark:
    """Which of BP1–BP4 a node's rule computes (``equation``: "BP1"...), and how, in words."""

    equation: str
    text: str
    input_index: int | None = None     # the input whose rule it is (None: the node's only rule)


class BPLayers:
    """The layers ``find_bp_layers`` recognised, and what to write where."""

    def __init__(self, layers: list[BPLayer]) -> None:
        self.layers = layers
        self.by_z = {layer.z: layer for layer in layers}
        self.marks: dict[Node, list[BPMark]] = {}
        self.names: dict[Node, str] = {}          # z², a², W², b², and the data a¹
        self.constant_names: dict[tuple[Node, int], str] = {}    # a¹ and y, when constants
        self.constant_roles: dict[tuple[Node, int], str] = {}    # "the input", "the target"
        for layer in layers:
            self._mark(layer)

    def name_target(self, consumer: Node, index: int) -> None:
        """Input ``index`` of ``consumer`` is y, the target the output activation is compared with."""
        self.constant_names[(consumer, index)] = "y"
        self.constant_roles[(consumer, index)] = "the target"

    def __len__(self) -> int:
        return len(self.layers)

    def delta(self, node: Node) -> str | None:
        """"δ³" when ``node``'s output is some z^l, else None."""
        layer = self.by_z.get(node)
        return None if layer is None else f"δ{sup(layer.l)}"

    def _add(self, node: Node | None, mark: BPMark) -> None:
        if node is not None:
            self.marks.setdefault(node, []).append(mark)

    def _mark(self, layer: BPLayer) -> None:
        l, below = sup(layer.l), sup(layer.l - 1)  # noqa: E741  (Nielsen's names)
        self.names[layer.z] = f"z{l}"
        self.names[layer.activation] = f"a{l}"
        if layer.weight is not None:
            self.names.setdefault(layer.weight, f"W{l}")
        if layer.bias is not None:
            self.names.setdefault(layer.bias, f"b{l}")
        if layer.input is not None:
            self.names.setdefault(layer.input, f"a{below}")
        else:
            self.constant_names[(layer.matmul or layer.z, layer.input_index)] = f"a{below}"
            self.constant_roles[(layer.matmul or layer.z, layer.input_index)] = "the input"
        if layer.output:
            self._add(layer.activation, BPMark(
                "BP1", f"δ{l} = ∇ₐC ⊙ σ′(z{l}): sigmoid's rule x̄ = g ⊙ z(1 − z), with g = ∇ₐC"))
        else:
            self._add(layer.activation, BPMark(
                "BP2", f"δ{l} = (…) ⊙ σ′(z{l}): sigmoid's rule x̄ = g ⊙ z(1 − z) completes BP2"))
        if layer.fused:
            self._add(layer.z, BPMark(
                "fused", "one fused 'dense' node: BP2–BP4 are computed inside it by hand-written rules, "
                "so the equations are hidden. Dense(..., fused=False) shows them as "
                "transpose, matmul and add."))
            return
        if layer.weight is not None:
            how = ("matmul's rule ȳ = xᵀ g, then transpose's rule turns it into W̄"
                   if layer.transpose is not None else "matmul's rule x̄ = g yᵀ")
            self._add(layer.matmul, BPMark("BP4", f"∂C/∂W{l} = δ{l} (a{below})ᵀ: {how}",
                                           layer.weight_index))
        if layer.input is not None:
            rule = "x̄ = g yᵀ" if layer.input_index == 0 else "ȳ = xᵀ g"
            self._add(layer.matmul, BPMark(
                "BP2", f"(W{l})ᵀ δ{l}, the first half of δ{below}: matmul's rule {rule}",
                layer.input_index))
        if layer.bias is not None:
            self._add(layer.add, BPMark(
                "BP3", f"∂C/∂b{l} = δ{l}: add's rule passes g on; the engine sums it over the batch",
                layer.bias_index))


def find_bp_layers(tape: Tape) -> BPLayers:
    """Every z = a Wᵀ + b (or W a + b, or a fused ``dense``) that feeds a ``sigmoid``, as layers."""
    layers: dict[Node, BPLayer] = {}          # by the activation node
    for node in tape.nodes:
        if node.op is None or node.op.name != "sigmoid" or node.parents[0] is None:
            continue
        layer = _layer_under(node)
        if layer is None:
            continue
        below = layers.get(layer.input) if layer.input is not None else None
        layer.l = below.l + 1 if below is not None else 2
        layers[node] = layer
    feeding = {layer.input for layer in layers.values()}
    for activation, layer in layers.items():
        layer.output = activation not in feeding
    found = BPLayers(sorted(layers.values(), key=lambda layer: layer.z.seq))
    for activation, layer in layers.items():
        # The cost compares a^L with the target: a^L − y (or y − a^L) where y is a constant.
        for consumer, index in tape.consumers.get(activation, ()) if layer.output else ():
            if consumer.op.name == "sub" and consumer.parents[1 - index] is None:
                found.name_target(consumer, 1 - index)
    return found


def _layer_under(activation: Node) -> BPLayer | None:
    z = activation.parents[0]
    if z.op is None:
        return None
    if z.op.name == "dense" and len(z.parents) == 3:
        return BPLayer(0, z, activation, weight=z.parents[1], bias=z.parents[2], input=z.parents[0],
                       fused=True)
    if z.op.name != "add":
        return None
    for bias_index in (1, 0):
        product = z.parents[1 - bias_index]
        if product is None or product.op is None or product.op.name != "matmul":
            continue
        left, right = product.parents
        if right is not None and right.op is not None and right.op.name == "transpose":
            # a Wᵀ: the transpose of W is matmul's right input
            return BPLayer(0, z, activation, product, z, right, right.parents[0], z.parents[bias_index],
                           left, 0, 1, bias_index)
        if left is not None and left.op is None:
            # W a: a leaf W is matmul's left input
            return BPLayer(0, z, activation, product, z, None, left, z.parents[bias_index], right, 1, 0,
                           bias_index)
        if right is None and left is not None:
            # a Wᵀ with a constant W (a frozen layer): no BP4, but BP2 and BP3 still hold
            return BPLayer(0, z, activation, product, z, None, None, z.parents[bias_index], left, 0, 1,
                           bias_index)
    return None


# ------------------------------------------------------------------ summaries of values


def number(value: Any, digits: int = 4) -> str:
    """A number in at most ``digits`` significant digits; whole numbers without a decimal point."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.{digits}g}"
    # A value must not read as a whole number it is not (1.0000001 as 1, 0.99999 as 1):
    # take a digit more until it does not.
    while isinstance(value, float) and math.isfinite(value) and digits < 16 and not set(text) & {".", "e"}:
        digits += 1
        text = f"{value:.{digits}g}"
    return text


def shape_text(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "shape freed"
    return "scalar" if shape == () else "×".join(map(str, shape))


def summarize(data: Any, max_chars: int = 44) -> str:
    """A short summary of an array: the values when few, else "mean m in [min, max]"."""
    if data is None or isinstance(data, NotSaved):
        return "value not kept"
    array = np.asarray(data)
    if array.size == 0:
        return "empty"
    if array.size <= 4:
        text = number(array.ravel()[0], 6) if array.size == 1 else \
            "[" + ", ".join(number(v) for v in array.ravel()) + "]"
    elif array.dtype.kind in "biuf":
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        if finite.size and finite.min() == finite.max():
            text = f"all {number(finite.min())}"
        elif finite.size:
            low, mean, high = (number(v, 3) for v in (finite.min(), finite.mean(), finite.max()))
            text = f"mean {mean} in [{low}, {high}]"
        else:
            text = ""
        bad = array.size - finite.size
        if bad:
            text += (", " if text else "") + f"{bad} not finite"
    else:
        text = str(array.dtype)
    return shorten(text, max_chars)


def shorten(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max(max_chars - 1, 1)] + "…"


def full_text(data: Any, elements: int = 120) -> str:
    """The values in full up to ``elements`` of them (numpy elides the middle of larger ones)."""
    if data is None or isinstance(data, NotSaved):
        return "value not kept"
    return np.array2string(np.asarray(data), precision=5, threshold=elements, max_line_width=100,
                           separator=", ")


# ------------------------------------------------------------------ explain_backward


@dataclasses.dataclass
class ExplainedStep:
    """One row of ``explain_backward``: a node the backward pass processed."""

    step: int
    node: Node
    operation: str
    formula: str
    shapes: str
    produced: list[str]
    marks: list[str]


class BackwardTable(str):
    """The text of ``explain_backward``; ``.steps`` holds the rows, ``.trace`` the engine's trace.

    A ``str``, so ``print`` shows it; in a notebook it shows as an HTML table.
    """

    steps: list[ExplainedStep]
    trace: BackwardTrace

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in _HEADERS)
        rows = []
        for row in self.steps:
            cells = [str(row.step), row.operation + "".join(f" [{m}]" for m in row.marks), row.formula,
                     row.shapes, "<br>".join(html.escape(p) for p in row.produced)]
            rows.append("<tr>" + "".join(f"<td style='text-align:left'>{c if i == 4 else html.escape(c)}</td>"
                                         for i, c in enumerate(cells)) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


_HEADERS = ("step", "operation", "rule (vector-Jacobian product)", "inputs → output", "gradients produced")


def explain_backward(loss: Tensor, *, bp: bool = False, max_chars: int = 44,
                     width: int = 46) -> BackwardTable:
    """The engine's backward pass from ``loss`` as a table, one row per node processed.

    Each row: the step number in the engine's real order (``trace_backward``), the
    operation (or the leaf, whose ``.grad`` backward() would fill), its rule from the
    rules table, the input and output shapes, and a summary of each gradient it
    produced: g, the gradient arriving at its output, and one per input. Nothing
    changes: no ``.grad`` is written and the graph is kept (``retain_graph=True``), so
    it works before ``loss.backward()`` and after ``loss.backward(retain_graph=True)``.
    ``bp=True`` adds where BP1–BP4 are computed, when the graph has Nielsen's layers.
    ``max_chars`` limits each summary, ``width`` the rule column.
    """
    tape = Tape(loss)
    if tape.root is None:
        raise BackwardError(
            f"explain_backward(): the tensor (shape {loss.shape}) does not require grad, so no "
            "operation was recorded and there is no backward pass to explain. Create the "
            "parameters with requires_grad=True.")
    if tape.released:
        raise BackwardError(
            "explain_backward(): backward() already ran through this graph without "
            "retain_graph=True and freed the values its rules need, so the pass cannot be "
            "replayed. Call explain_backward(loss) before loss.backward(), or use "
            "loss.backward(retain_graph=True).")
    trace = traced_backward(loss, tape)
    layers = find_bp_layers(tape) if bp else BPLayers([])
    steps = []
    for number_, step in enumerate(trace, start=1):
        steps.append(_explain_step(number_, step, tape, layers, max_chars))
    text = _table(steps, width)
    hooks = hooks_on(tape)
    if hooks:
        text += "\n\n" + hooks_note(hooks)
    table = BackwardTable(text)
    table.steps = steps
    table.trace = trace
    return table


def _label(node: Node, tape: Tape, layers: BPLayers) -> str:
    name = node.name or (node.tensor.name if node.tensor is not None else None)
    nickname = layers.names.get(node)
    parts = [f"leaf {name or '(unnamed)'}" if node.op is None else node.op.name]
    if node.op is not None and name:
        parts.append(f"'{name}'")
    if nickname:
        parts.append(f"→ {nickname}" if node.op is not None else f"({nickname})")
    return " ".join(parts)


def _explain_step(step_number: int, step: Any, tape: Tape, layers: BPLayers, max_chars: int) -> ExplainedStep:
    node, g = step.node, step.grad
    out_shape = shape_text(tuple(np.shape(g)))
    delta = layers.delta(node)
    arriving = f"g = {delta} = " if delta else "g = "
    seed = " (the seed)" if node is tape.root else ""
    produced = [arriving + summarize(g, max_chars) + seed]
    if node.op is None:
        name = node.name or (node.tensor.name if node.tensor is not None else None)
        return ExplainedStep(step_number, node, _label(node, tape, layers),
                             f"a leaf: backward() adds g to {name + '.grad' if name else 'its .grad'}",
                             out_shape, [f"∂/∂{name or 'leaf'} = {summarize(g, max_chars)}"], [])
    inputs = []
    for index, value in enumerate(node.saved):
        inputs.append(shape_text(tuple(np.shape(value))))
        grad = step.input_grads[index] if index < len(step.input_grads) else None
        name = bar(input_name(node, index))
        if grad is None:
            produced.append(f"{name}: none (a constant)")
        else:
            produced.append(f"{name} = {summarize(grad, max_chars)}")
    marks = [mark.equation for mark in layers.marks.get(node, ())]
    return ExplainedStep(step_number, node, _label(node, tape, layers), node.op.formula,
                         ", ".join(inputs) + " → " + out_shape, produced, marks)


def _table(steps: list[ExplainedStep], width: int) -> str:
    rows = []
    for row in steps:
        operation = row.operation + ("  [" + ", ".join(row.marks) + "]" if row.marks else "")
        rows.append([str(row.step), operation, textwrap.wrap(row.formula, width) or [""],
                     textwrap.wrap(row.shapes, 28) or [""], row.produced])
    cells = [[[c] if isinstance(c, str) else c for c in r] for r in rows]
    widths = [len(h) for h in _HEADERS]
    for row in cells:
        for column, lines in enumerate(row):
            widths[column] = max(widths[column], *(len(line) for line in lines))
    widths[-1] = 0                       # the last column is not padded

    def line(parts: Iterable[str]) -> str:
        return "  ".join(part.ljust(w) if c < len(widths) - 1 else part
                         for c, (part, w) in enumerate(zip(parts, widths))).rstrip()

    out = [line(_HEADERS), line("─" * max(w, len(h)) for w, h in zip(widths, _HEADERS))]
    for row in cells:
        height = max(len(lines) for lines in row)
        for k in range(height):
            out.append(line((lines[k] if k < len(lines) else "") for lines in row))
    return "\n".join(out)
