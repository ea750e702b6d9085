"""Diagrams of the recorded graph: ``draw(tensor, ...)`` returns a ``graphviz.Digraph``.

The top layer of the package: it reads the tape (through ``explain.py``) and nothing
in the engine knows it exists. Drawing never changes the graph or any ``.grad``.

What is drawn: one box per tensor (name, shape and dtype, a summary of its values,
with ``grads=True`` its gradient) and one ellipse per operation (hover for its rule
from the rules table), with an arrow for every input of every operation, constants
included (the data batch, the target, literals such as 2.0). Parameters, constants,
intermediate tensors and the output have their own colours, explained by a legend.

Values: a node of the tape keeps only what its rules declared (``node.saved``, and
``node.out`` when a rule reads the output), not its output tensor. So by default
(``values="kept"``) a box shows the values the tape really holds (kept for a rule,
a leaf's current values, the output), and "value not kept" elsewhere: the diagram
shows what backward will have at hand. ``values="recompute"`` fills in the others by
replaying the recorded forward functions of the engine's primitives from the known
values (shown in italics, "recomputed"); ``values="none"`` shows shapes only.

Gradients (``grads=True``) come from the engine's real backward pass:
``gradients(tensor, [], retain_graph=True)`` inside ``trace_backward()``, which fills
no ``.grad`` and frees nothing, so it works before ``loss.backward()`` and after
``loss.backward(retain_graph=True)``. The user's hooks (``register_hook``) are set aside
for that pass, so drawing runs no user code; the caption says so when there were any,
since the gradients shown are then those before a hook changes them. After a backward
pass that freed the graph, only the leaves' ``.grad`` (and ``retain_grad()`` tensors)
can be shown, and the caption says so.

Layers of an ``nn`` model are grouped into clusters read from the parameters' dotted
names (``layers.0.W`` and ``layers.0.b`` make the cluster ``layers.0``); ``collapse``
turns clusters into single boxes. Above ``max_nodes``, layers collapse, chains of
repeated operations fold into one box each, and at last the part farthest from the
output becomes one box; the caption says what was folded.

``bp=True`` marks Nielsen's BP1–BP4 where the graph has his layers (``explain.py``'s
``find_bp_layers``): δ^l at each z^l, and which rule computes which equation.

Every element has a stable id, ``op<seq>`` for an operation and ``t<seq>`` for its
output tensor (``seq`` is the node's place on the tape), also the element id in SVG
output; ``Diagram.elements`` maps each Node to the element that shows it. That is the
hook for a step-through view of the backward pass (``animate_backward``):
render this diagram to SVG once, then highlight ``elements[step.node]`` for each
``step`` of ``diagram.trace`` (the engine's real order, from ``trace_backward``).
"""

from __future__ import annotations

import collections
import dataclasses
import html
from typing import Any

import numpy as np

from .explain import (
    BPLayers,
    Tape,
    Value,
    find_bp_layers,
    full_text,
    hooks_note,
    hooks_on,
    input_name,
    shape_text,
    shorten,
    summarize,
    traced_backward,
)
from .node import Node
from .tensor import Tensor

INSTALL_PACKAGE = "pip install autograd-core[diagrams]  (or: pip install graphviz)"
INSTALL_DOT = ("apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS), "
               "conda install graphviz, or see https://graphviz.org/download/")

# Colours: one per kind of box, named in the legend.
COLOURS = {
    "parameter": "#cfe3fb",     # a leaf that requires grad: what training changes
    "constant": "#eeeeee",      # data, targets, literals: no gradient
    "tensor": "#ffffff",        # an intermediate result
    "output": "#fde7a9",        # the tensor drawn
    "operation": "#fff7e0",
    "group": "#e8e0f5",         # a collapsed layer, a folded chain, the earlier part
}
GRAD_COLOUR = "#1d5fa8"
BP_COLOUR = "#c0262d"
MUTED = "#6b6b6b"
FONT = "Helvetica"


# ------------------------------------------------------------------ the public function


def draw(tensor: Tensor, *, grads: bool = False, bp: bool = False, values: str = "kept",
         collapse: Any = (), rankdir: str = "TB", max_chars: int = 44, tooltip_elements: int = 120,
         max_nodes: int = 300, legend: bool = True, title: str | None = None) -> Any:
    """Draw the graph recorded behind ``tensor``: a ``graphviz.Digraph`` (shows inline in Jupyter).

    - ``grads``: show each tensor's gradient, computed by the engine's backward pass
      without changing any ``.grad`` (see the module docstring).
    - ``bp``: label δ^l = ∂C/∂z^l and mark the rules computing BP1–BP4.
    - ``values``: "kept" (what the tape holds), "recompute" or "none" (see above).
    - ``collapse``: layer names to draw as one box each (``("layers.0",)``), or True for all.
    - ``rankdir``: "TB" (top to bottom: a network reads down the page) or "LR" (left to right).
    - ``max_chars``: the longest summary in a box; hover for the values in full
      (SVG tooltips), up to ``tooltip_elements`` numbers each.
    - ``max_nodes``: above this many boxes, fold layers and repeated structure.
    - ``legend``, ``title``: a legend of the colours; a title above the picture.

    Render with ``.render("net", format="svg")`` or ``.pipe(format="png")`` (needs the
    Graphviz ``dot`` program); ``.source`` and ``.save("net.dot")`` need nothing more.
    """
    graphviz = _import_graphviz()
    if values not in ("kept", "recompute", "none"):
        raise ValueError(f"draw(): values must be 'kept', 'recompute' or 'none', got {values!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw(): rankdir must be 'TB' (top to bottom) or 'LR' (left to right), "
                         f"got {rankdir!r}")
    picture = _Picture(tensor, grads=grads, bp=bp, values=values, max_chars=max_chars,
                       tooltip_elements=tooltip_elements)
    picture.plan(collapse, max_nodes)
    diagram = _diagram_class(graphviz)(name="autograd_graph", strict=False)
    picture.emit(diagram, rankdir=rankdir, legend=legend, title=title)
    return diagram


