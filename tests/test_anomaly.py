"""detect_anomaly(): the first non-finite gradient names its operation, input and source line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import AnomalyError, Function, Tensor, anomaly, detect_anomaly

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's divide-by-zero notes


def next_line() -> str:
    """'line N' for the line after the caller's: where the operation under test is created."""
    return f"line {inspect.currentframe().f_back.f_lineno + 1}"


def test_names_the_operation_the_input_and_the_forward_source_line():
    x = Tensor(np.array([4.0, 0.0]), requires_grad=True)
    with detect_anomaly():
        h = x * 2
        where = next_line()
        root = ag.sqrt(h)                                   # d sqrt / dh = 1/(2 sqrt h): inf at 0
        loss = (root * 3).sum()
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert "'sqrt' for its input 0 contains infinity" in message
    assert f'{__file__}", {where}, in test_names_the_operation' in message
    assert "root = ag.sqrt(h)" in message
    assert "forward result is finite" in message
    assert x.grad is None                                   # a failed backward changes no .grad


def test_names_the_right_input_of_a_binary_operation():
    base = Tensor(np.array([-1.0, 1.0]), requires_grad=True)
    exponent = Tensor(np.array([2.0, 2.0]), requires_grad=True)
    with detect_anomaly():
        where = next_line()
        z = ag.power(base, exponent)                       # ∂/∂exponent = out · log(base): NaN at -1
        with pytest.raises(AnomalyError, match=r"'pow' for its input 1 contains NaN") as info:
            z.sum().backward()
    assert where in str(info.value)


def test_a_non_finite_forward_value_is_reported_as_such():
    x = Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    with detect_anomaly():
        y = ag.log(x)                                       # NaN at -1
        where = next_line()
        square = y * y                                      # ∂/∂y = g · y: NaN
        with pytest.raises(AnomalyError, match="forward result is already non-finite") as info:
            square.sum().backward()
    assert where in str(info.value) and "'mul'" in str(info.value)


def test_location_is_the_users_line_even_inside_composites_and_functions():
    class Reciprocal(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 1 / x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return -g / (x * x)

    x = Tensor(np.array([[0.0, 1.0]]), requires_grad=True)
    with detect_anomaly():
        mean = ag.mean(x, axis=0)       # a composite: sum then div, both recorded inside the package
        assert __file__ in mean.grad_fn.origin.location
        where = next_line()
        r = Reciprocal.apply(mean)
        with pytest.raises(AnomalyError, match="'Reciprocal' for its input 0") as info:
            r.sum().backward()
    assert where in str(info.value) and "Reciprocal.apply(mean)" in str(info.value)


def test_off_by_default_no_location_and_no_check():
    x = Tensor(np.array([0.0]), requires_grad=True)
    y = ag.sqrt(x)
    assert y.grad_fn.origin is None and not anomaly.is_enabled()
    y.sum().backward()                                     # inf gradient, silently, as numpy would
    assert np.isinf(x.grad).all()


def test_state_is_restored_on_exit_even_after_an_error_and_blocks_nest():
    with pytest.raises(KeyError):
        with detect_anomaly():
            raise KeyError("boom")
    assert not anomaly.is_enabled()
    with detect_anomaly():
        with detect_anomaly():
            assert anomaly.is_enabled()
        assert anomaly.is_enabled()                         # the outer block is still open
        recorded_inside = ag.sqrt(Tensor(np.ones(2), requires_grad=True))
    assert not anomaly.is_enabled()
    assert recorded_inside.grad_fn.origin is not None
    assert ag.sqrt(Tensor(np.ones(2), requires_grad=True)).grad_fn.origin is None


def test_an_operation_recorded_outside_the_block_is_still_caught_without_a_location():
    x = Tensor(np.array([0.0]), requires_grad=True)
    y = ag.sqrt(x)
    with detect_anomaly():
        with pytest.raises(AnomalyError, match="recorded outside detect_anomaly"):
            y.sum().backward()


def test_finite_gradients_pass_and_agree_with_normal_mode():
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    with detect_anomaly():
        (ag.log(x) * ag.tanh(x)).sum().backward()
        inside = x.grad.copy()
    x.grad = None
    (ag.log(x) * ag.tanh(x)).sum().backward()
    np.testing.assert_array_equal(inside, x.grad)


def test_anomaly_checks_create_graph_gradients_too():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with detect_anomaly():
        y = ag.sqrt(x)
        with pytest.raises(AnomalyError, match="'sqrt'"):
            ag.gradients(y.sum(), x, create_graph=True)
