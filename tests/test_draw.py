"""Diagrams (``autograd_core.draw``): the DOT source of known graphs, then real rendering with ``dot``.

The DOT tests need only the graphviz Python package (a dev dependency); rendering needs
the Graphviz ``dot`` program, which ``require`` skips without locally and fails without
in CI (``.ci/run`` installs it).
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require

import autograd_core as ac
import nn
from autograd_core import Tensor, draw
from autograd_core.explain import Tape, summarize, sup

main_module = importlib.import_module("autograd_core.__main__")
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ reading DOT source

def nodes_of(source: str) -> dict[str, str]:
    """Node id -> its attribute text, for every node statement of the DOT source."""
    found = {}
    for line in source.splitlines():
        match = re.match(r"^\s*([A-Za-z_][\w.]*) \[(.*)\]$", line)
        if match and match.group(1) not in ("graph", "node", "edge") and "->" not in line:
            found[match.group(1)] = match.group(2)
    return found


def edges_of(source: str) -> list[tuple[str, str, str]]:
    """(source id, target id, attribute text) for every edge."""
    found = []
    for line in source.splitlines():
        match = re.match(r"^\s*(\S+) -> (\S+)(?: \[(.*)\])?$", line)
        if match:
            found.append((match.group(1), match.group(2), match.group(3) or ""))
    return found


def boxes(source: str) -> dict[str, str]:
    """The nodes that are the graph itself (no legend)."""
    return {name: attrs for name, attrs in nodes_of(source).items() if name != "legend"}


def network(fused: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((5, 4))
    y = np.eye(2)[rng.integers(0, 2, size=5)]
    model = nn.Sequential(nn.Dense(4, 3, seed=1, fused=fused), nn.Sigmoid(),
                          nn.Dense(3, 2, seed=2), nn.Sigmoid())
    return model, nn.QuadraticCost()(model(x), y)


def hand_written(column: bool = False, seed: int = 0):
    """The same 4-3-2 sigmoid network written with Tensor expressions: a Wᵀ + b, or W a + b."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((5, 4)), np.eye(2)[rng.integers(0, 2, size=5)]
    W2 = Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="W2")
    W3 = Tensor(rng.standard_normal((2, 3)), requires_grad=True, name="W3")
    if column:
        b2 = Tensor(rng.standard_normal((3, 1)), requires_grad=True, name="b2")
        b3 = Tensor(rng.standard_normal((2, 1)), requires_grad=True, name="b3")
        a3 = (W3 @ (W2 @ x.T + b2).sigmoid() + b3).sigmoid()
        cost = ((a3 - y.T) ** 2).sum() * 0.5
    else:
        b2 = Tensor(rng.standard_normal(3), requires_grad=True, name="b2")
        b3 = Tensor(rng.standard_normal(2), requires_grad=True, name="b3")
        a3 = ((x @ W2.T + b2).sigmoid() @ W3.T + b3).sigmoid()
        cost = ((a3 - y) ** 2).sum() * 0.5
    return [W2, b2, W3, b3], cost


def marks_by_operation(diagram) -> list[tuple[str, tuple[str, ...]]]:
    """(operation name, its BP marks) in tape order: comparable across equivalent graphs."""
    return [(node.op.name, tuple(sorted(mark.equation for mark in marks)))
            for node, marks in sorted(diagram.layers.marks.items(), key=lambda item: item[0].seq)]


# ------------------------------------------------------------------ what is drawn

def test_every_input_of_every_operation_is_drawn_with_its_value():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    out = (x * 2.0 + Tensor([3.0, 4.0])).sum()
    source = draw(out).source
    nodes = boxes(source)
    # 3 operations, 4 tensors (x and three results), 2 constants (the literal 2.0 and [3, 4])
    assert len([n for n in nodes if n.startswith("op")]) == 3
    assert len([n for n in nodes if n.startswith("t")]) == 4
    constants = [n for n in nodes if n.startswith("c")]
    assert len(constants) == 2
    assert len(nodes) == 9
    assert len(edges_of(source)) == 8          # x, 2.0 -> mul; mul -> t; t, [3,4] -> add; ... sum -> t
    mul = next(n for n in nodes if "<B>mul</B>" in nodes[n])
    assert {s for s, t, _ in edges_of(source) if t == mul} == {f"t{x.node.seq}", constants[0]}
    assert "constant" in nodes[constants[0]] and ">2<" in nodes[constants[0]]      # the literal, as kept
    assert "[3, 4]" not in nodes[constants[1]] and "value not saved" in nodes[constants[1]]
    assert "<B>x</B>" in nodes[f"t{x.node.seq}"] and "[1, 2]" in nodes[f"t{x.node.seq}"]