def _import_graphviz() -> Any:
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(
            f"draw() needs the graphviz Python package, an optional extra: {INSTALL_PACKAGE}. "
            f"Rendering to SVG or PNG also needs the Graphviz dot program: {INSTALL_DOT}."
        ) from error
    return graphviz


_CLASSES: dict[int, type] = {}


def _diagram_class(graphviz: Any) -> type:
    """``Diagram``: a ``graphviz.Digraph`` whose rendering says how to install Graphviz."""
    cached = _CLASSES.get(id(graphviz))
    if cached is not None:
        return cached

    class GraphvizNotFound(graphviz.ExecutableNotFound):
        """Graphviz's ``dot`` program is missing; the message says how to install it."""

        def __init__(self, message: str) -> None:
            RuntimeError.__init__(self, message)

    class Diagram(graphviz.Digraph):
        """The graph of a tensor (see ``draw``): a ``graphviz.Digraph`` with what it shows.

        ``elements``: each Node -> the id of the element drawn for it (its operation, its
        leaf box, or the box it was folded into); ``tensor_elements``: each Node -> the id
        of its output's box, where drawn; ``trace``: the engine's backward trace when
        ``grads=True``; ``notes``: the caption's lines; ``layers``: BP1–BP4's layers.
        """

        NotFound = GraphvizNotFound

        elements: dict
        tensor_elements: dict
        trace: Any
        notes: list
        layers: Any

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as error:
                raise GraphvizNotFound(_dot_missing(kwargs.get("format") or (args[0] if args else None)
                                                    or self.format)) from error

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as error:
                raise GraphvizNotFound(_dot_missing(kwargs.get("format") or self.format)) from error

    _CLASSES[id(graphviz)] = Diagram
    return Diagram


def _dot_missing(fmt: str) -> str:
    return (
        f"Graphviz's dot program was not found on PATH, so the diagram cannot be rendered "
        f"to {fmt}. Install Graphviz: {INSTALL_DOT}. Without it, the DOT source still works: "
        "diagram.source, or diagram.save('graph.dot')."
    )


# ------------------------------------------------------------------ what is drawn


@dataclasses.dataclass(eq=False)
class Group:
    """Operations drawn as one box: a collapsed layer, a folded chain, or the earlier part."""

    id: str
    kind: str                     # "layer", "chain" or "rest"
    title: str
    ops: list[Node]
    detail: str = ""


