"""Costs: values, the output-layer identity (ŷ − y)/batch, stability, and bad input."""

import numpy as np
import pytest

import autograd_core as ac
import nn
from autograd_core import Tensor
from nn.fused import sigmoid_cross_entropy, softmax_cross_entropy

RNG = np.random.default_rng(0)


def _logits(shape, scale=2.0):
    return Tensor(RNG.standard_normal(shape) * scale, requires_grad=True)


def _sigmoid(z):
    # Written the other way round for negative z so that e^{-z} never overflows.
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------ output-layer identities
def test_quadratic_after_linear_output_gives_residual_over_batch():
    z = _logits((5, 3))
    y = RNG.uniform(0, 1, (5, 3))
    loss = nn.QuadraticCost()(nn.Identity()(z), y)
    loss.backward()
    np.testing.assert_allclose(loss.item(), 0.5 * np.sum((z.data - y) ** 2) / 5, rtol=1e-14)
    np.testing.assert_allclose(z.grad, (z.data - y) / 5, rtol=1e-14, atol=1e-16)


def test_quadratic_composed_from_primitives_gives_same_identity():
    z = _logits((4, 2))
    y = RNG.uniform(0, 1, (4, 2))
    (((z - y) ** 2).sum(axis=1) * 0.5).mean().backward()
    np.testing.assert_allclose(z.grad, (z.data - y) / 4, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("form", ["cost on sigmoid", "from logits", "fused from logits",
                                  "composed from primitives"])
def test_binary_cross_entropy_after_sigmoid_gives_residual_over_batch(form):
    z = _logits((6, 3))
    y = RNG.integers(0, 2, (6, 3)).astype(float)
    if form == "cost on sigmoid":
        loss = nn.CrossEntropyCost()(nn.Sigmoid()(z), y)
    elif form == "from logits":
        loss = nn.CrossEntropyCost(from_logits=True)(z, y)
    elif form == "fused from logits":
        loss = nn.CrossEntropyCost(from_logits=True, fused=True)(z, y)
    else:
        a = ac.sigmoid(z)
        loss = -(y * ac.log(a) + (1 - y) * ac.log(1 - a)).sum() / 6
    loss.backward()
    a = _sigmoid(z.data)
    np.testing.assert_allclose(loss.item(), -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / 6, rtol=1e-12)
    np.testing.assert_allclose(z.grad, (a - y) / 6, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("form", ["integer labels", "one-hot", "fused, integer labels", "fused, one-hot",
                                  "composed from primitives"])
def test_softmax_cross_entropy_gives_residual_over_batch(form):
    z = _logits((5, 4))
    labels = RNG.integers(0, 4, 5)
    y = np.eye(4)[labels]
    cost = nn.SoftmaxCrossEntropy(fused=form.startswith("fused"))
    if form.endswith("integer labels"):
        loss = cost(z, labels)
    elif form.endswith("one-hot"):
        loss = cost(z, y)
    else:
        loss = -(y * ac.log_softmax(z, axis=1)).sum() / 5
    loss.backward()
    p = _softmax(z.data)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(5), labels])), rtol=1e-12)
    np.testing.assert_allclose(z.grad, (p - y) / 5, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("fused", [False, True])
def test_sigmoid_cross_entropy_is_exact_at_zero_logit(fused):
    # Composed through logsumexp the rule gives σ(0) = ½ exactly; the other stable form,
    # relu(z) − yz + log1p(exp(−|z|)), composed, would give −y here (relu'(0) = |·|'(0) = 0).
    z = Tensor(np.zeros((2, 2)), requires_grad=True)
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    nn.CrossEntropyCost(from_logits=True, fused=fused)(z, y).backward()
    np.testing.assert_array_equal(z.grad, (0.5 - y) / 2)


# --------------------------------------------------------------------- stability
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("value", [1000.0, -1000.0])
def test_from_logit_costs_are_stable_for_huge_logits(value, fused):
    z = Tensor(np.array([[value, -value, 0.0], [value, value, -value]]), requires_grad=True)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    loss = nn.CrossEntropyCost(from_logits=True, fused=fused)(z, y)
    loss.backward()
    expected = np.sum(np.maximum(z.data, 0) - z.data * y + np.log1p(np.exp(-np.abs(z.data)))) / 2
    assert np.isfinite(loss.item()) and np.isfinite(z.grad).all()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-14)
    np.testing.assert_allclose(z.grad, (_sigmoid(z.data) - y) / 2, atol=1e-300)

    z2 = Tensor(z.data.copy(), requires_grad=True)
    loss2 = nn.SoftmaxCrossEntropy(fused=fused)(z2, np.array([1, 2]))
    loss2.backward()
    assert np.isfinite(loss2.item()) and np.isfinite(z2.grad).all()
    np.testing.assert_allclose(z2.grad, (_softmax(z2.data) - np.eye(3)[[1, 2]]) / 2, atol=1e-300)