def test_a_constant_the_rule_did_not_save_says_so_with_its_shape_and_dtype():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True, name="x")
    out = (x + np.full((2, 3), 7.0, dtype=np.float32)).sum()      # add reads neither input
    constant = next(attrs for name, attrs in boxes(draw(out).source).items() if name.startswith("c"))
    assert "2×3 float32" in constant and "value not saved" in constant
    assert "add's rules do not read it" in constant                   # the tooltip says why


def test_a_constant_the_rule_did_not_save_keeps_its_name_and_a_literal_its_value():
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    target = Tensor(np.zeros(3), name="target")                   # sub's rules read neither input
    nodes = boxes(draw(((x - target) + 1.5).sum()).source)
    constants = [attrs for name, attrs in nodes.items() if name.startswith("c")]
    assert any("<B>target</B>" in attrs and "value not saved" in attrs for attrs in constants)
    assert any(">1.5<" in attrs for attrs in constants)            # add's literal, with its value


def test_a_single_value_is_never_rounded_to_a_whole_number_it_is_not():
    x = Tensor(2.0, requires_grad=True, name="x")
    source = draw(x * 1.0000001).source
    assert "1.0000001" in source
    assert summarize(np.array(1.0000001)) == "1.0000001" and summarize(np.array(3.0)) == "3"


def test_an_input_used_twice_has_two_arrows_named_after_the_rule():
    x = Tensor(3.0, requires_grad=True, name="x")
    source = draw(x * x).source
    into_mul = [attrs for _, target, attrs in edges_of(source) if target.startswith("op")]
    assert len(into_mul) == 2
    assert any(" x " in attrs for attrs in into_mul) and any(" y " in attrs for attrs in into_mul)


def test_names_shapes_dtypes_and_the_constant_names_the_tape_kept():
    W = Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True, name="W")
    data = Tensor(np.ones((4, 2), dtype=np.float32), name="batch")      # kept for matmul's rule
    out = (data @ W.T).sum()
    nodes = boxes(draw(out).source)
    assert "<B>W</B>" in nodes[f"t{W.node.seq}"] and "3×2 float32" in nodes[f"t{W.node.seq}"]
    assert any("<B>batch</B>" in attrs and "4×2 float32" in attrs for attrs in nodes.values())
    assert "<B>output</B>" in nodes[f"t{out.node.seq}"]


def test_kinds_have_their_own_colours_and_a_legend_names_them():
    model, loss = network()
    source = draw(loss).source
    nodes = nodes_of(source)
    colours = importlib.import_module("autograd_core.draw_labels").COLOURS
    W = model[0].W
    assert colours["parameter"] in nodes[f"t{W.node.seq}"]
    assert colours["output"] in nodes[f"t{loss.node.seq}"]
    assert any(colours["constant"] in attrs and "dashed" in attrs for attrs in nodes.values())
    assert colours["operation"] in nodes[f"op{loss.node.seq}"]
    assert "legend" in nodes and "parameter" in nodes["legend"] and "constant" in nodes["legend"]
    assert "legend" not in nodes_of(draw(loss, legend=False).source)


def test_operations_carry_their_rule_as_a_tooltip():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    out = (x @ Tensor(np.ones((3, 2)))).sum(axis=0)
    nodes = boxes(draw(out).source)
    matmul = nodes[f"op{out.node.parents[0].seq}"]
    assert ac.PRIMITIVES["matmul"].formula in matmul
    assert "axis=0" in nodes[f"op{out.node.seq}"]          # parameters shown on the operation


def test_long_values_are_shortened_in_labels_and_given_in_full_in_tooltips():
    values = np.arange(12.0) / 7
    x = Tensor(values, requires_grad=True, name="x")
    attrs = boxes(draw(x.sum(), max_chars=12).source)[f"t{x.node.seq}"]
    label = re.search(r"label=<(.*)> ", attrs).group(1)
    assert "…" in label
    tooltip = re.search(r'tooltip="(.*)"', attrs).group(1)
    assert all(f"{v:.5f}".rstrip("0") in tooltip for v in values[1:])
    # beyond tooltip_elements, numpy elides the middle
    assert "..." in boxes(draw(x.sum(), tooltip_elements=4).source)[f"t{x.node.seq}"]


