"""nn against Nielsen's hand-written BP1–BP4 (nn.reference): gradients, deltas and whole training runs."""

import ast
import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn.reference import nielsen

REFERENCE_DIR = os.path.join(os.path.dirname(__file__), "..", "nn", "reference")


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("filename, allowed", [
    ("nielsen.py", {"__future__", "numpy"}),
    ("compare.py", {"__future__", "copy", "numpy", "dataclasses", "."}),
    ("__init__.py", {".compare", ".nielsen"}),
])
def test_reference_never_imports_the_engine(filename, allowed):
    imports = _imports(os.path.join(REFERENCE_DIR, filename))
    assert imports <= allowed, f"{filename} imports {imports - allowed}"


def test_nielsen_module_loads_without_the_engine():
    # Load the file on its own in a fresh interpreter: the engine must not come along.
    code = (
        "import importlib.util, sys\n"
        f"path = {os.path.join(REFERENCE_DIR, 'nielsen.py')!r}\n"
        "spec = importlib.util.spec_from_file_location('nielsen', path)\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('autograd_core', 'nn'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _network(sizes, seed, final_sigmoid=True):
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Dense(n_in, n_out, seed=seed + index), nn.Sigmoid()]
    return nn.Sequential(*(layers if final_sigmoid else layers[:-1]))


@settings(deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=2, max_size=5),
    batch=st.integers(1, 6),
    cost_kind=st.sampled_from(["quadratic", "cross-entropy", "cross-entropy-logits"]),
    lmbda=st.sampled_from([0.0, 0.8]),
    seed=st.integers(0, 10_000),
)
def test_engine_matches_bp1_to_bp4(sizes, batch, cost_kind, lmbda, seed):
    rng = np.random.default_rng(seed)
    model = _network(sizes, seed, final_sigmoid=cost_kind != "cross-entropy-logits")
    cost = {"quadratic": nn.QuadraticCost(), "cross-entropy": nn.CrossEntropyCost(),
            "cross-entropy-logits": nn.CrossEntropyCost(from_logits=True)}[cost_kind]
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.uniform(0, 1, (batch, sizes[-1]))
    report = nn.reference.compare(model, x, y, cost, lmbda=lmbda, n=50)
    assert len(report.layers) == len(sizes) - 1
    assert report.max_difference < 1e-10, str(report)
    # The engine's gradients are not trivially small: the comparison is not vacuous.
    assert max(np.abs(layer.W.grad).max() for layer in model.layers[::2]) > 1e-8
    # The fused opt-in computes the same BP1–BP4 with its hand-written rules.
    reports = nn.reference.compare(model, x, y, cost, lmbda=lmbda, n=50, forms=("composed", "fused"))
    assert list(reports) == ["composed", "fused"]
    assert reports.max_difference < 1e-10, str(reports)


def _op_names(loss):
    names, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.add(node.op.name if node.op is not None else "leaf")
            stack.extend(node.parents)
    return names


def test_what_compare_checks_by_default_is_made_of_engine_primitives_only():
    from autograd_core import PRIMITIVES

    model = _network([3, 4, 2], seed=0)
    x, y = np.ones((2, 3)), np.zeros((2, 2))
    names = _op_names(nn.QuadraticCost()(model(x), y))
    assert names - {"leaf"} <= set(PRIMITIVES) and not {"dense", "quadratic_cost"} & names
    assert nn.reference.compare(model, x, y, nn.QuadraticCost()).max_difference < 1e-12


