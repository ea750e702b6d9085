"""Costs with ``reduction="mean" | "sum" | "none"``, and categorical cross-entropy on probabilities.

"none" is the vector of per-example costs; "sum" and "mean" are its sum and mean, in
value and in every gradient. Nielsen's per-example costs sum over outputs, so PyTorch's
losses, which average over every entry, differ by known factors that are checked here:
``QuadraticCost(reduction="sum")`` is ½ ``MSELoss(reduction="sum")``, and so on.
"""

import numpy as np
import pytest
from conftest import require

import autograd_core as ac
import nn
from autograd_core import Tensor

RNG = np.random.default_rng(31)
TORCH_REASON = "PyTorch is the optional oracle for nn's conventions (pip install torch==2.13.0)"


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# (make cost with a reduction, output maker from z, target kind)
CASES = {
    "quadratic": (lambda **kw: nn.QuadraticCost(**kw), lambda z: z, "probabilities"),
    "quadratic-fused": (lambda **kw: nn.QuadraticCost(fused=True, **kw), lambda z: z, "probabilities"),
    "cross-entropy": (lambda **kw: nn.CrossEntropyCost(**kw), ac.sigmoid, "probabilities"),
    "cross-entropy-logits": (lambda **kw: nn.CrossEntropyCost(from_logits=True, **kw), lambda z: z,
                             "probabilities"),
    "cross-entropy-fused": (lambda **kw: nn.CrossEntropyCost(from_logits=True, fused=True, **kw),
                            lambda z: z, "probabilities"),
    "softmax-labels": (lambda **kw: nn.SoftmaxCrossEntropy(**kw), lambda z: z, "labels"),
    "softmax-one-hot-fused": (lambda **kw: nn.SoftmaxCrossEntropy(fused=True, **kw), lambda z: z, "one-hot"),
    "categorical": (lambda **kw: nn.CategoricalCrossEntropy(**kw), lambda z: ac.softmax(z, axis=-1),
                    "labels"),
    "categorical-one-hot": (lambda **kw: nn.CategoricalCrossEntropy(**kw), lambda z: ac.softmax(z, axis=-1),
                            "one-hot"),
}


def _targets(kind, batch, classes):
    if kind == "probabilities":
        return RNG.uniform(0, 1, (batch, classes))
    labels = RNG.integers(0, classes, batch)
    return labels if kind == "labels" else np.eye(classes)[labels]


def _value_and_grad(cost, make_output, z, y):
    zt = Tensor(z.copy(), requires_grad=True)
    out = cost(make_output(zt), y)
    weight = RNG.standard_normal(out.shape)          # a random upstream gradient, not ones
    (out * weight).sum().backward()
    return out.data, zt.grad, weight


#: the composed form of each fused case (fused=True has no reduction="none")
COMPOSED = {"quadratic-fused": "quadratic", "cross-entropy-fused": "cross-entropy-logits",
            "softmax-one-hot-fused": "softmax-labels"}


@pytest.mark.parametrize("case", CASES)
def test_none_is_the_per_example_costs_and_sum_and_mean_reduce_it(case):
    make, make_output, kind = CASES[case]
    z, y = RNG.standard_normal((5, 3)), _targets(kind, 5, 3)
    per = CASES[COMPOSED.get(case, case)][0](reduction="none")(make_output(Tensor(z)), y)
    assert per.shape == (5,)
    # Each entry is the cost of that example alone (a batch of one row, mean = sum).
    for row in range(5):
        alone = make()(make_output(Tensor(z[row:row + 1])), y[row:row + 1])
        np.testing.assert_allclose(per.data[row], alone.item(), rtol=1e-12)
    for reduction, reduce in (("sum", np.sum), ("mean", np.mean)):
        value = make(reduction=reduction)(make_output(Tensor(z)), y)
        assert value.shape == ()
        np.testing.assert_allclose(value.item(), reduce(per.data), rtol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if "fused" not in c])
