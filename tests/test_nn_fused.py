"""nn's fused opt-in against its default composition: same values, same gradients, other graphs.

By default ``nn.Dense`` is ``x @ W.T + b`` and every cost is composed from the engine's
primitives; ``fused=True`` records one node of ``nn/fused.py`` instead. Here both forms
see the same random inputs (float64) and must agree on the value and on the gradient of
every input to rtol 1e-12, for a batch as rows, one example (1-D) and extra leading axes.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from autograd_core import PRIMITIVES, Tensor
from nn.fused import FUSED

RTOL, ATOL = 1e-12, 1e-15


def _both_forms(make_output, inputs, seed):
    """Value and gradients of every input, for ``make_output(fused, *tensors)`` in each form.

    The output is weighted by a random upstream gradient (never ones) before summing,
    so a rule that ignores g's values or its shape cannot pass.
    """
    results = []
    for fused in (False, True):
        tensors = [Tensor(value.copy(), requires_grad=True) for value in inputs]
        out = make_output(fused, *tensors)
        weight = np.random.default_rng(seed).standard_normal(out.shape)
        (out * weight).sum().backward()
        results.append((out.data, [t.grad for t in tensors]))
    return results


def _assert_agree(results):
    (composed, composed_grads), (fused, fused_grads) = results
    np.testing.assert_allclose(fused, composed, rtol=RTOL, atol=ATOL)
    for index, (g_composed, g_fused) in enumerate(zip(composed_grads, fused_grads)):
        assert g_composed.shape == g_fused.shape, f"input {index}"
        # An entry near 0 can be the difference of two terms of the array's size (σ(z) − y):
        # its rounding is relative to the largest entry, not to itself.
        scale = float(np.max(np.abs(g_composed), initial=0.0))
        np.testing.assert_allclose(g_fused, g_composed, rtol=RTOL, atol=ATOL + RTOL * scale,
                                   err_msg=f"input {index}")


# ------------------------------------------------------------------------- Dense
@settings(deadline=None)
@given(
    leading=st.sampled_from([(), (1,), (5,), (2, 3), (2, 1, 4)]),
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_fused_dense_matches_the_composed_layer(leading, in_features, out_features, seed):
    """() is one example (1-D x), (5,) a batch as rows, longer tuples extra leading axes."""
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((*leading, in_features)),
              rng.standard_normal((out_features, in_features)),
              rng.standard_normal(out_features)]

    def layer_output(fused, x, W, b):
        layer = nn.Dense(in_features, out_features, fused=fused)
        layer.W, layer.b = W, b          # the same tensors in both forms
        return layer(x)

    _assert_agree(_both_forms(layer_output, inputs, seed))


def test_dense_form_can_be_switched_and_shows_in_repr():
    layer = nn.Dense(3, 2, seed=0)
    assert repr(layer) == "Dense(3, 2)" and layer.fused is False
    x = np.random.default_rng(0).standard_normal((4, 3))
    composed = layer(x).data
    layer.fused = True
    assert repr(layer) == "Dense(3, 2, fused=True)"
    np.testing.assert_allclose(layer(x).data, composed, rtol=RTOL)
    assert repr(nn.Dense(3, 2, fused=True)) == "Dense(3, 2, fused=True)"


@pytest.mark.parametrize("fused", [False, True])
def test_both_dense_forms_check_the_input_width(fused):
    layer = nn.Dense(3, 2, fused=fused)
    with pytest.raises(ValueError, match=r"input has shape \(4, 5\), but its last axis must have 3"):
        layer(np.zeros((4, 5)))


# ------------------------------------------------------------------------- costs
_ELEMENTWISE_SHAPES = [(4, 3), (1, 5), (6,), (2, 3, 4)]


def _targets(rng, shape):
    return rng.uniform(0, 1, shape)


@settings(deadline=None)
@given(shape=st.sampled_from(_ELEMENTWISE_SHAPES), seed=st.integers(0, 10_000))
def test_fused_quadratic_cost_matches_the_composed_cost(shape, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape), _targets(rng, shape)]
    _assert_agree(_both_forms(lambda fused, a, y: nn.QuadraticCost(fused=fused)(a, y), inputs, seed))


@settings(deadline=None)
@given(shape=st.sampled_from(_ELEMENTWISE_SHAPES), scale=st.sampled_from([0.1, 3.0, 30.0]),
       seed=st.integers(0, 10_000))
def test_fused_sigmoid_cross_entropy_matches_the_composed_cost(shape, scale, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape) * scale, _targets(rng, shape)]
    cost = {fused: nn.CrossEntropyCost(from_logits=True, fused=fused) for fused in (False, True)}
    _assert_agree(_both_forms(lambda fused, z, y: cost[fused](z, y), inputs, seed))


@settings(deadline=None)
@given(batch=st.integers(1, 6), classes=st.integers(1, 6), one_hot=st.booleans(),
       seed=st.integers(0, 10_000))
def test_fused_softmax_cross_entropy_matches_the_composed_cost(batch, classes, one_hot, seed):
    rng = np.random.default_rng(seed)
    # Soft targets whose rows do not sum to 1 need the general rule; one-hot rows the usual one.
    y = np.eye(classes)[rng.integers(0, classes, batch)] if one_hot else _targets(rng, (batch, classes))
    inputs = [rng.standard_normal((batch, classes)) * 3, y]
    _assert_agree(_both_forms(lambda fused, z, y: nn.SoftmaxCrossEntropy(fused=fused)(z, y), inputs, seed))


def test_integer_labels_give_the_same_cost_in_both_forms():
    rng = np.random.default_rng(4)
    z, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    values = [nn.SoftmaxCrossEntropy(fused=fused)(z, labels).item() for fused in (False, True)]
    np.testing.assert_allclose(values[1], values[0], rtol=RTOL)


@pytest.mark.parametrize("fused", [False, True])
def test_cost_values_are_the_textbook_formulas(fused):
    rng = np.random.default_rng(5)
    a, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    z = rng.standard_normal((4, 3)) * 2
    sigma = 1 / (1 + np.exp(-z))
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(nn.QuadraticCost(fused=fused)(a, y).item(),
                               0.5 * np.sum((a - y) ** 2) / 4, rtol=1e-14)
    np.testing.assert_allclose(nn.CrossEntropyCost(from_logits=True, fused=fused)(z, y).item(),
                               -np.sum(y * np.log(sigma) + (1 - y) * np.log(1 - sigma)) / 4, rtol=1e-12)
    np.testing.assert_allclose(nn.SoftmaxCrossEntropy(fused=fused)(z, y).item(),
                               -np.sum(y * np.log(softmax)) / 4, rtol=1e-12)


def test_cross_entropy_on_probabilities_has_no_fused_form():
    with pytest.raises(ValueError, match=r"fused=True needs from_logits=True"):
        nn.CrossEntropyCost(fused=True)


def test_cost_reprs_show_fused_only_when_set():
    assert [repr(c) for c in (nn.QuadraticCost(), nn.CrossEntropyCost(from_logits=True),
                              nn.SoftmaxCrossEntropy())] == \
        ["QuadraticCost()", "CrossEntropyCost(from_logits=True)", "SoftmaxCrossEntropy()"]
    assert [repr(c) for c in (nn.QuadraticCost(fused=True), nn.CrossEntropyCost(from_logits=True, fused=True),
                              nn.SoftmaxCrossEntropy(fused=True))] == \
        ["QuadraticCost(fused=True)", "CrossEntropyCost(from_logits=True, fused=True)",
         "SoftmaxCrossEntropy(fused=True)"]


# ---------------------------------------------------------- which graph is recorded
def _op_names(loss):
    """The name of every operation in the graph below ``loss``, walking grad_fn's parents."""
    names, seen, stack = set(), set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op is not None:
            names.add(node.op.name)
        stack.extend(node.parents)
    return names