class _Picture:
    """Reads the tape once, decides what to fold, then writes the DOT statements."""

    def __init__(self, tensor: Tensor, *, grads: bool, bp: bool, values: str, max_chars: int,
                 tooltip_elements: int) -> None:
        self.tensor = tensor
        self.tape = Tape(tensor)
        self.max_chars = max_chars
        self.tooltip_elements = tooltip_elements
        self.values = values
        self.notes: list[str] = []
        self.grads: dict[Node, Any] = {}          # each node's output gradient
        self.edge_grads: dict[tuple[Node, int], Any] = {}
        self.show_grads = grads
        self.trace = None
        self.freed_grads = False
        tape = self.tape
        if tape.root is None:
            self.notes.append("This tensor does not require grad: no operation was recorded behind it.")
        if values == "recompute" and not tape.released and tape.recompute():
            self.notes.append("Values in grey italics were recomputed by replaying the recorded forward "
                              "operations: the tape itself did not keep them.")
        if grads and tape.root is not None:
            self._gradients()
        self.layers = find_bp_layers(tape) if bp else BPLayers([])
        if bp and tape.root is not None:
            if self.layers.layers:
                hidden = [layer for layer in self.layers.layers if layer.fused]
                self.notes.append("δˡ = ∂C/∂zˡ at each weighted input zˡ; BP1–BP4 mark the rules that "
                                  "compute Nielsen's equations (hover for how).")
                if hidden:
                    self.notes.append("A fused 'dense' node computes BP2–BP4 inside, by hand: "
                                      "the equations are hidden (Dense(..., fused=False) shows them).")
            else:
                self.notes.append("bp=True: no weighted input z = a·Wᵀ + b (or W·a + b) feeding a sigmoid "
                                  "was found, so there is no δˡ to mark.")
        self.clusters = _layer_clusters(tape)
        self.groups: list[Group] = []
        self.group_of: dict[Node, Group] = {}
        self._visible: set[Node] | None = None

    def _gradients(self) -> None:
        tape = self.tape
        if tape.released:
            self.freed_grads = True
            for node in tape.nodes:
                tensor = node.tensor
                if tensor is not None and tensor.grad is not None:
                    self.grads[node] = tensor.grad
            self.notes.append(
                "backward() already ran without retain_graph=True and freed the graph: shown are "
                "the leaves' .grad; intermediate gradients need loss.backward(retain_graph=True), "
                "or draw(loss, grads=True) before backward().")
            return
        self.trace = traced_backward(self.tensor, tape)
        for step in self.trace:
            self.grads[step.node] = step.grad
            for index, grad in enumerate(step.input_grads):
                if grad is not None:
                    self.edge_grads[(step.node, index)] = grad
        seed = "" if self.tensor.data.size == 1 else " (seeded with ones, as for tensor.sum())"
        self.notes.append(f"Gradients from the engine's backward pass{seed}, run by draw() with "
                          "retain_graph=True: no .grad was changed.")
        hooks = hooks_on(tape)
        if hooks:
            self.notes.append(hooks_note(hooks))

    # ---------------------------------------------------------------- folding
    def plan(self, collapse: Any, max_nodes: int) -> None:
        """Decide which operations are drawn as one box: asked for, then as many as needed."""
        if collapse is True:
            wanted = list(self.clusters)
        elif isinstance(collapse, str):
            wanted = [collapse]
        else:
            wanted = list(collapse or ())
        unknown = [name for name in wanted if name not in self.clusters]
        if unknown:
            known = ", ".join(self.clusters) or "none (no parameter has a dotted name such as layers.0.W)"
            raise ValueError(f"draw(): collapse names {unknown}, but the layers in this graph are: {known}")
        for name in wanted:
            self._collapse_layer(name)
        if self.count() <= max_nodes:
            return
        total = self.count()
        folded = [name for name in self.clusters if name not in wanted]
        for name in folded:
            self._collapse_layer(name)
        steps = []
        if folded and any(self.clusters[name] for name in folded):
            steps.append(f"{len(folded)} layer(s) collapsed")
        if self.count() > max_nodes:
            chains = self._fold_chains()
            if chains:
                steps.append(f"{chains} chain(s) of repeated operations folded")
        if self.count() > max_nodes:
            hidden = self._fold_rest(max_nodes)
            steps.append(f"the {hidden:,} operations farthest from the output drawn as one box")
        self.notes.append(f"Large graph: {len(self.tape.operations):,} operations ({total:,} boxes) is more "
                          f"than max_nodes={max_nodes}, so " + "; ".join(steps) + ". Pass max_nodes= or "
                          "collapse= to choose.")

    def _add_group(self, group: Group) -> None:
        self._visible = None
        for node in group.ops:
            old = self.group_of.get(node)
            if old is not None and old is not group and old in self.groups:
                self.groups.remove(old)
            self.group_of[node] = group
        self.groups.append(group)

    def _collapse_layer(self, name: str) -> None:
        ops = self.clusters[name]
        if ops and not any(self.group_of.get(node) is not None for node in ops):
            kinds = list(dict.fromkeys(node.op.name for node in ops))
            self._add_group(Group(f"g{len(self.groups)}", "layer", name, ops, ", ".join(kinds)))

    def _units(self) -> tuple[list[Any], dict[Node, Any]]:
        """Ungrouped operations and groups, in tape order: the pieces chains are made of."""
        unit_of: dict[Node, Any] = {}
        units: list[Any] = []
        listed: set[int] = set()
        for node in self.tape.operations:
            group = self.group_of.get(node)
            unit = group if group is not None else node
            if id(unit) not in listed:
                listed.add(id(unit))
                units.append(unit)
            unit_of[node] = unit
        return units, unit_of

    def _fold_chains(self, keep: int = 2, shortest: int = 8) -> int:
        """Fold runs of operations (or layers) that each feed only the next into one box.

        A run keeps ``keep`` pieces visible at each end, so the picture still shows how
        the repeated step begins and ends; runs shorter than ``shortest`` stay as they are.
        """
        units, unit_of = self._units()
        root, consumers = self.tape.root, self.tape.consumers
        follows: dict[Any, Any] = {}        # unit -> the one unit that uses its results
        single: dict[Any, bool] = {}        # unit -> fed by exactly one other unit
        for unit in units:
            ops = unit.ops if type(unit) is Group else (unit,)
            follower, ok, feeder, feeders = None, True, None, 0
            for node in ops:
                if node is root:
                    ok = False
                for consumer, _ in consumers[node]:
                    used_by = unit_of[consumer]
                    if used_by is unit:
                        continue
                    if follower is None:
                        follower = used_by
                    elif follower is not used_by:
                        ok = False
                for parent in node.parents:
                    if parent is not None and parent.op is not None:
                        source = unit_of[parent]
                        if source is not unit and source is not feeder:
                            feeder, feeders = source, feeders + 1
            if ok and follower is not None:
                follows[unit] = follower
            single[unit] = feeders == 1
        linked = {unit: after for unit, after in follows.items() if single[after]}
        targets = set(linked.values())
        folded = 0
        for start in units:                 # in tape order
            if start not in linked or start in targets:
                continue
            run = [start]
            while run[-1] in linked:
                run.append(linked[run[-1]])
            if len(run) < shortest:
                continue
            middle = run[keep:len(run) - keep]
            ops = [node for unit in middle for node in (unit.ops if type(unit) is Group else (unit,))]
            self._add_group(Group(f"g{len(self.groups)}", "chain", _chain_title(middle), ops,
                                  f"{len(ops):,} operations"))
            folded += 1
        return folded

    def _fold_rest(self, max_nodes: int) -> int:
        """Keep the operations nearest the output; fold everything earlier into one box."""
        units, unit_of = self._units()
        budget = max(max_nodes // 2, 4)
        while True:
            kept = set()
            cost = 0
            for unit in reversed(units):                 # the latest on the tape first
                if isinstance(unit, Group):
                    cost += 3                            # the box, an exit, an input
                else:                                    # the operation, its output, its inputs
                    cost += 2 + sum(1 for p in unit.parents if p is None or p.op is None)
                if cost > budget:
                    break
                kept.add(id(unit))
            rest = [node for node in self.tape.operations if id(unit_of[node]) not in kept]
            group = Group(f"g{len(self.groups)}", "rest", "earlier part of the graph", rest,
                          _census(rest))
            saved_groups, saved_of = list(self.groups), dict(self.group_of)
            self._add_group(group)
            if self.count() <= max_nodes or budget <= 4:
                return len(rest)
            self.groups, self.group_of, self._visible = saved_groups, saved_of, None
            budget //= 2

    # ---------------------------------------------------------------- what is visible
    def visible_tensor(self, node: Node) -> bool:
        """Is ``node``'s output (or leaf) drawn as a box of its own?"""
        if self._visible is None:
            self._visible = self._visible_tensors()
        return node in self._visible

    def _visible_tensors(self) -> set[Node]:
        """Every node whose output gets a box: all but those hidden inside a folded box.

        A leaf is hidden when every operation using it is in one box; an operation's
        output when the operation and all its users are in one box (a box of the earlier
        part shows no outputs at all: its arrows go straight to the operations using them).
        """
        group_of, root = self.group_of, self.tape.root
        visible = set()
        for node, uses in self.tape.consumers.items():
            if node is root or not uses:
                visible.add(node)
                continue
            if node.op is None:
                first = group_of.get(uses[0][0])
                if first is None or any(group_of.get(c) is not first for c, _ in uses):
                    visible.add(node)
                continue
            group = group_of.get(node)
            if group is None or (group.kind != "rest" and any(group_of.get(c) is not group for c, _ in uses)):
                visible.add(node)
        return visible

    def count(self) -> int:
        """How many boxes and ellipses would be drawn now."""
        total = len(self.groups) + len(self._visible_tensors())
        group_of = self.group_of
        for node in self.tape.operations:
            group = group_of.get(node)
            if group is None:
                total += 1
            if group is None or group.kind == "layer":        # a layer's box shows its constants
                total += sum(1 for p in node.parents if p is None)
        return total

    # ---------------------------------------------------------------- writing DOT
    def emit(self, diagram: Any, *, rankdir: str, legend: bool, title: str | None) -> None:
        tape = self.tape
        diagram.attr("graph", rankdir=rankdir, fontname=FONT, nodesep="0.25", ranksep="0.35",
                     bgcolor="white", labelloc="b", labeljust="l")
        diagram.attr("node", fontname=FONT, fontsize="11", margin="0.08,0.04")
        diagram.attr("edge", fontname=FONT, fontsize="9", color="#555555", arrowsize="0.7")
        diagram.elements, diagram.tensor_elements = {}, {}
        diagram.trace, diagram.layers = self.trace, self.layers
        if tape.root is None:
            data = self.tensor.data
            self._constant_box(diagram, "t_output", Value(data.shape, data.dtype, data, "output"),
                               self.tensor.name, output=True)
        in_cluster = {node: name for name, ops in self.clusters.items() for node in ops
                      if node not in self.group_of}
        open_clusters = set(in_cluster.values())
        leaves_in = {leaf: name for name, leaves in _cluster_leaves(tape, self.clusters).items()
                     for leaf in leaves if name in open_clusters}
        bodies: dict[str | None, list[tuple]] = collections.defaultdict(list)   # per cluster

        def put(cluster: str | None, writer: Any, *args: Any, **kwargs: Any) -> None:
            bodies[cluster].append((writer, args, kwargs))

        self._constant_ids: dict[tuple[Node, int], str] = {}
        self._spine = self._main_path()
        self._entry_length = self._cluster_entries(in_cluster, leaves_in)
        seen_arrays: dict[int, str] = {}
        for node in tape.nodes:
            tid = f"t{node.seq}"
            group = self.group_of.get(node)
            if node.op is not None and (group is None or group.kind == "layer"):
                for index, parent in enumerate(node.parents):   # its constants, in input order
                    if parent is None:
                        put(None, self._constant, node, index, seen_arrays)
            if node.op is not None and node not in self.group_of:
                oid = f"op{node.seq}"
                diagram.elements[node] = oid
                put(in_cluster.get(node), self._operation, oid, node)
            elif node.op is not None:
                diagram.elements[node] = self.group_of[node].id
            if self.visible_tensor(node):
                diagram.tensor_elements[node] = tid
                if node.op is None:
                    diagram.elements[node] = tid
                    put(leaves_in.get(node), self._tensor, tid, node)
                else:
                    put(in_cluster.get(node), self._tensor, tid, node)
            elif node.op is None:
                users = tape.consumers.get(node, ())
                diagram.elements[node] = self.group_of[users[0][0]].id if users else tid
        for group in self.groups:
            put(None, self._group, group)
        for writer_args in bodies.pop(None, []):
            writer, args, kwargs = writer_args
            writer(diagram, *args, **kwargs)
        for name, body in bodies.items():
            with diagram.subgraph(name=f"cluster_{name}") as cluster:
                layer_note = self._layer_number(name)
                cluster.attr(label=name + layer_note, style="rounded,dashed", color="#8a8a8a",
                             fontcolor="#444444", fontsize="11", labeljust="l")
                for writer, args, kwargs in body:
                    writer(cluster, *args, **kwargs)
        self._edges(diagram)
        if legend and tape.root is not None:
            self._legend(diagram)
        caption = [title] if title else []
        caption += self.notes
        if caption:
            text = "".join(f"{html.escape(line)}<BR ALIGN=\"LEFT\"/>" for line in caption)
            diagram.attr("graph", label=f"<<FONT POINT-SIZE=\"11\">{text}</FONT>>")
        diagram.notes = list(self.notes)

    def _main_path(self) -> set[Node]:
        """The longest chain of operations ending at the output: drawn as one straight line.

        Graphviz keeps the nodes of one ``group`` aligned; giving it the forward path
        (data -> layer -> activation -> ... -> cost) leaves parameters and constants to
        either side instead of a staircase.
        """
        depth: dict[Node, int] = {}
        for node in self.tape.operations:                   # tape order: inputs first
            depth[node] = 1 + max((depth[p] for p in node.parents if p is not None and p.op is not None),
                                  default=0)
        path, node = set(), self.tape.root
        while node is not None and node.op is not None:
            path.add(node)
            inputs = [p for p in node.parents if p is not None and p.op is not None]
            node = max(inputs, key=depth.__getitem__) if inputs else None
        return path

    def _cluster_entries(self, in_cluster: dict[Node, str], leaves_in: dict[Node, str]) -> dict:
        """How many ranks an arrow entering a layer's box from outside should span.

        A layer's parameters sit a few ranks above the operation that the previous layer
        feeds (W -> transpose -> Wᵀ -> matmul). Making the arrow from the previous layer
        that long puts the whole box below the previous one, instead of beside it.
        """
        depth: dict[Node, int] = {leaf: 0 for leaf in leaves_in}     # ranks below the box's top
        lengths = {}
        for node in self.tape.operations:
            cluster = in_cluster.get(node)
            if cluster is None:
                continue
            inside = [parent in depth and cluster in (in_cluster.get(parent), leaves_in.get(parent))
                      for parent in node.parents]
            # the operation one rank below its deepest input inside the box, its output one more
            depth[node] = max((depth[p] + 2 for p, i in zip(node.parents, inside) if i), default=0)
            reach = depth[node] - 1
            if reach > 1:
                for index, parent in enumerate(node.parents):
                    if parent is not None and not inside[index]:
                        lengths[(node, index)] = reach
        return lengths

    def _layer_number(self, cluster: str) -> str:
        for layer in self.layers.layers:
            name = layer.weight.name if layer.weight is not None else None
            if name and name.rsplit(".", 1)[0] == cluster:
                return f"  (l = {layer.l})"
        return ""

    # one operation
    def _operation(self, graph: Any, oid: str, node: Node) -> None:
        op = node.op
        lines = [f"<B>{_esc(op.name)}</B>"]
        params = _params_text(node.params)
        if params:
            lines.append(_small(shorten(params, self.max_chars), MUTED))
        marks = self.layers.marks.get(node, [])
        if marks:
            lines.append(_small(" · ".join(mark.equation for mark in marks), BP_COLOUR, bold=True))
        tip = [f"{op.name}: {op.formula}"]
        why = getattr(op, "why", "")
        if why:
            tip.append(f"why a primitive: {why}")
        if node.saved is not None:
            kept = [input_name(node, i) for i, v in enumerate(node.saved)
                    if not type(v).__name__ == "NotSaved"]
            if isinstance(node.out, np.ndarray):
                kept.append("out")
            tip.append("keeps for backward: " + (", ".join(kept) if kept else "nothing"))
        else:
            tip.append("its saved values were freed by backward()")
        tip += [f"{mark.equation}: {mark.text}" for mark in marks]
        # ordering="in": inputs left to right in their order (x before y), as the rule names them
        graph.node(oid, label="<" + "<BR/>".join(lines) + ">", id=oid, shape="ellipse", style="filled",
                   ordering="in", group="main" if node in self._spine else None,
                   fillcolor=COLOURS["operation"], color="#b08a2e" if not marks else BP_COLOUR,
                   penwidth="1" if not marks else "1.6", tooltip=_tip("\n".join(tip)))

    # one tensor: a leaf, an intermediate result or the output
    def _tensor(self, graph: Any, tid: str, node: Node) -> None:
        value = self.tape.value(node)
        if node.op is None:
            kind = "parameter"
        elif node is self.tape.root:
            kind = "output"
        else:
            kind = "tensor"
        name = node.name or (node.tensor.name if node.tensor is not None else None)
        nickname = self.layers.names.get(node)
        delta = self.layers.delta(node)
        title = _title(name, nickname, kind == "output")
        grad_line, grad_tip = self._grad_lines(node, delta)
        self._box(graph, tid, kind, title, value, grad_line, grad_tip,
                  extra_tip="leaf: backward() accumulates into its .grad" if node.op is None else "",
                  group="main" if node in self._spine else None)

    def _constant_box(self, graph: Any, cid: str, value: Value, name: str | None, nickname: str | None = None,
                      output: bool = False, unsaved: str = "") -> None:
        title = _title(name, nickname, output) or "<B>constant</B>"
        grad_line = _small("no gradient (constant)", MUTED) if self.show_grads and not output else ""
        self._box(graph, cid, "output" if output else "constant", title, value, grad_line,
                  "a constant: no gradient flows to it", extra_tip="constant (needs no gradient)",
                  unsaved=unsaved)

    def _box(self, graph: Any, eid: str, kind: str, title: str, value: Value, grad_line: str,
             grad_tip: str, extra_tip: str = "", group: str | None = None, unsaved: str = "") -> None:
        """One tensor's box; ``unsaved`` says why its value is missing, when the tape never had it."""
        lines = [title] if title else []
        dtype = f" {value.dtype}" if value.dtype is not None else ""
        freed = value.shape is None and self.tape.released
        if freed:               # backward() freed what the tape knew of it: say so once
            lines.append(_small("freed by backward()", MUTED, italic=True))
        else:
            lines.append(_small(shape_text(value.shape) + dtype, MUTED))
        tip = [eid if not title else _plain(title), shape_text(value.shape) + dtype]
        if extra_tip:
            tip.append(extra_tip)
        if freed:
            tip.append("backward() without retain_graph=True freed the values saved on the tape, its shape "
                       "with them")
        elif self.values != "none":
            summary = summarize(value.data, self.max_chars)
            if value.data is None and unsaved:
                lines.append(_small("value not saved", MUTED, italic=True))
                tip.append(unsaved)
            elif value.data is None:
                lines.append(_small("value not kept", MUTED, italic=True))
                tip.append("value not kept: the tape keeps only what the rules declared "
                           "(draw(..., values='recompute') fills it in)")
            else:
                lines.append(_small(summary, "#777777" if value.how == "recomputed" else "#222222",
                                    italic=value.how == "recomputed"))
                tip.append(_how(value) + ":\n" + full_text(value.data, self.tooltip_elements))
        if grad_line:
            lines.append(grad_line)
        if grad_tip:
            tip.append(grad_tip)
        style = {"tensor": "filled,rounded", "constant": "filled,dashed"}.get(kind, "filled")
        graph.node(eid, label="<" + "<BR/>".join(lines) + ">", id=eid, shape="box", style=style, group=group,
                   fillcolor=COLOURS[kind], color="#333333" if kind == "output" else "#7a7a7a",
                   penwidth="2" if kind == "output" else "1", tooltip=_tip("\n".join(tip)))

    def _grad_lines(self, node: Node, delta: str | None) -> tuple[str, str]:
        if not self.show_grads:
            return (_small(f"{delta} = ∂C/∂{self.layers.names.get(node, 'z')}", BP_COLOUR, bold=True), "") \
                if delta else ("", "")
        grad = self.grads.get(node)
        name = delta or ("∂C/∂" + self.layers.names[node] if node in self.layers.names else "grad")
        if grad is None:
            if self.freed_grads and node.op is not None:
                return "", "gradient not kept: intermediate gradients need backward(retain_graph=True)"
            return _small("no gradient yet", MUTED, italic=True), "no gradient has been computed for it"
        seed = " (seed)" if node is self.tape.root else ""
        if self.freed_grads:
            name = ".grad"      # what an earlier backward() left, not computed here
        colour = BP_COLOUR if delta else GRAD_COLOUR
        line = _small(f"{name} = {summarize(grad, self.max_chars)}{seed}", colour, bold=bool(delta))
        return line, f"gradient {name}{seed}:\n" + full_text(grad, self.tooltip_elements)

    def _group(self, graph: Any, group: Group) -> None:
        tape = self.tape
        hidden_leaves = [leaf for leaf in tape.leaves if not self.visible_tensor(leaf)
                         and any(self.group_of.get(c) is group for c, _ in tape.consumers.get(leaf, ()))]
        title = group.title + (self._layer_number(group.title) if group.kind == "layer" else "")
        lines = [f"<B>{_esc(title)}</B>", _small(shorten(group.detail, 60), MUTED)]
        for leaf in hidden_leaves[:4]:
            name = leaf.name or "leaf"
            nickname = self.layers.names.get(leaf)
            value = tape.value(leaf)
            text = f"{name}{f' ({nickname})' if nickname else ''} {shape_text(value.shape)}"
            if self.show_grads and leaf in self.grads:
                text += f": grad {summarize(self.grads[leaf], self.max_chars)}"
            lines.append(_small(text, GRAD_COLOUR if self.show_grads else "#222222"))
        if len(hidden_leaves) > 4:
            lines.append(_small(f"and {len(hidden_leaves) - 4:,} more leaves", MUTED))
        kind = {"layer": "a collapsed layer", "chain": "a chain of repeated operations, folded",
                "rest": "the part of the graph farthest from the output, folded"}[group.kind]
        names = collections.Counter(node.op.name for node in group.ops)
        tip = f"{group.title}: {kind}\n{len(group.ops):,} operations: " + ", ".join(
            f"{name} ×{count:,}" for name, count in names.most_common(12))
        graph.node(group.id, label="<" + "<BR/>".join(lines) + ">", id=group.id, shape="box3d",
                   style="filled", fillcolor=COLOURS["group"], color="#6d5a99", tooltip=_tip(tip))

    def _edges(self, diagram: Any) -> None:
        tape = self.tape
        drawn: set[tuple[str, str]] = set()
        for node in tape.operations:
            group = self.group_of.get(node)
            target = group.id if group is not None else f"op{node.seq}"
            if self.visible_tensor(node):
                source = group.id if group is not None else f"op{node.seq}"
                if (source, f"t{node.seq}") not in drawn:
                    drawn.add((source, f"t{node.seq}"))
                    diagram.edge(source, f"t{node.seq}")
            for index, parent in enumerate(node.parents):
                if parent is None:
                    if group is not None and group.kind != "layer":
                        continue                  # a folded chain or the earlier part: counted in its box
                    source = self._constant_ids[(node, index)]
                elif self.visible_tensor(parent):
                    source = f"t{parent.seq}"
                else:
                    parent_group = self.group_of.get(parent)
                    if parent_group is group or parent_group is None:
                        continue                  # inside one box
                    source = parent_group.id if parent.op is not None else None
                    if source is None:
                        continue
                if group is not None:
                    if (source, target) in drawn:
                        continue
                    drawn.add((source, target))
                    diagram.edge(source, target)
                    continue
                self._input_edge(diagram, source, target, node, index)

    def _input_edge(self, diagram: Any, source: str, target: str, node: Node, index: int) -> None:
        marks = [m for m in self.layers.marks.get(node, []) if m.input_index == index]
        if not marks and node.op.name == "sigmoid" and node in self.layers.marks:
            marks = self.layers.marks[node]
        label = input_name(node, index) if len(node.parents) > 1 else ""
        attrs: dict[str, str] = {}
        tip = [f"input {label or 'x'} of {node.op.name}"]
        grad = self.edge_grads.get((node, index))
        if grad is not None:
            tip.append("gradient sent back along this arrow:\n" + full_text(grad, self.tooltip_elements))
        if marks:
            label = " ".join(([label] if label else []) + [m.equation for m in marks])
            attrs.update(color=BP_COLOUR, fontcolor=BP_COLOUR, penwidth="1.6")
            tip += [f"{m.equation}: {m.text}" for m in marks]
        if label:
            attrs.update(label=f" {label} ", labeltooltip=_tip("\n".join(tip)))
        length = self._entry_length.get((node, index))
        if length:
            attrs["minlen"] = str(length)
        diagram.edge(source, target, tooltip=_tip("\n".join(tip)), **attrs)

    def _constant(self, diagram: Any, node: Node, index: int, seen: dict[int, str]) -> None:
        """The box of input ``index`` of ``node``, a constant (drawn once per kept array)."""
        kept = node.saved[index] if node.saved is not None else None
        if isinstance(kept, np.ndarray) and id(kept) in seen:
            self._constant_ids[(node, index)] = seen[id(kept)]
            return
        cid = self._constant_ids[(node, index)] = f"c{node.seq}_{index}"
        if isinstance(kept, np.ndarray):
            seen[id(kept)] = cid
        constant = self.tape.constant(node, index)
        value = constant.value
        nickname = self.layers.constant_names.get((node, index))
        role = self.layers.constant_roles.get((node, index))
        if nickname and role and not constant.name:
            nickname = f"{nickname} ({role})"
        unsaved = (f"value not saved: {node.op.name}'s rules do not read it, so the tape kept only its "
                   "shape and dtype")
        self._constant_box(diagram, cid, value, constant.name, nickname, unsaved=unsaved)

    def _legend(self, diagram: Any) -> None:
        rows = [
            (COLOURS["parameter"], "parameter: a leaf that requires grad"),
            (COLOURS["constant"], "constant: data, target, literal (no gradient)"),
            (COLOURS["tensor"], "intermediate result"),
            (COLOURS["output"], "the output drawn"),
            (COLOURS["operation"], "operation: hover for its rule (VJP)"),
        ]
        if self.groups:
            rows.append((COLOURS["group"], "folded: several operations in one box"))
        cells = "".join(f"<TR><TD BGCOLOR=\"{colour}\" ALIGN=\"LEFT\">{_esc(text)}</TD></TR>"
                        for colour, text in rows)
        notes = []
        if self.values != "none":
            notes.append((MUTED, "<I>value not kept</I>, <I>not saved</I>: the tape keeps only what "
                                 "rules read"))
        if self.values == "recompute":
            notes.append((MUTED, "<I>grey italics</I>: recomputed, not kept by the tape"))
        if self.show_grads:
            notes.append((GRAD_COLOUR, "grad = ∂C/∂(this tensor); arrows carry it backwards"))
        if self.layers.layers:
            notes.append((BP_COLOUR, "<B>δˡ</B> = ∂C/∂zˡ; <B>BP1–BP4</B>: the rule that computes Nielsen's "
                                     "equation"))
        cells += "".join(f"<TR><TD ALIGN=\"LEFT\">{_small_markup(text, colour)}</TD></TR>"
                         for colour, text in notes)
        diagram.node("legend", id="legend", shape="plaintext", margin="0",
                     label=f"<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\">"
                           f"<TR><TD><B>legend</B></TD></TR>{cells}</TABLE>>")


# ------------------------------------------------------------------ layers from parameter names


def _layer_clusters(tape: Tape) -> dict[str, list[Node]]:
    """Layer name -> its operations: between the first and the last use of the layer's parameters.

    ``layers.0.W`` and ``layers.0.b`` name the layer ``layers.0``. Its operations are those
    that consume one of its parameters, and every operation on a path between two of
    them (``matmul`` between ``transpose(W)`` and ``add(·, b)``).
    """
    users: dict[str, list[Node]] = {}
    for leaf in tape.leaves:
        name = leaf.name or (leaf.tensor.name if leaf.tensor is not None else None)
        if not name or "." not in name:
            continue
        prefix = name.rsplit(".", 1)[0]
        users.setdefault(prefix, []).extend(c for c, _ in tape.consumers.get(leaf, ()))
    clusters: dict[str, list[Node]] = {}
    taken: set[Node] = set()
    for prefix, direct in users.items():
        if not direct:
            continue
        low, high = min(n.seq for n in direct), max(n.seq for n in direct)
        # Ancestors of a direct user, not before the first; descendants, not after the last.
        below = _reachable(direct, lambda node: (
            p for p in node.parents if p is not None and p.op is not None and p.seq >= low))
        above = _reachable(direct, lambda node: (
            c for c, _ in tape.consumers.get(node, ()) if c.seq <= high))
        ops = sorted((below & above) - taken, key=lambda n: n.seq)
        taken.update(ops)
        clusters[prefix] = ops
    return clusters


def _cluster_leaves(tape: Tape, clusters: dict[str, list[Node]]) -> dict[str, list[Node]]:
    leaves: dict[str, list[Node]] = collections.defaultdict(list)
    for leaf in tape.leaves:
        name = leaf.name or ""
        prefix = name.rsplit(".", 1)[0] if "." in name else None
        if prefix in clusters:
            leaves[prefix].append(leaf)
    return leaves


# ------------------------------------------------------------------ small helpers


def _chain_title(units: list[Any]) -> str:
    signature = [f"[{u.detail}]" if isinstance(u, Group) else u.op.name for u in units]
    for period in range(1, 9):
        if len(signature) >= 2 * period and all(
                signature[i] == signature[i + period] for i in range(len(signature) - period)):
            block = " → ".join(signature[:period])
            times, more = divmod(len(signature), period)
            return f"({block}) ×{times:,}" + (f" + {more}" if more else "")
    return f"chain of {len(signature):,} steps"


def _census(ops: list[Node]) -> str:
    names = collections.Counter(node.op.name for node in ops)
    parts = ", ".join(f"{name} ×{count:,}" for name, count in names.most_common(3))
    return f"{len(ops):,} operations: {parts}" + (", …" if len(names) > 3 else "")


def _params_text(params: Any) -> str:
    parts = []
    for key, value in params.items():
        if key == "ctx" or value is None or value is False:
            continue
        text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _title(name: str | None, nickname: str | None, output: bool) -> str:
    parts = []
    if name:
        parts.append(f"<B>{_esc(name)}</B>")
    if nickname:
        parts.append(f"<FONT COLOR=\"{BP_COLOUR}\"><B>{_esc(nickname)}</B></FONT>")
    if output and not name:
        parts.insert(0, "<B>output</B>")
    return "  ".join(parts)


def _how(value: Value) -> str:
    return {
        "output": "values of the output",
        "leaf": "the leaf's current values",
        "kept": f"kept on the tape for {value.source}" if value.source else "kept on the tape",
        "recomputed": "recomputed by replaying the recorded forward operations (the tape did not keep it)",
    }.get(value.how, "values")


def _small(text: str, colour: str, bold: bool = False, italic: bool = False) -> str:
    body = _esc(text)
    if bold:
        body = f"<B>{body}</B>"
    if italic:
        body = f"<I>{body}</I>"
    return f"<FONT POINT-SIZE=\"9\" COLOR=\"{colour}\">{body}</FONT>"


def _small_markup(markup: str, colour: str) -> str:
    return f"<FONT POINT-SIZE=\"9\" COLOR=\"{colour}\">{markup}</FONT>"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _plain(markup: str) -> str:
    """The text of a little HTML label (for tooltips)."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _tip(text: str) -> str:
    # Graphviz reads backslash escapes in tooltips (\n, \l): write a newline as \n and keep
    # the rest literal. A tooltip is never HTML, so no <...> may reach the DOT quoting.
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _reachable(start: Any, neighbours: Any) -> set:
    """Every node reachable from ``start`` through ``neighbours(node)`` (start included)."""
    seen: set = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(neighbours(node))
    return seen
