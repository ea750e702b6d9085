"""``explain_backward``: the engine's real backward pass as a table; the tape reading it shares with draw."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_core as ac
import nn
from autograd_core import BackwardError, NotSaved, Tensor, explain_backward, trace_backward
from autograd_core.explain import Tape, bar, find_bp_layers, number, shorten, summarize, sup


def network(seed: int = 0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((5, 4)), np.eye(2)[rng.integers(0, 2, size=5)]
    model = nn.Sequential(nn.Dense(4, 3, seed=1), nn.Sigmoid(), nn.Dense(3, 2, seed=2), nn.Sigmoid())
    return model, nn.QuadraticCost()(model(x), y)


def test_rows_follow_the_engines_real_order():
    model, loss = network()
    table = explain_backward(loss)
    with trace_backward() as trace:
        loss.backward()
    assert [row.node for row in table.steps] == trace.order
    assert [row.step for row in table.steps] == list(range(1, len(trace) + 1))
    lines = str(table).splitlines()
    assert lines[0].split() [:2] == ["step", "operation"]
    assert sum(1 for line in lines if line[:1].isdigit()) == len(trace)


def test_explaining_changes_no_grad_and_keeps_the_graph():
    model, loss = network()
    saved = [(node, node.saved) for node in Tape(loss).nodes]
    explain_backward(loss, bp=True)
    assert all(p.grad is None for p in model.parameters())
    assert all(node.saved is kept for node, kept in saved)
    loss.backward(retain_graph=True)
    grads = [p.grad.copy() for p in model.parameters()]
    explain_backward(loss)                     # after a retained backward: still works, .grad untouched
    for p, before in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, before)


def test_explaining_runs_no_user_hook_and_says_so():
    W = Tensor([1.0, -2.0], requires_grad=True, name="W")
    calls = []
    W.register_hook(lambda g: calls.append(g) or g * 0.0)
    loss = (W * W).sum()
    table = explain_backward(loss)
    assert calls == [] and W.grad is None
    assert "1 hook registered with register_hook() did not run" in str(table)
    np.testing.assert_array_equal(table.trace.steps[-1].grad, 2 * W.data)
    loss.backward()
    assert len(calls) == 1


def test_each_row_has_the_rule_the_shapes_and_the_gradients_produced():
    model, loss = network()
    table = explain_backward(loss)
    matmul = next(row for row in table.steps if row.node.op is not None and row.node.op.name == "matmul")
    assert matmul.formula == ac.PRIMITIVES["matmul"].formula
    assert matmul.shapes == "5×3, 3×2 → 5×2"
    assert matmul.produced[0].startswith("g = mean ")
    assert matmul.produced[1].startswith(f"{bar('x')} = ")
    assert matmul.produced[2].startswith(f"{bar('y')} = ")
    first_layer = [row for row in table.steps if row.node.op is not None and row.node.op.name == "matmul"][-1]
    assert f"{bar('x')}: none (a constant)" in first_layer.produced     # the data batch needs none
    leaf = next(row for row in table.steps if row.node is model[0].W.node)
    assert leaf.operation == "leaf layers.0.W" and "layers.0.W.grad" in leaf.formula
    text = str(table)
    assert "z = x @ y;  x̄ = g @ yᵀ,  ȳ = xᵀ @ g" in text
    assert "g = 1 (the seed)" in text


def test_gradients_are_summarised_from_the_real_values():
    a = Tensor(-1.0, requires_grad=True, name="a")
    b = Tensor(2.0, requires_grad=True, name="b")
    g = (a * b + b ** 3).relu() * 2.0        # ab + b³ = 6 > 0
    rows = {row.node: row for row in explain_backward(g).steps}
    assert rows[a.node].produced == ["∂/∂a = 4"]                # d/da of 2(ab + b³) = 2b
    assert rows[b.node].produced == ["∂/∂b = 22"]               # 2(a + 3b²)


def test_bp_marks_the_rows_that_compute_bp1_to_bp4():
    model, loss = network()
    table = explain_backward(loss, bp=True)
    marked = [(row.node.op.name, row.marks) for row in table.steps if row.marks]
    assert marked == [("sigmoid", ["BP1"]), ("add", ["BP3"]), ("matmul", ["BP4", "BP2"]),
                      ("sigmoid", ["BP2"]), ("add", ["BP3"]), ("matmul", ["BP4"])]
    z3 = next(row for row in table.steps if row.node.op is not None and row.node.op.name == "add")
    assert z3.produced[0].startswith("g = δ³ = ")
    assert "[BP4, BP2]" in str(table)


def test_a_freed_graph_or_a_constant_cannot_be_explained():
    model, loss = network()
    loss.backward()
    with pytest.raises(BackwardError, match="retain_graph=True"):
        explain_backward(loss)
    with pytest.raises(BackwardError, match="does not require grad"):
        explain_backward(Tensor([1.0, 2.0]) * 2)


def test_an_output_with_several_elements_is_seeded_with_ones():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    table = explain_backward(x * 2.0)
    assert table.steps[0].produced[0] == "g = [1, 1, 1] (the seed)"
    assert table.steps[-1].produced == ["∂/∂x = [2, 2, 2]"]


def test_a_notebook_shows_an_html_table():
    x = Tensor([1.0, 2.0], requires_grad=True)
    html = explain_backward((x * x).sum())._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 4     # header + sum, mul, leaf


# ------------------------------------------------------------------ the tape reading shared with draw()

def test_the_tape_reads_every_node_and_constant_in_tape_order():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    out = (x * 2.0 + Tensor([3.0, 4.0])).sum()
    tape = Tape(out)
    assert [node.label for node in tape.nodes] == ["x", "mul", "add", "sum"]
    assert [(c.consumer.label, c.index) for c in tape.constants] == [("mul", 1), ("add", 1)]
    assert tape.constants[0].value.data == 2.0                      # kept for mul's rule
    assert tape.constants[1].value.data is None and tape.constants[1].value.shape == (2,)
    assert tape.value(out.node).how == "output"
    assert tape.value(x.node).how == "leaf"
    add = out.node.parents[0]
    assert tape.value(add).data is None                             # nothing kept it
    assert tape.recompute() == 1             # mul is replayed; add cannot be: [3, 4] was not kept
    assert tape.value(add).data is None
    np.testing.assert_array_equal(tape.value(add.parents[0]).data, [2.0, 4.0])

    out = (x * 2.0 + x).sum()
    tape = Tape(out)
    add = out.node.parents[0]
    assert tape.value(add).data is None and tape.recompute() == 2      # mul, then add
    np.testing.assert_array_equal(tape.value(add).data, [3.0, 6.0])
    assert tape.value(add).how == "recomputed"


def test_the_tape_of_a_freed_graph_still_has_its_structure():
    model, loss = network()
    loss.backward()
    tape = Tape(loss)
    assert tape.released and len(tape.operations) == 12 and len(tape.leaves) == 4


def test_bp_layers_are_numbered_as_nielsen_does():
    model, loss = network()
    layers = find_bp_layers(Tape(loss))
    assert [layer.l for layer in layers.layers] == [2, 3]
    assert [layer.output for layer in layers.layers] == [False, True]
    assert layers.layers[0].weight is model[0].W.node and layers.layers[1].bias is model[2].b.node
    assert layers.layers[0].input is None                            # a¹ is the data, a constant
    assert layers.layers[1].input is layers.layers[0].activation
    assert layers.delta(layers.layers[1].z) == "δ³" and sup(12) == "¹²"


def test_summaries():
    assert summarize(None) == "value not kept"
    assert summarize(NotSaved(np.ones(3))) == "value not kept"
    assert summarize(np.array(2.5)) == "2.5" and summarize(3.0) == "3"
    assert summarize(np.array([1.0, -2.0])) == "[1, -2]"
    assert summarize(np.arange(10.0)) == "mean 4.5 in [0, 9]"
    assert summarize(np.array([1.0, np.nan, 3.0, 5.0, 7.0])) == "mean 4 in [1, 7], 1 not finite"
    assert summarize(np.arange(10.0) / 3, max_chars=10) == "mean 1.5 …"
    assert summarize(np.zeros((0, 3))) == "empty"
    assert number(1 / 3) == "0.3333" and number(1.00001, 6) == "1.00001" and number(True) == "True"
    assert shorten("abcdef", 4) == "abc…"
