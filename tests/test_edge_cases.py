"""Regression tests for edge cases found by differential testing against PyTorch: each
gives PyTorch's result, or a clear error where PyTorch has no answer of ours to match."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import autograd_core as ac
import nn
from autograd_core import AnomalyError, Tensor, detect_anomaly, no_grad


def leaf(values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_concatenate_with_axis_none_flattens_as_numpy_does():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    joined = ac.concatenate([x, x], axis=None)
    np.testing.assert_array_equal(joined.data, np.concatenate([x.data, x.data], axis=None))
    (joined * np.arange(8.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, (np.arange(4.0) + np.arange(4.0, 8.0)).reshape(2, 2))


def test_reductions_and_softmax_over_an_empty_axis():
    e = leaf(np.zeros((2, 0)))
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(e.logsumexp(axis=1).data, [-np.inf, -np.inf])  # ln of an empty sum
        e.softmax(axis=1).sum().backward()
    assert e.grad.shape == (2, 0)


def test_indexing_with_an_empty_list_picks_nothing():
    y = leaf([1.0, 2.0, 3.0])
    picked = y[[]]
    assert picked.shape == (0,)
    picked.sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])


def test_assigning_a_row_with_a_leading_length_one_axis():
    x = leaf(np.zeros((2, 3))) * 1
    v = leaf(np.ones((1, 3)))
    x[0] = v                                      # numpy drops v's leading axis of length 1
    (x * np.arange(6.0).reshape(2, 3)).sum().backward()
    np.testing.assert_array_equal(v.grad, [[0.0, 1.0, 2.0]])


def test_assigning_a_value_that_requires_grad_into_an_integer_tensor_says_why():
    counts = Tensor(np.arange(3))
    with pytest.raises(TypeError, match="cannot carry a gradient"):
        counts[0] = leaf(1.5)


def test_a_seed_that_is_not_numbers_is_refused():
    z = leaf([1.0, 2.0]) * 2
    with pytest.raises(TypeError, match="gradient must hold numbers"):
        z.backward(gradient=[None, None])


def test_clip_refuses_bounds_that_require_grad_and_uses_the_values_of_the_others():
    x = leaf([-2.0, 0.5, 3.0])
    with pytest.raises(TypeError, match="bounds are not differentiated"):
        x.clip(leaf(-1.0), 1.0)
    x.clip(Tensor(-1.0), Tensor(1.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])


def test_numpy_dot_above_two_dimensions_is_refused_not_computed_as_matmul():
    with pytest.raises(TypeError, match="use matmul"):
        np.dot(Tensor(np.ones((2, 3, 4))), Tensor(np.ones((2, 4, 5))))
    np.testing.assert_array_equal(np.dot(Tensor(np.ones((3, 4))), Tensor(np.ones((4, 5)))).data,
                                  np.full((3, 5), 4.0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")     # numpy's divide-by-zero note
def test_anomaly_blocks_exited_out_of_order_leave_anomaly_mode_off():
    # Two threads: the first enters, the second enters, the first exits, the second exits.
    entered, first_may_exit, second_may_exit = threading.Event(), threading.Event(), threading.Event()

    def first():
        with detect_anomaly():
            entered.set()
            first_may_exit.wait(5)
        second_may_exit.set()

    def second():
        entered.wait(5)
        with detect_anomaly():
            first_may_exit.set()
            second_may_exit.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not ac.anomaly.is_enabled()
    x = leaf([0.0])
    x.sqrt().sum().backward()                     # inf gradient: no AnomalyError outside a block
    assert np.isinf(x.grad).all()
    with detect_anomaly(), pytest.raises(AnomalyError):
        leaf([0.0]).sqrt().sum().backward()


# ------------------------------------------------------------------------------------ nn
def test_sgd_momentum_survives_zeroing_the_gradient_in_place():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        (p * p).sum().backward()
        opt.step()
        p.grad[...] = 0.0                         # a user's in-place zeroing
    # by hand: v1 = 2p0, p1 = p0 - 0.1 v1; v2 = 0.9 v1 + 2 p1, p2 = p1 - 0.1 v2 (PyTorch agrees)
    p0 = np.array([1.0, 2.0])
    v1 = 2 * p0
    p1 = p0 - 0.1 * v1
    v2 = 0.9 * v1 + 2 * p1
    np.testing.assert_allclose(p.data, p1 - 0.1 * v2, rtol=1e-15)


def test_loading_a_plain_npy_file_says_it_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones(3))
    model = nn.Sequential(nn.Dense(2, 2, seed=0))
    before = model[0].W.data.copy()
    with pytest.raises(ValueError, match="not a checkpoint"):
        model.load(path)
    np.testing.assert_array_equal(model[0].W.data, before)


def test_boolean_labels_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="labels are booleans"):
        nn.SoftmaxCrossEntropy()(Tensor(np.zeros((2, 3))), np.array([True, False]))


def test_sgd_with_learning_rate_zero_changes_nothing():
    p = nn.Parameter(np.array([1.0, 2.0]))
    (p * p).sum().backward()
    with no_grad():
        nn.SGD([p], lr=0.0).step()
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


# ------------------------------------------- choices at NaN inputs: PyTorch's, checked there
NAN_CASES = {
    "relu": (lambda ac_, t: t.relu(), lambda torch, t: torch.relu(t)),
    "abs": (lambda ac_, t: t.abs(), lambda torch, t: torch.abs(t)),
    "maximum": (lambda ac_, t: ac_.maximum(t, 0.5),
                lambda torch, t: torch.maximum(t, torch.tensor(0.5, dtype=t.dtype))),
    "minimum": (lambda ac_, t: ac_.minimum(t, 0.5),
                lambda torch, t: torch.minimum(t, torch.tensor(0.5, dtype=t.dtype))),
    "max": (lambda ac_, t: t.max(), lambda torch, t: t.max()),
    "min": (lambda ac_, t: t.min(), lambda torch, t: t.min()),
    "clip": (lambda ac_, t: t.clip(-0.5, 0.5), lambda torch, t: torch.clamp(t, -0.5, 0.5)),
}


@pytest.mark.parametrize("name", sorted(NAN_CASES))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_gradients_at_nan_inputs_follow_pytorch(name, require):
    torch = require("torch", "PyTorch is the oracle of the subgradient choices at NaN")
    ours, theirs = NAN_CASES[name]
    values = [np.nan, -1.0, 0.0, 2.0]
    x = leaf(values)
    ours(ac, x).sum().backward()
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    theirs(torch, t).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_jvp_keeps_float32():
    primal = np.array([1.0, 2.0], dtype=np.float32)
    out, tangent = ac.jvp(lambda v: v * 2, (primal,), (np.ones(2, dtype=np.float32),))
    assert np.asarray(out).dtype == np.float32 and np.asarray(tangent).dtype == np.float32


def test_the_second_derivative_of_x_to_the_one_at_zero_is_zero():
    np.testing.assert_array_equal(ac.hvp(lambda v: (v ** 1).sum(), np.array([0.0, 1.0]), np.ones(2)),
                                  [0.0, 0.0])


def test_grad_of_grad_through_an_in_place_write_inside_the_function():
    def g(v):
        v *= 3.0                                  # on the function's own copy of v
        return (v * v).sum()                      # 9 v²

    x = np.array([0.4])
    np.testing.assert_allclose(ac.grad(g)(x), [7.2])
    np.testing.assert_array_equal(x, [0.4])       # the caller's array is not written
    np.testing.assert_allclose(ac.grad(lambda v: ac.grad(g)(v).sum())(x), [18.0])
