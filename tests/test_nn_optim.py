"""Optimizers: updates against their formulas, L2 as network2.py's rule, errors, atomic steps."""

import numpy as np
import pytest

import nn
from autograd_core import Tensor

RNG = np.random.default_rng(0)


def _params_with_grads(*shapes):
    params = [nn.Parameter(RNG.standard_normal(s), name=f"p{i}") for i, s in enumerate(shapes)]
    for p in params:
        p.grad = RNG.standard_normal(p.shape)
    return params


def test_sgd_plain_momentum_and_weight_decay():
    (p,) = _params_with_grads((3, 2))
    start, g = p.data.copy(), p.grad.copy()
    nn.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, start - 0.1 * g, rtol=1e-15)

    (q,) = _params_with_grads((4,))
    opt = nn.SGD([q], lr=0.5, momentum=0.9, weight_decay=0.01)
    x0, g1 = q.data.copy(), q.grad.copy()
    opt.step()
    v1 = g1 + 0.01 * x0
    x1 = x0 - 0.5 * v1
    np.testing.assert_allclose(q.data, x1, rtol=1e-14)
    g2 = RNG.standard_normal(4)
    q.grad = g2.copy()
    opt.step()
    np.testing.assert_allclose(q.data, x1 - 0.5 * (0.9 * v1 + g2 + 0.01 * x1), rtol=1e-14)


def test_adam_matches_its_formula():
    (p,) = _params_with_grads((2, 3))
    opt = nn.Adam([p], lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    x, m, v = p.data.copy(), np.zeros((2, 3)), np.zeros((2, 3))
    for t in range(1, 4):
        g = RNG.standard_normal((2, 3))
        p.grad = g.copy()
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        x = x - 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        np.testing.assert_allclose(p.data, x, rtol=1e-13)
    assert opt.t == 3


def test_sgd_on_cost_plus_l2_is_network2_update():
    model = nn.Sequential(nn.Dense(3, 4, seed=0), nn.Sigmoid(), nn.Dense(4, 2, seed=1), nn.Sigmoid())
    x, y = RNG.standard_normal((5, 3)), RNG.uniform(0, 1, (5, 2))
    eta, lmbda, n = 0.7, 3.0, 40
    cost = nn.CrossEntropyCost()
    cost(model(x), y).backward()
    grads = [p.grad.copy() for p in model.parameters()]
    before = [p.data.copy() for p in model.parameters()]
    model.zero_grad()
    (cost(model(x), y) + nn.l2_penalty(model, lmbda, n)).backward()
    nn.SGD(model.parameters(), lr=eta).step()
    for (name, p), w, g in zip(model.named_parameters(), before, grads):
        decay = (1 - eta * lmbda / n) if name.endswith("W") else 1.0  # biases are not penalised
        np.testing.assert_allclose(p.data, decay * w - eta * g, rtol=1e-13, atol=1e-15)


def test_l2_penalty_value_and_errors():
    model = nn.Sequential(nn.Dense(2, 3, seed=0), nn.Dense(3, 1, seed=1))
    expected = 0.5 / (2 * 10) * sum(np.sum(layer.W.data ** 2) for layer in model)
    assert nn.l2_penalty(model, 0.5, 10).item() == pytest.approx(expected, rel=1e-14)
    with pytest.raises(ValueError, match="n is the training-set size"):
        nn.l2_penalty(model, 0.5, 0)
    with pytest.raises(ValueError, match="no weights"):
        nn.l2_penalty(nn.Sequential(nn.Sigmoid()), 0.5, 10)


@pytest.mark.parametrize("make", [
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: nn.Adam(ps, lr=0.1),
])
@pytest.mark.parametrize("fault", ["missing", "shape", "nan"])
def test_failed_step_changes_no_parameter(make, fault):
    params = _params_with_grads((2, 2), (3,), (4, 1))
    opt = make(params)
    opt.step()  # builds optimizer state, which must not move on failure either
    for p in params:
        p.grad = RNG.standard_normal(p.shape)
    if fault == "missing":
        params[2].grad = None
    elif fault == "shape":
        params[2].grad = np.zeros((1, 4))
    else:
        params[2].grad[0, 0] = np.nan
    before = [p.data.copy() for p in params]
    versions = [p.version for p in params]
    state = {k: [np.copy(a) if a is not None else None for a in v] if isinstance(v, list) else v
             for k, v in vars(opt).items() if k != "params"}
    with pytest.raises(ValueError, match="no parameter was changed.*p2"):
        opt.step()
    for p, b, v in zip(params, before, versions):
        np.testing.assert_array_equal(p.data, b)
        assert p.version == v
    for key, value in state.items():
        if isinstance(value, list):
            for old, new in zip(value, getattr(opt, key)):
                np.testing.assert_array_equal(old, new)
        else:
            assert getattr(opt, key) == value


def test_step_updates_in_place_and_advances_versions():
    (p,) = _params_with_grads((3,))
    array, version = p.data, p.version
    nn.SGD([p], lr=0.1).step()
    assert p.data is array and p.version == version + 1


def test_zero_grad():
    params = _params_with_grads((2,), (3,))
    nn.SGD(params, lr=1).zero_grad()
    assert all(p.grad is None for p in params)


def test_optimizer_argument_errors():
    (p,) = _params_with_grads((2,))
    with pytest.raises(ValueError, match="got no parameters"):
        nn.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="got no parameters"):
        nn.Adam(nn.Sequential(nn.Sigmoid()).parameters())
    for lr in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning rate must be positive"):
            nn.SGD([p], lr=lr)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        nn.Adam([p], lr=0)
    with pytest.raises(TypeError, match="parameter 0 is a Tensor that does not require grad"):
        nn.SGD([Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="momentum and weight_decay"):
        nn.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="betas"):
        nn.Adam([p], lr=0.1, betas=(1.0, 0.9))