def test_compare_reports_both_forms_on_a_copy_with_the_same_parameters():
    model = _network([3, 4, 2], seed=0)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 2))
    plain = nn.reference.compare(model, x, y, nn.QuadraticCost())
    composed_grads = [p.grad.copy() for p in model.parameters()]
    before = [p.data.copy() for p in model.parameters()]
    reports = nn.reference.compare(model, x, y, nn.QuadraticCost(), forms=nn.reference.FORMS)
    assert isinstance(reports, nn.reference.Reports) and list(reports) == ["composed", "fused"]
    assert [r.form for r in reports.values()] == ["composed", "fused"] and plain.form == ""
    text = str(reports)
    assert "engine (composed form) vs" in text and "engine (fused form) vs" in text
    assert text.count("largest absolute difference") == 2 and "DISAGREE" not in text
    assert str(plain).startswith("engine vs Nielsen's BP1-BP4 (quadratic cost, mini-batch of 5):")
    assert str(reports["composed"]).split("\n")[1:] == str(plain).split("\n")[1:]
    # The model is composed, so it ran the composed form itself; the fused form ran on a copy.
    assert not any(layer.fused for layer in model.layers[::2])
    for p, grad, value in zip(model.parameters(), composed_grads, before):
        np.testing.assert_array_equal(p.grad, grad)
        np.testing.assert_array_equal(p.data, value)


def test_compare_runs_the_composed_form_of_a_fused_model_on_a_copy():
    layers = [nn.Dense(3, 4, seed=0, fused=True), nn.Sigmoid(), nn.Dense(4, 2, seed=1, fused=True)]
    model = nn.Sequential(*layers)
    cost = nn.CrossEntropyCost(from_logits=True, fused=True)
    x, y = np.ones((2, 3)), np.full((2, 2), 0.25)
    reports = nn.reference.compare(model, x, y, cost, forms="composed")
    assert list(reports) == ["composed"] and reports.max_difference < 1e-12
    assert model[0].fused and cost.fused and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("forms", [(), ("fused", "fused"), ("compiled",)])
def test_compare_refuses_unknown_forms(forms):
    with pytest.raises(ValueError, match="forms must be some of"):
        nn.reference.compare(_network([2, 1], 0), np.ones((1, 2)), np.ones((1, 1)), nn.QuadraticCost(),
                             forms=forms)


def test_compare_notices_a_wrong_gradient():
    model = _network([3, 4, 2], seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 2))
    # A cost whose gradient is twice the quadratic cost's: compare must report a disagreement.
    class DoubledQuadratic(nn.QuadraticCost):
        def __call__(self, output, target):
            return super().__call__(output, target) * 2.0

    DoubledQuadratic.__name__ = "QuadraticCost"
    report = nn.reference.compare(model, x, y, DoubledQuadratic())
    assert report.max_difference > 1e-4
    assert "DISAGREE" in str(report)


def test_compare_report_prints_a_table():
    model = _network([4, 3, 2], seed=0)
    report = nn.reference.compare(model, np.ones((2, 4)), np.zeros((2, 2)), nn.QuadraticCost())
    text = str(report)
    assert "layers.0" in text and "layers.2 (output)" in text and "BP4" in text and "agree" in text


def test_compare_refuses_networks_it_does_not_cover():
    relu_net = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1), nn.Sigmoid())
    with pytest.raises(ValueError, match="dense sigmoid networks"):
        nn.reference.compare(relu_net, np.ones((1, 2)), np.ones((1, 1)), nn.QuadraticCost())
    with pytest.raises(ValueError, match="does not fit"):
        nn.reference.compare(_network([2, 1], 0), np.ones((1, 2)), np.ones((1, 1)),
                             nn.CrossEntropyCost(from_logits=True))


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_per_example_and_matrix_forms_agree(cost):
    rng = np.random.default_rng(3)
    sizes = [5, 4, 3]
    weights = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(o) for o in sizes[1:]]
    X, Y = rng.standard_normal((5, 7)), rng.uniform(0, 1, (3, 7))
    avg_b, avg_w = nielsen.backprop_averaged(weights, biases, X, Y, cost, lmbda=0.4, n=20)
    _, batch_b, batch_w = nielsen.backprop_batch(weights, biases, X, Y, cost, lmbda=0.4, n=20)
    for a, b in zip(avg_b + avg_w, batch_b + batch_w):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_reference_rejects_unknown_cost():
    with pytest.raises(ValueError, match="unknown cost"):
        nielsen.backprop_batch([np.ones((1, 1))], [np.ones(1)], np.ones((1, 1)), np.ones((1, 1)), "hinge")