# ------------------------------------- cross-entropy on probabilities at exactly 0 and 1
def _xlogy(x, y):
    """x ln y with 0 · ln 0 = 0 (scipy.special.xlogy's convention), in plain numpy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(y))


def test_cross_entropy_on_probabilities_takes_zero_log_zero_as_zero():
    a = Tensor(np.array([[1.0, 0.0, 0.3, 1.0], [0.0, 1.0, 0.9, 0.5]]), requires_grad=True)
    y = Tensor(np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.2, 0.0]]), requires_grad=True)
    weight = RNG.standard_normal()  # a random upstream gradient, not 1
    loss = nn.CrossEntropyCost()(a, y)
    (loss * weight).backward()
    av, yv = a.data, y.data
    expected = -np.sum(_xlogy(yv, av) + _xlogy(1 - yv, 1 - av)) / 2
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-14)
    # ∂C/∂a with the term whose coefficient is 0 dropped: the one-sided derivatives at
    # a = y ∈ {0, 1} (−ln a has slope −1 at 1, −ln(1 − a) slope +1 at 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        first, second = np.where(yv == 0, 0.0, yv / av), np.where(yv == 1, 0.0, (1 - yv) / (1 - av))
    expected_a = -weight / 2 * (first - second)
    np.testing.assert_allclose(a.grad, expected_a, rtol=1e-14)
    np.testing.assert_allclose(a.grad[0, 0], -weight / 2, rtol=1e-15)
    np.testing.assert_allclose(a.grad[1, 0], weight / 2, rtol=1e-15)
    # ∂C/∂y = −(ln a − ln(1 − a))/n where finite; 0 at a = y ∈ {0, 1} by the same convention.
    interior = (av > 0) & (av < 1)
    with np.errstate(divide="ignore"):
        expected_y = np.where(interior, -weight / 2 * (np.log(av) - np.log(1 - av)), 0.0)
    np.testing.assert_allclose(y.grad, expected_y, rtol=1e-14)


def test_cross_entropy_after_a_saturated_sigmoid_with_matching_targets_is_finite():
    # σ(40) rounds to exactly 1.0 and σ(−800) to exactly 0.0 in float64.
    z = Tensor(np.array([[40.0, -800.0, 1.5], [-800.0, 40.0, -0.5]]), requires_grad=True)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    a = ac.sigmoid(z)
    assert a.data[0, 0] == 1.0 and a.data[0, 1] == 0.0
    loss = nn.CrossEntropyCost()(a, y)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(z.grad).all()
    reference = nn.CrossEntropyCost(from_logits=True)(z.data, y).item()
    np.testing.assert_allclose(loss.item(), reference, rtol=1e-14)
    np.testing.assert_allclose(z.grad, (_sigmoid(z.data) - y) / 2, rtol=1e-12, atol=1e-16)


def test_cross_entropy_on_probabilities_is_infinite_where_the_cost_truly_is():
    """a = 0 with y = 1 (or a = 1 with y = 0) has infinite cost: inf, not NaN; from logits it is finite."""
    a = Tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    y = np.array([[1.0, 0.0, 1.0]])
    with np.errstate(divide="ignore"):
        loss = nn.CrossEntropyCost()(a, y)
        loss.backward()
    assert loss.item() == np.inf
    np.testing.assert_array_equal(a.grad[0, :2], [-np.inf, np.inf])
    np.testing.assert_allclose(a.grad[0, 2], -2.0, rtol=1e-15)
    # After a Sigmoid, inf · σ'(z) = inf · 0 is NaN: the optimizer refuses that step.
    layer = nn.Dense(1, 3, seed=0)
    layer.b.data[...] = [-800.0, 40.0, 0.0]
    layer.W.data[...] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        nn.CrossEntropyCost()(nn.Sigmoid()(layer(np.ones((1, 1)))), y).backward()
    with pytest.raises(ValueError, match="non-finite gradient"):
        nn.SGD(layer.parameters(), lr=0.1).step()
    logits = nn.CrossEntropyCost(from_logits=True)(layer(np.ones((1, 1))), y)
    assert np.isfinite(logits.item())


def test_cross_entropy_on_probabilities_passes_gradcheck_at_interior_points():
    a = Tensor(RNG.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    y = Tensor(RNG.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    hard = np.where(RNG.uniform(size=(3, 4)) < 0.5, 0.0, 1.0)   # exact 0/1 targets, constant
    weight = RNG.standard_normal()
    cost = nn.CrossEntropyCost()
    assert ac.gradcheck(lambda a, y: cost(a, y) * weight, [a, y])
    assert ac.gradgradcheck(lambda a, y: cost(a, y) * weight, [a, y])
    assert ac.gradcheck(lambda a: cost(a, hard) * weight, [a])


# ------------------------------------------------- the fused primitives' own rules
@pytest.mark.parametrize("prim", [sigmoid_cross_entropy, softmax_cross_entropy])
def test_fused_primitives_pass_gradcheck_and_gradgradcheck(prim):
    z = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    y = Tensor(RNG.uniform(0, 1, (3, 4)), requires_grad=True)
    weight = RNG.standard_normal()  # a random upstream gradient, not 1
    assert ac.gradcheck(lambda z, y: prim(z, y) * weight, [z, y])
    assert ac.gradgradcheck(lambda z, y: prim(z, y) * weight, [z, y])


def test_composed_costs_from_logits_pass_gradcheck_and_gradgradcheck():
    z = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    y = Tensor(RNG.uniform(0, 1, (3, 4)), requires_grad=True)
    weight = RNG.standard_normal()
    for cost in (nn.CrossEntropyCost(from_logits=True), nn.SoftmaxCrossEntropy(), nn.QuadraticCost()):
        assert ac.gradcheck(lambda z, y, cost=cost: cost(z, y) * weight, [z, y])
        assert ac.gradgradcheck(lambda z, y, cost=cost: cost(z, y) * weight, [z, y])


def test_fused_and_composed_softmax_cross_entropy_agree_for_soft_targets():
    z = _logits((3, 5))
    y = RNG.uniform(0, 1, (3, 5))  # rows do not sum to 1: the general rule is needed
    nn.SoftmaxCrossEntropy(fused=True)(z, y).backward()
    fused = z.grad
    z.grad = None
    (-(y * ac.log_softmax(z, axis=1)).sum() / 3).backward()
    np.testing.assert_allclose(fused, z.grad, rtol=1e-12, atol=1e-16)


def test_targets_may_be_tensors():
    z = _logits((2, 3))
    y = RNG.uniform(0, 1, (2, 3))
    for cost in (nn.QuadraticCost(), nn.CrossEntropyCost(from_logits=True),
                 nn.QuadraticCost(fused=True), nn.CrossEntropyCost(from_logits=True, fused=True)):
        assert cost(z, Tensor(y)).item() == pytest.approx(cost(z, y).item(), rel=1e-15)
    assert nn.SoftmaxCrossEntropy()(z, Tensor(np.eye(3)[[0, 2]])).item() == pytest.approx(
        nn.SoftmaxCrossEntropy()(z, np.array([0, 2])).item(), rel=1e-15)


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cost", [nn.QuadraticCost(), nn.CrossEntropyCost(),
                                  nn.CrossEntropyCost(from_logits=True), nn.SoftmaxCrossEntropy(),
                                  nn.QuadraticCost(fused=True), nn.SoftmaxCrossEntropy(fused=True),
                                  nn.CrossEntropyCost(from_logits=True, fused=True)], ids=repr)
def test_target_shape_mismatch_is_reported_with_both_shapes(cost):
    out = Tensor(np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match=r"target has shape \(4, 2\) but the output has shape \(4, 3\)"):
        cost(out, np.zeros((4, 2)))


@pytest.mark.parametrize("kind", ["tensor", "array", "list"])
def test_shapes_are_checked_for_every_kind_of_output_and_target(kind):
    """Tensors and ndarrays take the .shape path, anything else np.shape: same checks."""
    def make(values):
        return {"tensor": Tensor(values), "array": values, "list": values.tolist()}[kind]

    a, y = RNG.uniform(0, 1, (4, 3)), RNG.uniform(0, 1, (4, 3))
    expected = 0.5 * np.sum((a - y) ** 2) / 4
    assert nn.QuadraticCost()(make(a), make(y)).item() == pytest.approx(expected, rel=1e-14)
    assert nn.QuadraticCost()(Tensor(a), make(y)).item() == pytest.approx(expected, rel=1e-14)
    with pytest.raises(ValueError, match=r"target has shape \(4, 2\) but the output has shape \(4, 3\)"):
        nn.QuadraticCost()(make(a), make(y[:, :2]))
    with pytest.raises(ValueError, match=r"target has shape \(4, 3\) but the output has shape \(3,\)"):
        nn.QuadraticCost()(make(a[0]), make(y))
    with pytest.raises(ValueError, match="output is a scalar"):
        nn.QuadraticCost()(make(np.array(0.5)), make(np.array(1.0)))
    for cost in (nn.CrossEntropyCost(), nn.CrossEntropyCost(from_logits=True), nn.SoftmaxCrossEntropy()):
        assert cost(make(a), make(y)).item() == pytest.approx(cost(Tensor(a), y).item(), rel=1e-14)


def test_labels_out_of_range_are_reported():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes; got \[3, -1\]"):
        nn.SoftmaxCrossEntropy()(np.zeros((4, 3)), np.array([0, 3, 1, -1]))
    with pytest.raises(ValueError, match="3 labels for a batch of 4 rows"):
        nn.SoftmaxCrossEntropy()(np.zeros((4, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(batch, classes\)"):
        nn.SoftmaxCrossEntropy()(np.zeros((2, 2, 3)), np.array([0, 1]))


def test_probabilities_outside_unit_interval_are_reported():
    with pytest.raises(ValueError, match=r"outputs must be probabilities in \[0, 1\].*from_logits=True"):
        nn.CrossEntropyCost()(Tensor([[0.5, 1.5]]), np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        nn.CrossEntropyCost()(Tensor([[0.5, 0.5]]), np.array([[-1.0, 1.0]]))
    with pytest.raises(ValueError, match="output is a scalar"):
        nn.QuadraticCost()(Tensor(1.0), np.array(1.0))