def test_values_kept_recomputed_or_left_out():
    model, loss = network()
    z = loss.node
    while z.op.name != "add":                  # the last layer's z = a Wᵀ + b: not kept by the tape
        z = next(p for p in z.parents if p is not None)
    kept = boxes(draw(loss).source)[f"t{z.seq}"]
    assert "value not kept" in kept
    recomputed = boxes(draw(loss, values="recompute").source)[f"t{z.seq}"]
    assert "value not kept" not in recomputed and "recomputed" in recomputed
    assert "value not kept" not in draw(loss, values="none").source
    with pytest.raises(ValueError, match="values must be"):
        draw(loss, values="all")


def test_rankdir_left_to_right_or_top_to_bottom():
    x = Tensor(1.0, requires_grad=True)
    assert "rankdir=TB" in draw(x * 2).source
    assert "rankdir=LR" in draw(x * 2, rankdir="LR").source
    with pytest.raises(ValueError, match="rankdir"):
        draw(x * 2, rankdir="sideways")


def test_a_tensor_that_requires_no_grad_is_drawn_alone_with_a_note():
    diagram = draw(Tensor([1.0, 2.0]))
    assert len(boxes(diagram.source)) == 1
    assert "does not require grad" in " ".join(diagram.notes)


def test_elements_map_every_node_to_a_drawn_element():
    model, loss = network()
    diagram = draw(loss, grads=True)
    nodes = nodes_of(diagram.source)
    tape = Tape(loss)
    for node in tape.nodes:
        assert diagram.elements[node] in nodes
    for step in diagram.trace:
        assert diagram.elements[step.node] in nodes


# ------------------------------------------------------------------ gradients, and changing nothing

def snapshot(tensor):
    tape = Tape(tensor)
    return [(node, node.saved, node.out, node.watched, node.parents) for node in tape.nodes]


def assert_unchanged(before):
    for node, saved, out, watched, parents in before:
        assert node.saved is saved and node.out is out and node.watched is watched
        assert node.parents is parents
        if saved is not None:
            assert all(a is b for a, b in zip(node.saved, saved))


def test_drawing_changes_no_grad_and_no_graph():
    model, loss = network()
    before = snapshot(loss)
    for kwargs in ({}, {"grads": True}, {"grads": True, "bp": True, "values": "recompute"},
                   {"collapse": True}, {"max_nodes": 5}):
        draw(loss, **kwargs)
        assert all(p.grad is None for p in model.parameters())
        assert_unchanged(before)
    loss.backward()                             # the graph still works afterwards
    assert all(p.grad is not None for p in model.parameters())


def hooked_graph():
    """A graph with a user's hooks on a leaf and on a retained intermediate, and their calls."""
    W = Tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True, name="W")
    h = W * 2.0
    h.retain_grad()
    calls = []
    h.register_hook(lambda g: calls.append("h") or g * 100.0)      # replaces the gradient
    W.register_hook(lambda g: calls.append("W"))
    return W, h, (h * h).sum(), calls


def test_drawing_runs_no_user_hook():
    W, h, out, calls = hooked_graph()
    diagram = draw(out, grads=True)
    assert calls == [] and W.grad is None and h.grad is None
    shown = {step.node: step.grad for step in diagram.trace}
    np.testing.assert_array_equal(shown[h.node], 2 * h.data)          # the rule's own, no ×100
    assert "2 hooks registered with register_hook() did not run" in " ".join(diagram.notes)
    out.backward()                                                    # still registered
    assert calls == ["h", "W"]
    np.testing.assert_array_equal(W.grad, 2 * 100.0 * 2 * h.data)


def test_a_graph_without_hooks_has_no_note_about_them():
    _, loss = network()
    assert "hook" not in " ".join(draw(loss, grads=True).notes)