@pytest.mark.parametrize("cost_kind", ["quadratic", "cross-entropy"])
def test_batch_mean_gradient_is_mean_of_per_example_gradients(cost_kind):
    rng = np.random.default_rng(5)
    model = _network([4, 6, 3], seed=2)
    cost = nn.QuadraticCost() if cost_kind == "quadratic" else nn.CrossEntropyCost()
    x, y = rng.standard_normal((8, 4)), rng.uniform(0, 1, (8, 3))
    sums = [np.zeros_like(p.data) for p in model.parameters()]
    for row in range(8):
        model.zero_grad()
        cost(model(x[row:row + 1]), y[row:row + 1]).backward()
        sums = [s + p.grad for s, p in zip(sums, model.parameters())]
    model.zero_grad()
    cost(model(x), y).backward()
    for s, p in zip(sums, model.parameters()):
        np.testing.assert_allclose(p.grad, s / 8, rtol=1e-12, atol=1e-15)


def _clusters(n, features, classes, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 1.2
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.standard_normal((n, features)), labels


@pytest.mark.parametrize("cost_kind, lmbda",
                         [("quadratic", 0.0), ("cross-entropy", 0.0), ("cross-entropy", 2.0)])
def test_training_with_engine_and_reference_gives_identical_accuracy(cost_kind, lmbda):
    x, labels = _clusters(240, 6, 3, seed=7)
    y = np.eye(3)[labels]
    x_train, y_train, x_test, labels_test = x[:180], y[:180], x[180:], labels[180:]
    model = _network([6, 8, 3], seed=11)
    dense = [model[0], model[2]]
    reference = nielsen.Network([d.W.data for d in dense], [d.b.data for d in dense], cost_kind)
    cost = nn.QuadraticCost() if cost_kind == "quadratic" else nn.CrossEntropyCost()
    eta, batch, n = 1.0, 12, len(x_train)
    opt = nn.SGD(model.parameters(), lr=eta)
    order_rng = np.random.default_rng(0)
    engine_acc, reference_acc = [], []
    for _epoch in range(5):
        order = order_rng.permutation(n)
        for first in range(0, n, batch):
            rows = order[first:first + batch]
            loss = cost(model(x_train[rows]), y_train[rows])
            if lmbda:
                loss = loss + nn.l2_penalty(model, lmbda, n)
            opt.zero_grad()
            loss.backward()
            opt.step()
            reference.update_mini_batch(x_train[rows].T, y_train[rows].T, eta, lmbda, n)
        engine_acc.append(float(np.mean(np.argmax(model(x_test).data, axis=1) == labels_test)))
        reference_acc.append(reference.accuracy(x_test.T, labels_test))
        for d, W, b in zip(dense, reference.weights, reference.biases):
            np.testing.assert_allclose(d.W.data, W, rtol=0, atol=1e-10)
            np.testing.assert_allclose(d.b.data, b, rtol=0, atol=1e-10)
    assert engine_acc == reference_acc
    assert engine_acc[-1] > 0.6  # it actually learned something


# ---------------------------------------------------------------- each column of compare()
# Each column must be able to fail on its own: a δ column that compared the engine with
# itself, or a bias column hard-wired to 0, would pass every test above. Each case below
# makes exactly one number wrong, by a relative 1e-6 (far below what finite differences
# resolve, far above compare's 1e-10), in exactly one layer, on the engine's side or on the
# reference's, and checks that only that cell of the table reports it.

COLUMNS = ("delta", "bias", "weight")    # LayerReport's fields, in the table's order
NUDGE = 1e-6


def _case_for_columns():
    # Seed 2 keeps every layer's δ and gradients above 1e-3, so a relative 1e-6 is > 1e-9.
    model = _network([4, 5, 3, 2], seed=2)
    rng = np.random.default_rng(4)
    return model, rng.standard_normal((6, 4)), rng.uniform(0, 1, (6, 2))


def _assert_only_cell_disagrees(report, layer, column):
    assert [r.layer for r in report.layers] == ["layers.0", "layers.2", "layers.4 (output)"]
    rows = str(report).split("\n")[2:-1]
    for index, (row, line) in enumerate(zip(report.layers, rows)):
        printed = [float(word) for word in line.split()[-3:]]   # delta, dC/db, dC/dW
        for position, name in enumerate(COLUMNS):
            value = getattr(row, name)
            if (index, name) == (layer, column):
                assert value > 1e-9 and printed[position] > 1e-9, str(report)
            else:
                assert value < 1e-14 and printed[position] < 1e-14, (index, name, str(report))
    assert report.max_difference > 1e-9 and "DISAGREE" in str(report)


def _compare_every_way(model, x, y):
    """The plain report and both forms': the same wrong cell must show in each."""
    cost = nn.QuadraticCost()
    reports = nn.reference.compare(model, x, y, cost, forms=nn.reference.FORMS)
    return [nn.reference.compare(model, x, y, cost), *reports.values()]


def test_the_case_for_columns_agrees_when_nothing_is_wrong():
    model, x, y = _case_for_columns()
    for report in _compare_every_way(model, x, y):
        assert report.max_difference < 1e-14, str(report)


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("column", COLUMNS)
def test_each_column_fails_alone_when_the_reference_is_wrong(monkeypatch, column, layer):
    honest = nielsen.backprop_batch

    def wrong(*args, **kwargs):
        parts = [list(part) for part in honest(*args, **kwargs)]   # deltas, nabla_b, nabla_w
        part = parts[COLUMNS.index(column)]
        part[layer] = part[layer] * (1 + NUDGE)
        return tuple(parts)

    monkeypatch.setattr(nielsen, "backprop_batch", wrong)
    model, x, y = _case_for_columns()
    for report in _compare_every_way(model, x, y):
        _assert_only_cell_disagrees(report, layer, column)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_the_delta_column_reads_the_engines_recorded_deltas(monkeypatch, layer):
    # δ recorded wrong while every gradient stays right: only the δ column may notice,
    # which it does only if it compares the engine's δ (not the reference's) with BP1/BP2.
    honest = nn.Module.record_deltas
    model, x, y = _case_for_columns()
    path = f"layers.{2 * layer}"

    @contextlib.contextmanager
    def nudged(self):
        with honest(self) as deltas:
            yield deltas
        deltas[path] = deltas[path] * (1 + NUDGE)

    monkeypatch.setattr(nn.Module, "record_deltas", nudged)
    for report in _compare_every_way(model, x, y):
        _assert_only_cell_disagrees(report, layer, column="delta")


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("column", ["bias", "weight"])
def test_the_gradient_columns_read_the_engines_gradients(monkeypatch, column, layer):
    # A deliberately wrong Dense layer: z's value and δ are right, but b.grad (or W.grad)
    # comes out (1 + 1e-6) times too large. ``p - p.detach()`` is exactly 0 with gradient 1,
    # and it bypasses z, whose hook records δ.
    honest = nn.Dense.forward
    model, x, y = _case_for_columns()
    shape = model.layers[2 * layer].W.shape     # a copy for the other form has the same shapes

    def wrong(self, inputs):
        z = honest(self, inputs)
        if self.W.shape != shape:
            return z
        if column == "bias":
            return z + (self.b - self.b.detach()) * NUDGE
        return z + (inputs @ (self.W - self.W.detach()).T) * NUDGE

    monkeypatch.setattr(nn.Dense, "forward", wrong)
    for report in _compare_every_way(model, x, y):
        _assert_only_cell_disagrees(report, layer, column)
