"""``animate_backward(loss, path)``: one HTML page that steps through the engine's backward pass.

The steps are the engine's own, not a re-enactment: the pass is run once, for real,
by ``explain.traced_backward`` (``gradients(..., retain_graph=True)`` inside
``trace_backward()``), which changes no ``.grad``, keeps the graph and runs none of the
user's hooks. Step k of the page
is the trace's k-th step: the node whose rule (vector-Jacobian product) ran k-th, the
gradient g that arrived at its output, and what it sent to each input. The graph is read
(``explain.Tape``) and Nielsen's layers recognised (``explain.find_bp_layers``) exactly as
for ``explain_backward``, so the page and the table of one graph agree.

The graph is laid out once by Graphviz and inlined as SVG; a few lines of JavaScript
move the highlight from step to step by SVG element id. One engine node is one element
(an operation together with its output, so that Nielsen's network fits on a screen), and
the ids are the ones ``draw()`` gives the same nodes (``Diagram.elements``), from the tape
positions (``Node.seq``), so a page, a diagram and a trace can be matched exactly:

- ``op{seq}``: the operation with that ``seq``; ``t{seq}``: a leaf that requires grad;
- ``c{seq}_{i}``: input ``i`` of operation ``seq`` when it is a constant (no gradient);
- ``e{seq}_{i}``: the edge into input ``i`` of operation ``seq``, which carries that
  input's gradient backwards; ``k{seq}_{i}``: the edge from a constant, which carries none.

Everything is inline (SVG, style, script): the file opens offline and requests nothing.
Values are summarised (shape, mean, extremes, norm), never dumped, so a 784-30-10 network
on a mini-batch makes a page of a few dozen kilobytes.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np

from .backward import BackwardStep
from .errors import BackwardError
from .explain import (
    BPLayers,
    Tape,
    bar,
    find_bp_layers,
    hooks_note,
    hooks_on,
    input_name,
    number,
    shape_text,
    summarize,
    traced_backward,
)
from .node import Node
from .tensor import Tensor

# The longest summary of a gradient in the side panel (edges show only shape and norm).
PANEL_CHARS = 90


def animate_backward(loss: Tensor, path: str | Path, *, title: str | None = None, bp: bool = True,
                     rankdir: str = "TB", max_nodes: int = 400) -> Path:
    """Write a self-contained HTML page stepping through ``loss``'s backward pass; return its path.

    ``loss``'s graph must still be recorded: call this before ``loss.backward()``, or
    after ``loss.backward(retain_graph=True)``. No ``.grad`` is changed. A loss of more
    than one element is seeded with ones, as ``loss.sum()`` would be. ``bp``: where a
    weighted input z = a Wᵀ + b feeds a sigmoid, name z^l, a^l, W^l, b^l, the gradient
    at z^l δ^l, and show which rule computes which of BP1–BP4. ``rankdir`` is Graphviz's
    direction: ``"TB"`` puts the inputs at the top and the loss at the bottom (a network's
    long chain then fits beside the text), ``"LR"`` left to right. Graphs of more than
    ``max_nodes`` nodes (constants included) are refused: Graphviz would take minutes
    and no one could read the result. Needs the ``graphviz`` package and Graphviz's
    ``dot`` program (the ``diagrams`` extra).
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"animate_backward: rankdir must be 'TB' (top to bottom) or 'LR' (left to "
                         f"right), got {rankdir!r}")
    tape = Tape(loss)
    if tape.root is None:
        raise BackwardError(
            f"animate_backward: the loss (shape {loss.shape}) does not require grad, so no "
            "operation was recorded and there is no backward pass to show. Create the "
            "parameters with requires_grad=True, and do not compute the loss inside no_grad()."
        )
    if tape.released:
        raise BackwardError(
            "animate_backward: backward() already ran through this graph without "
            "retain_graph=True and freed the values its rules need, so the pass cannot be "
            "replayed. Call animate_backward(loss, path) before loss.backward(), or use "
            "loss.backward(retain_graph=True)."
        )
    size = len(tape.nodes) + len(tape.constants)
    if size > max_nodes:
        raise ValueError(
            f"animate_backward: the graph has {size} nodes (constants included); above "
            f"max_nodes={max_nodes} Graphviz takes very long and the page is unreadable. "
            "Animate a smaller model (the count grows with the operations, not with the "
            "sizes: a 784-30-10 network has 19), or pass a larger max_nodes= to try anyway."
        )
    steps = list(traced_backward(loss, tape))
    layers = find_bp_layers(tape) if bp else BPLayers([])
    svg = _render_svg(_digraph(tape, steps, layers, rankdir))
    page = _page(title or "The backward pass, step by step", svg, tape, steps, layers)
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def element_id(node: Node) -> str:
    """The SVG id of ``node`` on the page: ``op{seq}`` for an operation, ``t{seq}`` for a leaf."""
    return f"t{node.seq}" if node.op is None else f"op{node.seq}"


