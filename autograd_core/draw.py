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

The parts: ``draw_picture.py`` writes the DOT statements, ``draw_fold.py`` decides what
is folded into one box, ``draw_labels.py`` holds the colours and the label helpers.
"""

from __future__ import annotations

from typing import Any

from .draw_picture import Picture
from .tensor import Tensor

INSTALL_PACKAGE = "pip install autograd-core[diagrams]  (or: pip install graphviz)"
INSTALL_DOT = ("apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS), "
               "conda install graphviz, or see https://graphviz.org/download/")


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
    - ``legend``, ``title``: a legend of the colours; a title, first line of the caption below.

    Render with ``.render("net", format="svg")`` or ``.pipe(format="png")`` (needs the
    Graphviz ``dot`` program); ``.source`` and ``.save("net.dot")`` need nothing more.
    """
    graphviz = _import_graphviz()
    if values not in ("kept", "recompute", "none"):
        raise ValueError(f"draw(): values must be 'kept', 'recompute' or 'none', got {values!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw(): rankdir must be 'TB' (top to bottom) or 'LR' (left to right), "
                         f"got {rankdir!r}")
    picture = Picture(tensor, grads=grads, bp=bp, values=values, max_chars=max_chars,
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