def test_gradients_shown_are_the_engines_own():
    model, loss = network()
    diagram = draw(loss, grads=True)
    assert "no .grad was changed" in " ".join(diagram.notes)
    shown = {step.node: step.grad for step in diagram.trace}
    loss.backward(retain_graph=True)
    for p in model.parameters():
        np.testing.assert_array_equal(shown[p.node], p.grad)
    nodes = boxes(diagram.source)
    W = model[0].W
    assert f"grad = {summarize(W.grad, 44)}" in nodes[f"t{W.node.seq}"]
    assert "grad = 1 (seed)" in nodes[f"t{loss.node.seq}"]
    assert "no gradient (constant)" in diagram.source


def test_after_a_retained_backward_grads_are_recomputed_and_grad_is_untouched():
    model, loss = network()
    loss.backward(retain_graph=True)
    grads = {id(p): (p.grad, p.grad.copy()) for p in model.parameters()}
    diagram = draw(loss, grads=True)
    for p in model.parameters():
        array, copy = grads[id(p)]
        assert p.grad is array
        np.testing.assert_array_equal(p.grad, copy)
    assert diagram.trace is not None and "retain_graph" not in " ".join(diagram.notes[1:])


def test_after_a_backward_that_freed_the_graph_the_leaves_grad_is_drawn():
    model, loss = network()
    loss.backward()
    model[2].b.grad = None                     # one leaf without a gradient
    diagram = draw(loss, grads=True, bp=True)
    notes = " ".join(diagram.notes)
    assert "retain_graph=True" in notes and "freed" in notes
    assert diagram.trace is None
    nodes = boxes(diagram.source)
    W = model[0].W
    assert f".grad = {summarize(W.grad, 44)}" in nodes[f"t{W.node.seq}"]
    assert "no gradient yet" in nodes[f"t{model[2].b.node.seq}"]       # never a misleading 0
    assert "freed by backward()" in diagram.source


# ------------------------------------------------------------------ layers as clusters

def test_nn_layers_are_clusters_named_from_parameter_names():
    model, loss = network()
    diagram = draw(loss)
    source = diagram.source
    assert 'subgraph "cluster_layers.0" {' in source and 'subgraph "cluster_layers.2" {' in source
    cluster = source.split('subgraph "cluster_layers.0" {')[1].split("}")[0]
    W, b = model[0].W, model[0].b
    assert f"t{W.node.seq} [" in cluster and f"t{b.node.seq} [" in cluster
    assert "<B>transpose</B>" in cluster and "<B>matmul</B>" in cluster and "<B>add</B>" in cluster
    assert "<B>sigmoid</B>" not in cluster                 # nn.Sigmoid is a layer of its own


def test_a_layer_collapses_into_one_box():
    model, loss = network()
    full = boxes(draw(loss).source)
    diagram = draw(loss, collapse=("layers.0",))
    nodes = boxes(diagram.source)
    box = [name for name, attrs in nodes.items() if "box3d" in attrs]
    assert len(box) == 1 and "layers.0" in nodes[box[0]]
    assert "layers.0.W" in nodes[box[0]]                   # its parameters are listed in the box
    assert f"t{model[0].W.node.seq}" not in nodes
    assert len(nodes) < len(full)
    both = boxes(draw(loss, collapse=True).source)
    assert len([n for n, attrs in both.items() if "box3d" in attrs]) == 2
    assert any("constant" in attrs for attrs in both.values())    # the data batch still enters
    with pytest.raises(ValueError, match="layers.0, layers.2"):
        draw(loss, collapse=("layers.5",))


# ------------------------------------------------------------------ BP1–BP4

EXPECTED_MARKS = [("transpose", ()), ("matmul", ("BP4",)), ("add", ("BP3",)), ("sigmoid", ("BP2",)),
                  ("transpose", ()), ("matmul", ("BP2", "BP4")), ("add", ("BP3",)), ("sigmoid", ("BP1",))]


def test_bp_marks_delta_and_bp1_to_bp4_on_the_composed_network():
    model, loss = network()
    diagram = draw(loss, bp=True)
    source = diagram.source
    assert [m for m in marks_by_operation(diagram)] == [m for m in EXPECTED_MARKS if m[1]]
    assert "δ² = ∂C/∂z²" in source and "δ³ = ∂C/∂z³" in source
    for equation in ("BP1", "BP2", "BP3", "BP4"):
        assert f"<B>{equation}" in source or f"{equation}</B>" in source
    # the arrows whose gradient a BP rule computes are marked too
    labels = [attrs for _, _, attrs in edges_of(source) if "BP" in attrs]
    assert any("y BP4" in a for a in labels) and any("y BP3" in a for a in labels)
    assert any("x BP2" in a for a in labels) and any("BP1" in a for a in labels)
    assert "W²" in source and "b³" in source and "a¹" in source