def _network_loss(cost, fused, final_sigmoid=True):
    rng = np.random.default_rng(6)
    layers = [nn.Dense(4, 5, seed=1, fused=fused), nn.Sigmoid(), nn.Dense(5, 3, seed=2, fused=fused)]
    model = nn.Sequential(*layers, *([nn.Sigmoid()] if final_sigmoid else []))
    x, y = rng.standard_normal((6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    return cost(model(x), y)


_COSTS = [
    ("QuadraticCost", lambda fused: nn.QuadraticCost(fused=fused), True, "quadratic_cost"),
    ("CrossEntropyCost", lambda fused: nn.CrossEntropyCost(), True, None),
    ("CrossEntropyCost(from_logits)", lambda fused: nn.CrossEntropyCost(from_logits=True, fused=fused),
     False, "sigmoid_cross_entropy"),
    ("SoftmaxCrossEntropy", lambda fused: nn.SoftmaxCrossEntropy(fused=fused), False,
     "softmax_cross_entropy"),
]


@pytest.mark.parametrize("make_cost, final_sigmoid", [c[1:3] for c in _COSTS], ids=[c[0] for c in _COSTS])
def test_the_default_network_records_only_engine_primitives(make_cost, final_sigmoid):
    names = _op_names(_network_loss(make_cost(False), fused=False, final_sigmoid=final_sigmoid))
    assert names <= set(PRIMITIVES), f"not engine primitives: {names - set(PRIMITIVES)}"
    assert not names & set(FUSED)
    assert {"matmul", "transpose", "add", "sigmoid"} <= names


@pytest.mark.parametrize("make_cost, final_sigmoid, fused_cost",
                         [c[1:] for c in _COSTS], ids=[c[0] for c in _COSTS])
def test_a_fused_network_records_the_fused_nodes(make_cost, final_sigmoid, fused_cost):
    names = _op_names(_network_loss(make_cost(True), fused=True, final_sigmoid=final_sigmoid))
    assert "dense" in names and not {"matmul", "transpose"} & names
    if fused_cost is not None:
        assert fused_cost in names
    assert names <= set(PRIMITIVES) | set(FUSED)


def test_fused_nodes_are_nns_own_primitives():
    assert set(FUSED) == {"dense", "quadratic_cost", "sigmoid_cross_entropy", "softmax_cross_entropy"}
    assert not set(FUSED) & set(PRIMITIVES)
    for prim in FUSED.values():
        assert prim.why.startswith("speed"), f"{prim.name}: say why it is fused"


# ------------------------------------------------- the composed cost from logits alone
def test_composed_cross_entropy_from_logits_is_exact_at_zero_and_stable_far_out():
    z = Tensor(np.array([[0.0, 1000.0, -1000.0, 0.0]]), requires_grad=True)
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    loss = nn.CrossEntropyCost(from_logits=True)(z, y)
    loss.backward()
    np.testing.assert_allclose(loss.item(), 2 * np.log(2.0) + 2000.0, rtol=1e-15)
    np.testing.assert_array_equal(z.grad, [[-0.5, 1.0, -1.0, 0.5]])
    assert {"logsumexp", "concatenate"} <= _op_names(loss)


def test_dense_gradients_come_from_matmul_transpose_and_add():
    """BP4's δᵀa reaches W through transpose; BP3's Σ δ is add's un-broadcast g."""
    rng = np.random.default_rng(7)
    layer = nn.Dense(3, 2, seed=0)
    x, delta = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    z = layer(x)
    assert z.grad_fn.op.name == "add"
    assert {p.op.name for p in z.grad_fn.parents if p is not None and p.op is not None} == {"matmul"}
    (z * delta).sum().backward()
    np.testing.assert_allclose(layer.W.grad, delta.T @ x, rtol=1e-13)
    np.testing.assert_allclose(layer.b.grad, delta.sum(axis=0), rtol=1e-13)