# ---------------------------------------------------------------------------- words
def _short(value: Any) -> str:
    """What fits on an edge: the values when there are up to 2, else the shape and the norm."""
    array = np.asarray(value)
    if array.size <= 2:
        return summarize(array)
    with np.errstate(all="ignore"):
        return f"{shape_text(array.shape)}  ‖·‖ {number(float(np.linalg.norm(array)))}"


def _describe(value: Any) -> str:
    """Shape and summary for the side panel; ``every value 0.05`` when all are equal."""
    array = np.asarray(value)
    if array.size > 4 and array.dtype.kind == "f" and np.all(array == array.flat[0]):
        return f"{shape_text(array.shape)}, every value {number(array.flat[0])}"
    text = f"{shape_text(array.shape)}, {summarize(array, PANEL_CHARS)}"
    if array.size > 4 and array.dtype.kind == "f":
        with np.errstate(all="ignore"):
            text += f", ‖·‖ {number(float(np.linalg.norm(array)))}"
    return text


def _name(node: Node, layers: BPLayers) -> str:
    """The node as the page names it: operation or leaf name, tensor name, Nielsen's name."""
    nickname = layers.names.get(node)
    if node.op is None:
        return f"{node.label} ({nickname})" if nickname else node.label
    text = f"{node.op.name} '{node.name}'" if node.name else node.op.name
    return f"{text} → {nickname}" if nickname else text


def _edge_label(node: Node, index: int, parent: Node, grad: Any, layers: BPLayers) -> str:
    """The gradient an edge carries, named by the rule (x̄) or, at a z^l, by Nielsen (δ^l)."""
    delta = layers.delta(parent)
    return f"{delta or bar(input_name(node, index))} {_short(grad)}"


# ---------------------------------------------------------------------------- the picture
def _digraph(tape: Tape, steps: list[BackwardStep], layers: BPLayers, rankdir: str) -> Any:
    """One Graphviz node per engine node (see ``element_id``), one per constant input, layers as boxes."""
    try:
        import graphviz  # an extra: only drawing needs it
    except ImportError as error:
        raise ImportError(
            "animate_backward needs the graphviz Python package and Graphviz's dot program: "
            "pip install 'autograd-core[diagrams]', and install Graphviz from your system's "
            "packages (apt-get install graphviz, brew install graphviz, or graphviz.org)."
        ) from error
    dot = graphviz.Digraph("backward", format="svg")
    dot.attr(rankdir=rankdir, nodesep="0.25", ranksep="0.3", bgcolor="transparent")
    dot.attr("node", fontname="Helvetica", fontsize="11", margin="0.06,0.02", height="0.3")
    dot.attr("edge", fontname="Helvetica", fontsize="10", arrowsize="0.6", color="#8a8a8a",
             fontcolor="#b34700")
    grads = {step.node: step for step in steps}
    boxes = {}                  # a dashed box around each recognised layer
    home = {}                   # the box each of a layer's nodes is drawn in
    for layer in layers.layers:
        owner = layer.weight.label if layer.weight is not None else ""
        prefix = owner.rsplit(".", 1)[0] + ": " if "." in owner else ""
        box = boxes[layer.l] = graphviz.Digraph(name=f"cluster_l{layer.l}")
        box.attr(label=f"{prefix}layer l = {layer.l}", labeljust="l", fontsize="10", id=f"layer{layer.l}",
                 fontname="Helvetica", fontcolor="#666666", style="rounded,dashed", color="#bbbbbb")
        for node in (layer.z, layer.activation, layer.matmul, layer.add, layer.transpose,
                     layer.weight, layer.bias):
            if node is not None:
                home[node] = box
    edges = []
    for node in tape.nodes:
        ident = element_id(node)
        shape = shape_text(tuple(np.shape(grads[node].grad)))
        marks = sorted({mark.equation for mark in layers.marks.get(node, ())})
        lines = [_name(node, layers), "   ".join([shape, *marks])]
        where = home.get(node, dot)
        if node.op is None:
            where.node(ident, "\n".join(lines), id=ident, shape="box", style="filled",
                       fillcolor="#dbe9f6", tooltip=f"{node.label}: a leaf that requires grad, {shape}")
            continue
        extra = {}
        if node is tape.root:
            lines.insert(2, f"loss = {summarize(tape.tensor.data)}")
            extra = {"peripheries": "2"}
        where.node(ident, "\n".join(lines), id=ident, shape="ellipse", style="filled",
                   fillcolor="white", tooltip=f"#{node.seq} {node.op.name}: {node.op.formula}", **extra)
        for index, parent in enumerate(node.parents):
            if parent is not None:
                grad = grads[node].input_grads[index]
                edges.append((element_id(parent), ident, {
                    "id": f"e{node.seq}_{index}", "label": _edge_label(node, index, parent, grad, layers),
                    "tooltip": f"{bar(input_name(node, index))}: {_describe(grad)}"}))
    for constant in tape.constants:
        node, index = constant.consumer, constant.index
        ident = f"c{node.seq}_{index}"
        name = constant.name or layers.constant_names.get((node, index))
        value = constant.value
        if value.data is not None and np.size(value.data) == 1 and not name:
            text = summarize(value.data)
        else:
            text = f"{name or 'constant'}\n{shape_text(value.shape)}"
        home.get(node, dot).node(
            ident, text, id=ident, shape="box", style="dashed,filled", fillcolor="#f4f4f4",
            color="#9a9a9a", fontcolor="#555555",
            tooltip=f"input {input_name(node, index)} of {node.op.name}: a constant, no gradient needed")
        edges.append((ident, element_id(node), {"id": f"k{node.seq}_{index}", "style": "dashed",
                                               "color": "#b8b8b8"}))
    for box in boxes.values():
        dot.subgraph(box)
    for tail, head, attributes in edges:
        dot.edge(tail, head, **attributes)
    return dot