def test_bp_with_gradients_labels_delta_with_its_values():
    rng = np.random.default_rng(3)
    x, y = rng.random((5, 4)), np.eye(2)[rng.integers(0, 2, size=5)]
    model = nn.Sequential(nn.Dense(4, 3, seed=1), nn.Sigmoid(), nn.Dense(3, 2, seed=2), nn.Sigmoid())
    with model.record_deltas() as deltas:      # nn's own record of δ at each z, from a real backward
        loss = nn.QuadraticCost()(model(x), y)
        loss.backward(retain_graph=True)
    recorded = {key: value.copy() for key, value in deltas.items()}
    diagram = draw(loss, grads=True, bp=True)
    nodes = boxes(diagram.source)
    for layer, key in zip(diagram.layers.layers, ("layers.0", "layers.2")):
        text = f"δ{sup(layer.l)} = {summarize(recorded[key], 44)}"
        assert text in nodes[f"t{layer.z.seq}"]


def test_bp_names_the_target_y_that_the_cost_compares_with():
    _, loss = network()
    nodes = boxes(draw(loss, bp=True).source)
    targets = [attrs for name, attrs in nodes.items() if name.startswith("c") and ">y (the target)<" in attrs]
    assert len(targets) == 1 and "5×2 float64" in targets[0]
    assert "the target" not in draw(loss).source                     # only where bp=True reads it


@pytest.mark.parametrize("column", [False, True], ids=["a·Wᵀ + b", "W·a + b"])
def test_bp_marks_the_same_rules_on_a_hand_written_network(column):
    _, cost = hand_written(column)
    diagram = draw(cost, bp=True)
    marks = marks_by_operation(diagram)
    assert marks == [m for m in EXPECTED_MARKS if m[1]]
    assert "δ² = ∂C/∂z²" in diagram.source and "δ³ = ∂C/∂z³" in diagram.source


def test_bp_on_a_fused_dense_says_the_node_hides_the_equations():
    model, loss = network(fused=True)
    diagram = draw(loss, bp=True)
    dense = [node for node in diagram.layers.marks if node.op.name == "dense"]
    assert len(dense) == 1 and diagram.layers.marks[dense[0]][0].equation == "fused"
    assert "hides" in " ".join(diagram.notes) or "hidden" in " ".join(diagram.notes)
    assert "δ² = ∂C/∂z²" in diagram.source                # δ is still where it is
    assert "fused=False" in diagram.source


def test_bp_without_the_pattern_says_so():
    x = Tensor([1.0, -2.0], requires_grad=True)
    diagram = draw((x.tanh() * 3.0).sum(), bp=True)
    assert "no weighted input" in " ".join(diagram.notes)
    assert "BP1" not in diagram.source


# ------------------------------------------------------------------ large graphs

def test_a_100000_node_graph_becomes_a_small_diagram_with_the_fallback_message():
    # What keeps this fast is that Graphviz gets at most max_nodes boxes, whatever the tape;
    # the time itself is measured, not asserted (about 1 s to draw and 0.2 s to render here).
    x = Tensor(1.0, requires_grad=True, name="x")
    y = x
    for _ in range(50_000):
        y = y * 1.00001 + 0.5                  # 100,000 operations
    diagram = draw(y, max_nodes=200)
    assert "Large graph: 100,000 operations" in diagram.notes[-1]
    assert "(mul → add) ×49,998" in diagram.source       # the repeated step, folded
    assert len(boxes(diagram.source)) <= 200


def test_a_wide_graph_keeps_the_part_nearest_the_output():
    leaves = [Tensor(float(i), requires_grad=True, name=f"w{i}") for i in range(2000)]
    total = leaves[0] * 2.0
    for leaf in leaves[1:]:
        total = total + leaf * 2.0
    diagram = draw(total, max_nodes=120)
    assert "farthest from the output" in diagram.notes[-1]
    nodes = boxes(diagram.source)
    assert len(nodes) <= 120
    assert f"t{leaves[-1].node.seq}" in nodes and f"t{leaves[0].node.seq}" not in nodes


