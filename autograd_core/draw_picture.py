"""The DOT statements of one diagram: boxes, ellipses, arrows, clusters, legend and caption.

``Picture`` reads the tape once (``explain.Tape``), takes the gradients from the
engine's backward pass when asked (``explain.traced_backward``), lets ``Folding`` decide
what is drawn as one box, and writes every element with a stable id: ``op<seq>`` for an
operation, ``t<seq>`` for its output or a leaf, ``c<seq>_<i>`` for a constant input.
"""

from __future__ import annotations

import collections
import html
from typing import Any

import numpy as np

from .draw_fold import Folding, Group, cluster_leaves
from .draw_labels import (
    BP_COLOUR,
    COLOURS,
    FONT,
    GRAD_COLOUR,
    MUTED,
    dot_tooltip,
    esc,
    how_known,
    params_text,
    plain_text,
    small,
    small_markup,
    title_markup,
)
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


class Picture:
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
        self.fold = Folding(tape)

    def plan(self, collapse: Any, max_nodes: int) -> None:
        """Fold what was asked for, and what a graph above ``max_nodes`` boxes needs (``Folding``)."""
        note = self.fold.plan(collapse, max_nodes)
        if note:
            self.notes.append(note)

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
        in_cluster = {node: name for name, ops in self.fold.clusters.items() for node in ops
                      if node not in self.fold.group_of}
        open_clusters = set(in_cluster.values())
        leaves_in = {leaf: name for name, leaves in cluster_leaves(tape, self.fold.clusters).items()
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
            group = self.fold.group_of.get(node)
            if node.op is not None and (group is None or group.kind == "layer"):
                for index, parent in enumerate(node.parents):   # its constants, in input order
                    if parent is None:
                        put(None, self._constant, node, index, seen_arrays)
            if node.op is not None and node not in self.fold.group_of:
                oid = f"op{node.seq}"
                diagram.elements[node] = oid
                put(in_cluster.get(node), self._operation, oid, node)
            elif node.op is not None:
                diagram.elements[node] = self.fold.group_of[node].id
            if self.fold.visible_tensor(node):
                diagram.tensor_elements[node] = tid
                if node.op is None:
                    diagram.elements[node] = tid
                    put(leaves_in.get(node), self._tensor, tid, node)
                else:
                    put(in_cluster.get(node), self._tensor, tid, node)
            elif node.op is None:
                users = tape.consumers.get(node, ())
                diagram.elements[node] = self.fold.group_of[users[0][0]].id if users else tid
        for group in self.fold.groups:
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
        lines = [f"<B>{esc(op.name)}</B>"]
        params = params_text(node.params)
        if params:
            lines.append(small(shorten(params, self.max_chars), MUTED))
        marks = self.layers.marks.get(node, [])
        if marks:
            lines.append(small(" · ".join(mark.equation for mark in marks), BP_COLOUR, bold=True))
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
                   penwidth="1" if not marks else "1.6", tooltip=dot_tooltip("\n".join(tip)))

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
        title = title_markup(name, nickname, kind == "output")
        grad_line, grad_tip = self._grad_lines(node, delta)
        self._box(graph, tid, kind, title, value, grad_line, grad_tip,
                  extra_tip="leaf: backward() accumulates into its .grad" if node.op is None else "",
                  group="main" if node in self._spine else None)

    def _constant_box(self, graph: Any, cid: str, value: Value, name: str | None, nickname: str | None = None,
                      output: bool = False, unsaved: str = "") -> None:
        title = title_markup(name, nickname, output) or "<B>constant</B>"
        grad_line = small("no gradient (constant)", MUTED) if self.show_grads and not output else ""
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
            lines.append(small("freed by backward()", MUTED, italic=True))
        else:
            lines.append(small(shape_text(value.shape) + dtype, MUTED))
        tip = [eid if not title else plain_text(title), shape_text(value.shape) + dtype]
        if extra_tip:
            tip.append(extra_tip)
        if freed:
            tip.append("backward() without retain_graph=True freed the values saved on the tape, its shape "
                       "with them")
        elif self.values != "none":
            summary = summarize(value.data, self.max_chars)
            if value.data is None and unsaved:
                lines.append(small("value not saved", MUTED, italic=True))
                tip.append(unsaved)
            elif value.data is None:
                lines.append(small("value not kept", MUTED, italic=True))
                tip.append("value not kept: the tape keeps only what the rules declared "
                           "(draw(..., values='recompute') fills it in)")
            else:
                lines.append(small(summary, "#777777" if value.how == "recomputed" else "#222222",
                                    italic=value.how == "recomputed"))
                tip.append(how_known(value) + ":\n" + full_text(value.data, self.tooltip_elements))
        if grad_line:
            lines.append(grad_line)
        if grad_tip:
            tip.append(grad_tip)
        style = {"tensor": "filled,rounded", "constant": "filled,dashed"}.get(kind, "filled")
        graph.node(eid, label="<" + "<BR/>".join(lines) + ">", id=eid, shape="box", style=style, group=group,
                   fillcolor=COLOURS[kind], color="#333333" if kind == "output" else "#7a7a7a",
                   penwidth="2" if kind == "output" else "1", tooltip=dot_tooltip("\n".join(tip)))

    def _grad_lines(self, node: Node, delta: str | None) -> tuple[str, str]:
        if not self.show_grads:
            return (small(f"{delta} = ∂C/∂{self.layers.names.get(node, 'z')}", BP_COLOUR, bold=True), "") \
                if delta else ("", "")
        grad = self.grads.get(node)
        name = delta or ("∂C/∂" + self.layers.names[node] if node in self.layers.names else "grad")
        if grad is None:
            if self.freed_grads and node.op is not None:
                return "", "gradient not kept: intermediate gradients need backward(retain_graph=True)"
            return small("no gradient yet", MUTED, italic=True), "no gradient has been computed for it"
        seed = " (seed)" if node is self.tape.root else ""
        if self.freed_grads:
            name = ".grad"      # what an earlier backward() left, not computed here
        colour = BP_COLOUR if delta else GRAD_COLOUR
        line = small(f"{name} = {summarize(grad, self.max_chars)}{seed}", colour, bold=bool(delta))
        return line, f"gradient {name}{seed}:\n" + full_text(grad, self.tooltip_elements)

    def _group(self, graph: Any, group: Group) -> None:
        tape = self.tape
        hidden_leaves = [leaf for leaf in tape.leaves if not self.fold.visible_tensor(leaf)
                         and any(self.fold.group_of.get(c) is group for c, _ in tape.consumers.get(leaf, ()))]
        title = group.title + (self._layer_number(group.title) if group.kind == "layer" else "")
        lines = [f"<B>{esc(title)}</B>", small(shorten(group.detail, 60), MUTED)]
        for leaf in hidden_leaves[:4]:
            name = leaf.name or "leaf"
            nickname = self.layers.names.get(leaf)
            value = tape.value(leaf)
            text = f"{name}{f' ({nickname})' if nickname else ''} {shape_text(value.shape)}"
            if self.show_grads and leaf in self.grads:
                text += f": grad {summarize(self.grads[leaf], self.max_chars)}"
            lines.append(small(text, GRAD_COLOUR if self.show_grads else "#222222"))
        if len(hidden_leaves) > 4:
            lines.append(small(f"and {len(hidden_leaves) - 4:,} more leaves", MUTED))
        kind = {"layer": "a collapsed layer", "chain": "a chain of repeated operations, folded",
                "rest": "the part of the graph farthest from the output, folded"}[group.kind]
        names = collections.Counter(node.op.name for node in group.ops)
        tip = f"{group.title}: {kind}\n{len(group.ops):,} operations: " + ", ".join(
            f"{name} ×{count:,}" for name, count in names.most_common(12))
        graph.node(group.id, label="<" + "<BR/>".join(lines) + ">", id=group.id, shape="box3d",
                   style="filled", fillcolor=COLOURS["group"], color="#6d5a99", tooltip=dot_tooltip(tip))

    def _edges(self, diagram: Any) -> None:
        tape = self.tape
        drawn: set[tuple[str, str]] = set()
        for node in tape.operations:
            group = self.fold.group_of.get(node)
            target = group.id if group is not None else f"op{node.seq}"
            if self.fold.visible_tensor(node):
                source = group.id if group is not None else f"op{node.seq}"
                if (source, f"t{node.seq}") not in drawn:
                    drawn.add((source, f"t{node.seq}"))
                    diagram.edge(source, f"t{node.seq}")
            for index, parent in enumerate(node.parents):
                if parent is None:
                    if group is not None and group.kind != "layer":
                        continue                  # a folded chain or the earlier part: counted in its box
                    source = self._constant_ids[(node, index)]
                elif self.fold.visible_tensor(parent):
                    source = f"t{parent.seq}"
                else:
                    parent_group = self.fold.group_of.get(parent)
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
            attrs.update(label=f" {label} ", labeltooltip=dot_tooltip("\n".join(tip)))
        length = self._entry_length.get((node, index))
        if length:
            attrs["minlen"] = str(length)
        diagram.edge(source, target, tooltip=dot_tooltip("\n".join(tip)), **attrs)

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
        if self.fold.groups:
            rows.append((COLOURS["group"], "folded: several operations in one box"))
        cells = "".join(f"<TR><TD BGCOLOR=\"{colour}\" ALIGN=\"LEFT\">{esc(text)}</TD></TR>"
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
        cells += "".join(f"<TR><TD ALIGN=\"LEFT\">{small_markup(text, colour)}</TD></TR>"
                         for colour, text in notes)
        diagram.node("legend", id="legend", shape="plaintext", margin="0",
                     label=f"<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\">"
                           f"<TR><TD><B>legend</B></TD></TR>{cells}</TABLE>>")