def test_the_gradients_of_sum_and_mean_are_those_of_the_per_example_costs(case):
    make, make_output, kind = CASES[case]
    z, y = RNG.standard_normal((4, 3)), _targets(kind, 4, 3)
    per_example = []                      # ∂C_row/∂z for each row's cost, from reduction="none"
    for row in range(4):
        zt = Tensor(z.copy(), requires_grad=True)
        make(reduction="none")(make_output(zt), y)[row].backward()
        per_example.append(zt.grad)
    for reduction, weights in (("sum", np.ones(4)), ("mean", np.full(4, 0.25))):
        zt = Tensor(z.copy(), requires_grad=True)
        make(reduction=reduction)(make_output(zt), y).backward()
        np.testing.assert_allclose(zt.grad, sum(w * g for w, g in zip(weights, per_example)),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", ["quadratic-fused", "cross-entropy-fused", "softmax-one-hot-fused"])
def test_fused_sum_matches_the_composed_sum(case):
    make, make_output, kind = CASES[case]
    composed = {"quadratic-fused": lambda **kw: nn.QuadraticCost(**kw),
                "cross-entropy-fused": lambda **kw: nn.CrossEntropyCost(from_logits=True, **kw),
                "softmax-one-hot-fused": lambda **kw: nn.SoftmaxCrossEntropy(**kw)}[case]
    z, y = RNG.standard_normal((6, 4)), _targets(kind, 6, 4)
    rng_state = RNG.bit_generator.state
    fused_value, fused_grad, _ = _value_and_grad(make(reduction="sum"), make_output, z, y)
    RNG.bit_generator.state = rng_state              # the same random upstream weight
    value, grad, _ = _value_and_grad(composed(reduction="sum"), make_output, z, y)
    np.testing.assert_allclose(fused_value, value, rtol=1e-12)
    np.testing.assert_allclose(fused_grad, grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", [c for c in CASES if "fused" not in c])
def test_one_example_as_a_vector_has_a_0d_per_example_cost(case):
    make, make_output, kind = CASES[case]
    z, y = RNG.standard_normal((1, 3)), _targets(kind, 1, 3)
    one = make(reduction="none")(make_output(Tensor(z[0])), y[0])
    assert one.shape == ()
    np.testing.assert_allclose(one.item(), make()(make_output(Tensor(z)), y).item(), rtol=1e-12)
    np.testing.assert_allclose(make(reduction="sum")(make_output(Tensor(z[0])), y[0]).item(), one.item(),
                               rtol=1e-12)


def test_backpropagating_the_mean_is_one_pass_of_the_per_example_vector_with_seeds_1_over_m():
    """Seed question 2: the scalar mean, or the vector of per-example costs seeded with 1/m."""
    model = nn.Sequential(nn.Dense(4, 3, seed=1), nn.Sigmoid())
    x, y = RNG.standard_normal((6, 4)), RNG.uniform(0, 1, (6, 3))
    model.zero_grad()
    nn.QuadraticCost()(model(x), y).backward()
    mean_grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    nn.QuadraticCost(reduction="none")(model(x), y).backward(np.full(6, 1 / 6))
    for expected, p in zip(mean_grads, model.parameters()):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-12)


def test_bad_reductions_and_fused_none_are_refused():
    for make in (nn.QuadraticCost, nn.CrossEntropyCost, nn.SoftmaxCrossEntropy, nn.CategoricalCrossEntropy):
        with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none', got 'avg'"):
            make(reduction="avg")
    with pytest.raises(ValueError, match=r"fused=True computes one scalar.*fused=False"):
        nn.QuadraticCost(fused=True, reduction="none")
    with pytest.raises(ValueError, match="fused=True needs from_logits=True"):
        nn.CategoricalCrossEntropy(fused=True)


def test_reprs_show_the_reduction_when_not_the_mean():
    assert repr(nn.QuadraticCost(reduction="sum")) == "QuadraticCost(reduction='sum')"
    assert repr(nn.QuadraticCost(fused=True)) == "QuadraticCost(fused=True)"
    assert repr(nn.CrossEntropyCost(reduction="none")) == \
        "CrossEntropyCost(from_logits=False, reduction='none')"
    assert repr(nn.SoftmaxCrossEntropy(reduction="sum")) == "SoftmaxCrossEntropy(reduction='sum')"
    assert repr(nn.CategoricalCrossEntropy()) == "CategoricalCrossEntropy(from_logits=False)"


def test_compare_refuses_a_cost_that_is_not_the_mean():
    model = nn.Sequential(nn.Dense(3, 2, seed=0), nn.Sigmoid())
    x, y = RNG.standard_normal((4, 3)), RNG.uniform(0, 1, (4, 2))
    with pytest.raises(ValueError, match="reduction='mean'"):
        nn.reference.compare(model, x, y, nn.QuadraticCost(reduction="sum"))


# ----------------------------------------------------------- against PyTorch
def _torch_pair(torch, z, y, float_target=True):
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y) if float_target else torch.tensor(y, dtype=torch.long)
    return zt, yt


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_quadratic_cost_against_torch_mse(reduction):
    """½‖y − a‖² per example: sum = ½ MSE(sum); none = ½ Σ_outputs MSE(none); mean = (k/2) MSE(mean)."""
    torch = require("torch", TORCH_REASON)
    a, y, k = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3)), 3
    at = Tensor(a.copy(), requires_grad=True)
    ours = nn.QuadraticCost(reduction=reduction)(at, y)
    zt, yt = _torch_pair(torch, a, y)
    mse = torch.nn.MSELoss(reduction=reduction)(zt, yt)
    theirs = 0.5 * mse.sum(dim=1) if reduction == "none" else (0.5 if reduction == "sum" else k / 2) * mse
    seed = RNG.standard_normal(ours.shape)
    (ours * seed).sum().backward()
    (theirs * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(at.grad, zt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_cost_against_torch_bce(reduction, from_logits):
    """Σ over outputs per example: sum = BCE(sum); none = Σ_outputs BCE(none); mean = k BCE(mean)."""
    torch = require("torch", TORCH_REASON)
    z, y, k = RNG.standard_normal((5, 3)), RNG.uniform(0, 1, (5, 3)), 3
    out = z if from_logits else 1 / (1 + np.exp(-z))
    at = Tensor(out.copy(), requires_grad=True)
    ours = nn.CrossEntropyCost(from_logits=from_logits, reduction=reduction)(at, y)
    zt, yt = _torch_pair(torch, out, y)
    loss = (torch.nn.BCEWithLogitsLoss if from_logits else torch.nn.BCELoss)(reduction=reduction)(zt, yt)
    theirs = loss.sum(dim=1) if reduction == "none" else (1 if reduction == "sum" else k) * loss
    seed = RNG.standard_normal(ours.shape)
    (ours * seed).sum().backward()
    (theirs * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(at.grad, zt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("form", ["softmax-logits", "categorical-probabilities", "categorical-logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_categorical_costs_against_torch_cross_entropy(reduction, form):
    """The same numbers as torch's CrossEntropyLoss (on logits) and NLLLoss of log(probabilities)."""
    torch = require("torch", TORCH_REASON)
    z, labels = RNG.standard_normal((6, 4)), RNG.integers(0, 4, 6)
    cost = {"softmax-logits": nn.SoftmaxCrossEntropy(reduction=reduction),
            "categorical-probabilities": nn.CategoricalCrossEntropy(reduction=reduction),
            "categorical-logits": nn.CategoricalCrossEntropy(from_logits=True, reduction=reduction)}[form]
    zt_ours = Tensor(z.copy(), requires_grad=True)
    out = ac.softmax(zt_ours, axis=-1) if form == "categorical-probabilities" else zt_ours
    ours = cost(out, labels)
    zt, yt = _torch_pair(torch, z, labels, float_target=False)
    if form == "categorical-probabilities":
        theirs = torch.nn.NLLLoss(reduction=reduction)(torch.log(torch.softmax(zt, dim=-1)), yt)
    else:
        theirs = torch.nn.CrossEntropyLoss(reduction=reduction)(zt, yt)
    seed = RNG.standard_normal(ours.shape)
    (ours * seed).sum().backward()
    (theirs * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(zt_ours.grad, zt.grad.numpy(), rtol=1e-10, atol=1e-15)


# --------------------------------------------- categorical cross-entropy on probabilities
def test_softmax_then_categorical_cross_entropy_gives_the_residual_at_the_logits():
    z = Tensor(RNG.standard_normal((5, 4)), requires_grad=True)
    labels = RNG.integers(0, 4, 5)
    loss = nn.CategoricalCrossEntropy()(nn.Softmax()(z), labels)
    loss.backward()
    p = _softmax(z.data)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(5), labels])), rtol=1e-12)
    np.testing.assert_allclose(z.grad, (p - np.eye(4)[labels]) / 5, rtol=1e-10, atol=1e-15)


def test_categorical_cross_entropy_from_logits_is_softmax_cross_entropy():
    z, y = RNG.standard_normal((3, 5)), RNG.dirichlet(np.ones(5), 3)      # soft targets
    for reduction in ("mean", "sum", "none"):
        a = nn.CategoricalCrossEntropy(from_logits=True, reduction=reduction)(Tensor(z), y)
        b = nn.SoftmaxCrossEntropy(reduction=reduction)(Tensor(z), y)
        np.testing.assert_array_equal(a.data, b.data)
    assert isinstance(nn.SoftmaxCrossEntropy(), nn.CategoricalCrossEntropy)


def test_categorical_cross_entropy_takes_zero_log_zero_as_zero_and_passes_gradcheck():
    a = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
    y = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    loss = nn.CategoricalCrossEntropy()(a, y)
    np.testing.assert_allclose(loss.item(), -(np.log(0.75) + np.log(0.5)) / 2, rtol=1e-14)
    interior = RNG.dirichlet(np.ones(3), 4)
    soft = RNG.dirichlet(np.ones(3), 4)
    weight = RNG.standard_normal()
    # The probabilities move off the simplex under finite differences: check ∂/∂a as a formula.
    assert ac.gradcheck(lambda z: nn.CategoricalCrossEntropy()(ac.softmax(z, axis=-1), soft) * weight,
                        [Tensor(np.log(interior), requires_grad=True)])


def test_categorical_cross_entropy_refuses_what_is_not_a_softmax_output():
    with pytest.raises(ValueError, match=r"rows in \[0, 1\] summing to 1.*nn.Softmax\(\).*from_logits=True"):
        nn.CategoricalCrossEntropy()(1 / (1 + np.exp(-RNG.standard_normal((2, 3)))), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels must be in"):
        nn.CategoricalCrossEntropy()(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ValueError, match="target has shape"):
        nn.CategoricalCrossEntropy()(np.full((2, 3), 1 / 3), np.full((2, 4), 0.25))