def test_a_deep_network_collapses_its_layers_first():
    layers = []
    for i in range(40):
        layers += [nn.Dense(3, 3, seed=i), nn.Sigmoid()]
    out = nn.Sequential(*layers)(np.ones((2, 3))).sum()
    diagram = draw(out, bp=True, max_nodes=100)
    assert "layer(s) collapsed" in diagram.notes[-1]
    assert len(boxes(diagram.source)) <= 100
    assert "δ²" in diagram.source                           # the first layer's δ still shows


# ------------------------------------------------------------------ optional dependencies

def test_without_dot_the_source_works_and_rendering_says_how_to_install(tmp_path, monkeypatch):
    graphviz = require("graphviz", "draw() builds on the graphviz package")
    _, loss = network()
    diagram = draw(loss, grads=True)
    monkeypatch.setenv("PATH", str(tmp_path))              # no dot on this PATH
    diagram.save(tmp_path / "graph.dot")
    assert (tmp_path / "graph.dot").read_text(encoding="utf-8").startswith("digraph")
    for render in (lambda: diagram.pipe(format="svg"), lambda: diagram.render(tmp_path / "g", format="png")):
        with pytest.raises(graphviz.ExecutableNotFound) as caught:
            render()
        message = str(caught.value)
        assert "apt-get install graphviz" in message and "brew install graphviz" in message
        assert "diagram.source" in message


def test_without_the_graphviz_package_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=re.escape("pip install autograd-core[diagrams]")):
        draw(Tensor(1.0, requires_grad=True) * 2)


def test_the_engine_knows_nothing_of_drawing():
    """Only the package's front door and the command line import draw; graphviz only inside functions."""
    for path in sorted((ROOT / "autograd_core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(ROOT).with_suffix("").as_posix()
        for statement in ast.walk(tree):
            module = statement.module.rsplit(".", 1)[-1] if isinstance(statement, ast.ImportFrom) and \
                statement.module else ""
            if module.startswith("draw"):           # draw and its parts (draw_picture, draw_fold, ...)
                assert name in ("autograd_core/__init__", "autograd_core/__main__") or \
                    (name.startswith("autograd_core/draw") and module != "draw"), f"{name} imports {module}"
        for statement in tree.body:                         # module level: no graphviz
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in statement.names] + [getattr(statement, "module", None) or ""]
                assert "graphviz" not in names, f"{name} imports graphviz at module level"


# ------------------------------------------------------------------ rendering with the real dot

def test_rendering_svg_and_png_with_dot(tmp_path):
    require("dot", "Graphviz renders the diagrams")
    model, loss = network()
    diagram = draw(loss, grads=True, bp=True)
    svg = diagram.pipe(format="svg").decode("utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert f'id="op{loss.node.seq}"' in svg                 # the element ids survive into SVG
    assert "x̄ = g @ yᵀ" in svg                              # an operation's rule, as its tooltip
    assert "δ³" in svg
    png = diagram.pipe(format="png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    path = diagram.render(tmp_path / "net", format="svg", cleanup=True)
    assert Path(path).read_text(encoding="utf-8").count("<g id=") > 10


def test_rendering_nielsens_network_on_a_mini_batch(tmp_path):
    require("dot", "Graphviz renders the diagrams")
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 784)), np.eye(10)[rng.integers(0, 10, size=10)]
    model = nn.Sequential(nn.Dense(784, 30, seed=1), nn.Sigmoid(), nn.Dense(30, 10, seed=2), nn.Sigmoid())
    loss = nn.QuadraticCost()(model(x), y)
    svg = draw(loss, grads=True, bp=True).pipe(format="svg").decode("utf-8")
    assert len(svg) < 2_000_000                  # values summarised, not dumped
    for label in ("δ²", "δ³", "y (the target)", "BP1", "BP2", "BP3", "BP4", "10×784 float64"):
        assert label in svg, label


# ------------------------------------------------------------------ the command line

def run_cli(capsys, *args):
    code = main_module.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("example", list(main_module.EXAMPLES))
def test_cli_draws_each_example_as_dot(tmp_path, capsys, example):
    target = tmp_path / f"{example}.dot"
    code, out, _ = run_cli(capsys, "draw", example, "--grads", "--bp", "-o", str(target))
    assert code == 0 and f"wrote {target}" in out
    source = target.read_text(encoding="utf-8")
    assert source.startswith("digraph") and "grad = 1 (seed)" in source


def test_cli_examples_compute_what_they_promise():
    g, leaves = main_module.micrograd()
    assert f"{g.item():.4f}" == "24.7041"
    ga, gb = ac.gradients(g, leaves)
    assert (f"{ga:.4f}", f"{gb:.4f}") == ("138.8338", "645.5773")
    cost, params = main_module.nielsen()
    assert [p.shape for p in params] == [(30, 784), (30,), (10, 30), (10,)]
    marks = draw(cost, bp=True).layers
    assert [layer.l for layer in marks.layers] == [2, 3] and marks.layers[-1].output


def test_cli_renders_png_and_svg(tmp_path, capsys):
    require("dot", "Graphviz renders the diagrams")
    code, _, _ = run_cli(capsys, "draw", "neuron", "-o", str(tmp_path / "n.png"))
    assert code == 0 and (tmp_path / "n.png").read_bytes()[:4] == b"\x89PNG"
    code, _, _ = run_cli(capsys, "draw", "nielsen", "--grads", "--bp", "--format", "svg",
                         "-o", str(tmp_path / "n.out"))
    assert code == 0 and b"<svg" in (tmp_path / "n.out").read_bytes()


def test_cli_expression_with_variables(tmp_path, capsys):
    target = tmp_path / "e.dot"
    code, _, _ = run_cli(capsys, "draw", "--expr", "(w @ x + b).sigmoid()", "--var", "w=[0.8,0.3]",
                         "--const", "x=[0.5,-1.5]", "--var", "b=0.1", "--grads", "--bp", "-o", str(target))
    assert code == 0
    source = target.read_text(encoding="utf-8")
    assert "<B>w</B>" in source and "<B>b</B>" in source and "BP4" in source
    code, _, _ = run_cli(capsys, "draw", "--expr", "(x @ W.T).sum(axis=0).tanh()", "--var", "W=randn(3,2)",
                         "--const", "x=rand(4,2)", "-o", str(target))
    assert code == 0 and "axis=0" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')", "x.__class__", "open('f')", "x.sigmoid.__self__",
    "[x for x in ()]", "lambda: 1", "x if x else x", "x.sum(axis=__import__('os'))",
])
def test_cli_refuses_anything_but_arithmetic_and_tensor_methods(capsys, expression):
    with pytest.raises(SystemExit) as caught:
        main_module.main(["draw", "--expr", expression, "--var", "x=1.0", "-o", "-"])
    assert caught.value.code == 2
    assert "--expr" in capsys.readouterr().err