def _render_svg(dot: Any) -> str:
    """Graphviz's SVG, made fit to inline: no XML prologue, no comments, no namespace URLs."""
    import graphviz
    try:
        svg = dot.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as error:
        raise RuntimeError(
            "animate_backward lays the graph out with Graphviz's dot program, which was not "
            "found on PATH. Install Graphviz: apt-get install graphviz, brew install graphviz, "
            "or the installer from graphviz.org."
        ) from error
    svg = svg[svg.index("<svg"):]
    # Inside HTML the parser knows the SVG and xlink namespaces; the declarations are URLs
    # (never fetched, but a page that contains no URL at all is easier to trust and to test).
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    svg = svg.replace("<svg ", '<svg id="graph-svg" ', 1)
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)


# ---------------------------------------------------------------------------- the page
def _step_section(number_: int, steps: list[BackwardStep], tape: Tape, layers: BPLayers,
                  sources: list[str]) -> str:
    """The side panel's text for one step, as a hidden <section> that the script shows."""
    step = steps[number_ - 1]
    node = step.node
    e = html.escape
    loss = "loss"
    targets, edges, sends = [], [], []
    delta = layers.delta(node)
    if node.op is None:
        what = (f"<p>A leaf: its gradient is complete, so the engine hands it over. "
                f"<code>loss.backward()</code> would add it to <code>{e(node.label)}.grad</code>; "
                "this page used <code>gradients()</code>, so <code>.grad</code> was left as it was.</p>")
        rule = ""
    else:
        what = ""
        rule = (f"<p>Rule applied (the VJP of <b>{e(node.op.name)}</b>):</p>"
                f"<p class='formula'>{e(node.op.formula)}</p>")
        for index, parent in enumerate(node.parents):
            name = input_name(node, index)
            if parent is None:
                sends.append(f"<li><b>{e(name)}</b>: a constant, no gradient needed</li>")
                continue
            grad = step.input_grads[index]
            edges.append(f"e{node.seq}_{index}")
            targets.append(element_id(parent))
            called = layers.delta(parent)
            called = f" = {called}" if called else ""
            sends.append(
                f"<li><b>{e(bar(name))}{e(called)}</b> → {e(_name(parent, layers))} "
                f"<span class='seq'>#{parent.seq}</span>: {e(_describe(grad))}</li>")
    if node is tape.root:
        arrives = (f"<p><b>g</b> = ∂{loss}/∂{loss} = {e(_describe(step.grad))}: "
                   "the seed, where every backward pass starts.</p>")
    else:
        came = (f"the sum of {', '.join(sources)}: one term per use of this value"
                if len(sources) > 1 else sources[0] if sources else "")
        arrives = (f"<p><b>g</b> = ∂{loss}/∂(this node's output) = {e(came)}: "
                   f"{e(_describe(step.grad))}</p>")
    if delta:
        arrives += (f"<p class='bp'>This output is z{e(delta[1:])}, so g is <b>{e(delta)}</b> = "
                    f"∂C/∂z{e(delta[1:])}, the error of layer {layers.by_z[node].l} in Nielsen's "
                    "BP1–BP4.</p>")
    for layer in layers.layers:       # a leaf W^l or b^l: the result of BP4 or BP3
        for leaf, equation in ((layer.weight, "BP4"), (layer.bias, "BP3")):
            if node is leaf and node.op is None:
                arrives += (f"<p class='bp'>This is ∂C/∂{e(layers.names[node])}, the result of "
                            f"<b>{equation}</b>.</p>")
    equations = "".join(
        f"<p class='bp'><b>{e(mark.equation)}</b> {e(mark.text)}</p>"
        for mark in layers.marks.get(node, ()))
    sent = f"<p>Sends:</p><ul>{''.join(sends)}</ul>" if sends else ""
    return (
        f"<section data-node='{element_id(node)}' data-edges='{' '.join(edges)}' "
        f"data-targets='{' '.join(targets)}' hidden>"
        f"<h2>Step {number_} of {len(steps)}: {e(_name(node, layers))} "
        f"<span class='seq'>#{node.seq} on the tape</span></h2>"
        f"{what}{arrives}{rule}{equations}{sent}</section>"
    )


