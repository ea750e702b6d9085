"""Optimizers: updates against their formulas, L2 as network2.py's rule, errors, atomic steps."""

import warnings

import numpy as np
import pytest

import nn
from autograd_core import InplaceError, Tensor, no_grad

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
    lambda ps: nn.SGD(ps, lr=0.1),
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: nn.Adam(ps, lr=0.1),
])
@pytest.mark.parametrize("fault", ["shape", "nan", "inf", "-inf", "inf and -inf"])
def test_failed_step_changes_no_parameter(make, fault):
    params = _params_with_grads((2, 2), (3,), (4, 1))
    opt = make(params)
    opt.step()  # builds optimizer state, which must not move on failure either
    for p in params:
        p.grad = RNG.standard_normal(p.shape)
    if fault == "shape":
        params[2].grad = np.zeros((1, 4))
    elif fault == "nan":
        params[2].grad[0, 0] = np.nan
    elif fault == "inf and -inf":
        params[2].grad[:2, 0] = [np.inf, -np.inf]
    else:
        params[2].grad[-1, 0] = float(fault)
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


@pytest.mark.parametrize("make", [
    lambda ps: nn.SGD(ps, lr=0.1),
    lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda ps: nn.Adam(ps, lr=0.1),
])
def test_step_leaves_grad_alone_and_a_graph_from_before_it_raises(make):
    W, b = _params_with_grads((3, 2), (2,))
    # x needs a gradient, so matmul keeps W's value from before the step to compute it.
    x = Tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    loss = ((x @ W + b) ** 2).sum()
    grads = [W.grad, b.grad]
    copies = [g.copy() for g in grads]
    make([W, b]).step()
    assert W.version == 1 and b.version == 1
    for p, g, copy in zip((W, b), grads, copies):
        assert p.grad is g                      # .grad is still there to be read after step()
        np.testing.assert_array_equal(g, copy)
    with pytest.raises(InplaceError, match="'p0' of 'matmul'.*version 1; expected version 0"):
        loss.backward()


def test_huge_but_finite_gradients_are_accepted_without_warnings():
    """Σ g² overflows for these: the element-by-element check decides, and accepts."""
    params = _params_with_grads((3, 2), (2,))
    params[0].grad[1, 1] = 1e300                   # Σ g² = inf in float64
    params[1].grad[:] = [-1e200, 1e200]
    expected = [p.data - 1e-3 * p.grad for p in params]
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        nn.SGD(params, lr=1e-3).step()
    assert caught == []
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.data, e)
        assert p.version == 1


def test_a_finite_check_that_warns_or_raises_falls_back_to_the_exact_check(monkeypatch):
    """Should a later numpy warn about the overflow of Σ g², the step still decides exactly."""
    def strict_vdot(a, b):
        raise FloatingPointError("overflow encountered in vdot")

    monkeypatch.setattr(np, "vdot", strict_vdot)
    params = _params_with_grads((3,), (2, 2))
    expected = [p.data - 0.1 * p.grad for p in params]
    nn.SGD(params, lr=0.1).step()
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.data, e)
    params[1].grad[0, 1] = np.inf
    with pytest.raises(ValueError, match="p1 has a non-finite gradient"):
        nn.SGD(params, lr=0.1).step()


@pytest.mark.parametrize("kind", ["transposed", "float32", "integer", "tensor", "list"])
def test_unusual_gradients_are_checked_and_applied(kind):
    (p,) = _params_with_grads((3, 2))
    g = {"transposed": RNG.standard_normal((2, 3)).T,     # not C-contiguous
         "float32": RNG.standard_normal((3, 2)).astype(np.float32),
         "integer": np.arange(6).reshape(3, 2),
         "tensor": Tensor(RNG.standard_normal((3, 2))),
         "list": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}[kind]
    p.grad = g
    values = np.asarray(g.data if isinstance(g, Tensor) else g)
    expected = p.data - 0.5 * values
    nn.SGD([p], lr=0.5).step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-7 if kind == "float32" else 1e-15)
    assert p.version == 1


def test_float32_parameters_stay_float32():
    p = nn.Parameter(RNG.standard_normal((2, 3)).astype(np.float32))
    p.grad = RNG.standard_normal((2, 3))           # float64 gradient: written with same_kind casting
    expected = (p.data - 0.1 * p.grad).astype(np.float32)
    nn.SGD([p], lr=0.1).step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, expected, rtol=1e-6)


def test_a_parameter_that_is_a_view_updates_its_base():
    base = np.arange(12.0).reshape(3, 4)
    p = nn.Parameter(base[:, 1:3])                 # a view: writes go through, as in numpy
    p.grad = np.ones((3, 2))
    nn.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(base[:, 1:3], np.arange(12.0).reshape(3, 4)[:, 1:3] - 0.5)
    np.testing.assert_array_equal(p.data, base[:, 1:3])
    assert p.version == 1


def test_a_view_tensor_as_parameter_advances_the_tensor_it_was_taken_from():
    """As ``with no_grad(): v -= u`` does: the graph that saved the base's value raises."""
    a = Tensor(RNG.standard_normal((2, 3)), requires_grad=True, name="a")
    c = a * 1.0
    v = c[0]                                      # recorded view of c
    loss = (c * c).sum()                          # saves c's value
    v.grad = np.ones(3)
    before = c.data[0].copy()
    nn.SGD([v], lr=0.25).step()
    np.testing.assert_array_equal(c.data[0], before - 0.25)
    assert v.version == 1 and c.version == 1
    with pytest.raises(InplaceError):
        loss.backward()


def test_a_read_only_parameter_is_refused_before_anything_is_written():
    first, p = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3), name="frozen")
    p.data.flags.writeable = False
    first.grad, p.grad = np.ones(3), np.ones(3)
    with no_grad(), pytest.raises(InplaceError, match="read-only"):
        p -= np.ones(3)
    with pytest.raises(ValueError, match="'?frozen'? has a read-only array"):
        nn.SGD([first, p], lr=0.1).step()
    np.testing.assert_array_equal(first.data, np.ones(3))
    assert first.version == 0 and p.version == 0


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
    for lr in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning rate must be >= 0 and finite"):
            nn.SGD([p], lr=lr)
    with pytest.raises(ValueError, match="learning rate must be >= 0 and finite"):
        nn.Adam([p], lr=-1e-3)
    nn.SGD([p], lr=0).step()                    # lr = 0 is allowed, as in PyTorch: no change
    for bad in (dict(momentum=float("nan")), dict(weight_decay=float("nan"))):
        with pytest.raises(ValueError, match="momentum and weight_decay"):
            nn.SGD([p], lr=0.1, **bad)
    with pytest.raises(ValueError, match="eps > 0"):
        nn.Adam([p], eps=float("nan"))
    with pytest.raises(TypeError, match="parameter 0 is a ndarray, not a Tensor"):
        nn.SGD([np.ones(1)], lr=0.1)
    with pytest.raises(ValueError, match="momentum and weight_decay"):
        nn.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="betas"):
        nn.Adam([p], lr=0.1, betas=(1.0, 0.9))