def test_cli_explain_prints_the_table(capsys):
    code, out, _ = run_cli(capsys, "explain", "neuron", "--bp")
    assert code == 0 and "rule (vector-Jacobian product)" in out and "BP1" in out and "δ²" in out


def test_cli_help_is_complete(capsys):
    for command in ("draw", "explain"):
        with pytest.raises(SystemExit):
            main_module.main([command, "--help"])
        text = capsys.readouterr().out
        for word in ("neuron", "nielsen", "micrograd", "--expr", "--var", "--const", "--bp",
                     "apt-get install graphviz"):
            assert word in text, (command, word)
    with pytest.raises(SystemExit):
        main_module.main(["draw", "--help"])
    text = capsys.readouterr().out
    for option in ("--output", "--format", "--grads", "--values", "--rankdir", "--collapse", "--collapse-all",
                   "--max-nodes", "--max-chars", "--tooltip-elements", "--no-legend", "--title"):
        assert option in text, option
    # the step-through page is one of the outputs: named wherever outputs are listed
    assert "FILE.html" in text and "-o backward.html" in text
    assert "the page uses --rankdir and --title" in text
    with pytest.raises(SystemExit):
        main_module.main(["--help"])
    assert "SVG, PNG, DOT or the step-through HTML page" in capsys.readouterr().out


def test_cli_every_option_has_help():
    parser = main_module.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help and len(action.help) > 10, (name, action.option_strings or action.dest)


def test_cli_without_dot_explains_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run_cli(capsys, "draw", "neuron", "-o", str(tmp_path / "n.svg"))
    assert code == 1 and "apt-get install graphviz" in err
    assert "-o FILE.dot" in err                 # what to do from the command line meanwhile
    code, _, _ = run_cli(capsys, "draw", "neuron", "-o", str(tmp_path / "n.dot"))
    assert code == 0                            # DOT needs no dot