def _page(title: str, svg: str, tape: Tape, steps: list[BackwardStep], layers: BPLayers) -> str:
    sources: dict[Node, list[str]] = {}     # per node, the gradients it receives
    for step in steps:
        node = step.node
        for index, parent in enumerate(node.parents if node.op is not None else ()):
            if parent is not None:
                sources.setdefault(parent, []).append(
                    f"{bar(input_name(node, index))} from {_name(node, layers)} #{node.seq}")
    sections = "\n".join(
        _step_section(number_, steps, tape, layers, sources.get(step.node, []))
        for number_, step in enumerate(steps, start=1))
    bp = ("<p>BP1–BP4 (Nielsen, chapter 2): the rules marked on the nodes compute them; the "
          "gradient at each z<sup>l</sup> is δ<sup>l</sup>.</p>" if len(layers) else "")
    hooks = hooks_on(tape)
    if hooks:
        bp += f"<p>{html.escape(hooks_note(hooks))}</p>"
    return _TEMPLATE.format(title=html.escape(title), total=len(steps), svg=svg, sections=sections,
                            bp=bp, style=_STYLE, script=_SCRIPT)


_STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fafafa;
       display: flex; flex-direction: column; height: 100vh; }
header { display: flex; align-items: center; gap: 12px; padding: 8px 14px; background: #fff;
         border-bottom: 1px solid #ddd; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0 10px 0 0; }
header button { font-size: 14px; padding: 4px 12px; }
#slider { width: 260px; }
#counter { font-variant-numeric: tabular-nums; min-width: 7em; }
.hint { color: #777; font-size: 12px; }
main { flex: 1; display: flex; min-height: 0; }
#graph { flex: 1; overflow: auto; padding: 8px; min-width: 0; }
#graph:not(.actual) svg { width: 100%; height: 100%; }   /* else its own size, in pt */
aside { width: 400px; overflow: auto; background: #fff; border-left: 1px solid #ddd; padding: 10px 14px; }
aside h2 { font-size: 16px; margin: 4px 0 8px; }
.seq { color: #888; font-weight: normal; font-size: 12px; }
.formula { font-family: ui-monospace, Menlo, Consolas, monospace; background: #fff7e6;
           border-left: 3px solid #e65100; padding: 5px 8px; margin: 4px 0 10px; }
.bp { background: #eef4ff; border-left: 3px solid #3b6fd8; padding: 5px 8px; margin: 4px 0 8px; }
ul { padding-left: 18px; margin: 4px 0; }
li { margin-bottom: 4px; }
.intro { color: #555; font-size: 12.5px; border-top: 1px solid #eee; margin-top: 12px; padding-top: 8px; }
.legend span { display: inline-block; margin: 2px 10px 2px 0; font-size: 12px; }
.swatch { display: inline-block; width: 14px; height: 10px; border: 2px solid #555;
          vertical-align: middle; margin-right: 4px; }
/* The states of the graph, set by the script: one class per node or edge. */
.node.current ellipse, .node.current polygon { fill: #ffd54f; stroke: #e65100; stroke-width: 3; }
.node.done ellipse, .node.done polygon { fill: #d7ecd9; stroke: #2e7d32; }
.node.waiting ellipse, .node.waiting polygon { stroke: #e65100; stroke-width: 2; stroke-dasharray: 4 2; }
.edge text { visibility: hidden; }
.edge.carried text, .edge.sending text { visibility: visible; }
.edge.carried path, .edge.carried polygon { stroke: #2e7d32; stroke-width: 1.5; }
.edge.carried polygon { fill: #2e7d32; }
.edge.carried text { fill: #2e7d32; }
.edge.sending path { stroke: #e65100; stroke-width: 3; }
.edge.sending polygon { stroke: #e65100; fill: #e65100; }
.edge.sending text { fill: #b34700; font-weight: bold; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var sections = Array.prototype.slice.call(document.querySelectorAll("#steps > section"));
  var words = function (text) { return text ? text.split(" ") : []; };
  var steps = sections.map(function (s) {
    return { node: s.dataset.node, edges: words(s.dataset.edges), targets: words(s.dataset.targets) };
  });
  var slider = document.getElementById("slider");
  var counter = document.getElementById("counter");
  var prev = document.getElementById("prev");
  var next = document.getElementById("next");
  var graph = document.getElementById("graph");
  var current = 0;
  var marked = [];
  function mark(id, cls) {
    var element = document.getElementById(id);
    if (element) { element.classList.add(cls); marked.push([element, cls]); }
  }
  function show(k) {
    k = Math.max(1, Math.min(steps.length, k));
    current = k;
    marked.forEach(function (pair) { pair[0].classList.remove(pair[1]); });
    marked = [];
    var processed = {};
    for (var i = 0; i < k; i++) { processed[steps[i].node] = true; }
    for (i = 0; i < k; i++) {
      var step = steps[i], now = i === k - 1;
      mark(step.node, now ? "current" : "done");
      step.edges.forEach(function (edge, j) {
        mark(edge, now ? "sending" : "carried");
        if (!processed[step.targets[j]]) { mark(step.targets[j], "waiting"); }
      });
    }
    sections.forEach(function (s, i) { s.hidden = i !== k - 1; });
    slider.value = k;
    counter.textContent = "step " + k + " of " + steps.length;
    prev.disabled = k === 1;
    next.disabled = k === steps.length;
    if (graph.classList.contains("actual")) {
      var node = document.getElementById(steps[k - 1].node);
      if (node) { node.scrollIntoView({ block: "nearest", inline: "nearest" }); }
    }
  }
  prev.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  document.getElementById("zoom").addEventListener("click", function (event) {
    graph.classList.toggle("actual");
    event.target.textContent = graph.classList.contains("actual") ? "Fit to window" : "Actual size";
    show(current);
  });
  document.addEventListener("keydown", function (event) {
    var moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) { show(current + moves[event.key]); }
    else if (event.key === "Home") { show(1); }
    else if (event.key === "End") { show(steps.length); }
    else { return; }
    event.preventDefault();   // the slider would move a second time
  });
  show(1);
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <button id="prev" type="button">◀ Previous</button>
  <input id="slider" type="range" min="1" max="{total}" value="1" aria-label="step">
  <button id="next" type="button">Next ▶</button>
  <span id="counter">step 1 of {total}</span>
  <span class="hint">keys ← →, Home, End</span>
  <button id="zoom" type="button">Actual size</button>
</header>
<main>
<div id="graph">
{svg}
</div>
<aside>
<div id="steps">
{sections}
</div>
<div class="intro">
  <p>Each step is one node of the engine's real backward pass, in its order: the nodes are
  taken from the highest place on the tape (#) down, once each has received its gradient from
  every operation that used it. The node's rule turns the gradient <b>g</b> of its output into
  a gradient for each input (x̄, ȳ), sent back along the edges.</p>
  <div class="legend">
    <span><i class="swatch" style="background:#ffd54f;border-color:#e65100"></i>applying its rule now</span>
    <span><i class="swatch" style="background:#d7ecd9;border-color:#2e7d32"></i>done</span>
    <span><i class="swatch" style="border-style:dashed;border-color:#e65100"></i>has gradient, waiting</span>
    <span><i class="swatch" style="background:#dbe9f6"></i>parameter (leaf)</span>
    <span><i class="swatch" style="background:#f4f4f4;border-style:dashed;border-color:#9a9a9a"></i>
      constant</span>
  </div>
  <p>Edge labels: the gradient sent along the edge (shape and norm ‖·‖); hover for more.</p>
  {bp}
</div>
</aside>
</main>
<script>{script}</script>
</body>
</html>
"""
