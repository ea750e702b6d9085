"""The speed-ups give the same gradients as the general paths they shortcut.

- The Tensor operators call ``record()`` directly, for any number of inputs.
- ``matmul``'s ȳ rule computes xᵀg as (gᵀx)ᵀ for 2-D operands (W's own layout after W.T).
- ``sigmoid``'s forward is 1 / (1 + e⁻ˣ) with the overflow warning silenced.
- ``backward()`` gives every leaf gradient an array of its own (never aliased).
- ``sum``'s VJP writes x̄ out (``np.full``) for small full reductions, a view otherwise.

Each is checked against finite differences (random upstream gradients inside
gradcheck) and against the plain formula, never against itself.
"""

import warnings

import numpy as np
import pytest

import autograd_core as ac
from autograd_core import Tensor, gradcheck, gradgradcheck, no_grad

rng = np.random.default_rng(5)


def leaf(*shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("operator", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / (b * b + 1),
    lambda a, b: (a * a + 1) ** b, lambda a, b: a @ b.T, lambda a, b: -a * b,
])
def test_binary_operators_match_finite_differences(operator):
    assert gradcheck(operator, [leaf(3, 4), leaf(3, 4)])


@pytest.mark.parametrize("operator", [
    lambda a: 2.5 + a, lambda a: a + 2.5, lambda a: 2.5 - a, lambda a: a - 2.5, lambda a: 3.0 * a,
    lambda a: a * 3.0, lambda a: 1.0 / (a * a + 1), lambda a: (a * a + 1) ** 1.5,
    lambda a: 2.0 ** a, lambda a: np.ones((2, 3)) @ a, lambda a: a @ np.ones((4, 2)),
])
def test_operators_with_a_constant_on_either_side(operator):
    assert gradcheck(operator, [leaf(3, 4)])


@pytest.mark.parametrize("method", ["exp", "sin", "cos", "tanh", "sigmoid", "relu"])
def test_unary_methods_match_finite_differences(method):
    x = Tensor(rng.uniform(0.2, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4)), requires_grad=True)
    assert gradcheck(lambda a: getattr(a, method)(), [x])


def test_unary_methods_on_positive_inputs():
    x = Tensor(rng.uniform(0.5, 2.0, (3, 4)), requires_grad=True)
    assert gradcheck(lambda a: a.log() * a.sqrt(), [x])


def test_three_input_primitive_takes_the_general_path():
    condition = rng.random((3, 4)) > 0.5
    assert gradcheck(lambda a, b: ac.where(condition, a, b), [leaf(3, 4), leaf(3, 4)])
    assert gradcheck(lambda a, b, c: ac.concatenate([a, b, c], axis=0), [leaf(2, 3), leaf(1, 3), leaf(2, 3)])


def test_no_node_when_nothing_requires_grad_or_recording_is_off():
    a, b = Tensor(rng.standard_normal(3)), leaf(3)
    assert (a * a).grad_fn is None
    with no_grad():
        assert (b * b).grad_fn is None and (b.exp()).grad_fn is None
    out = a * b
    assert out.grad_fn is not None and out.grad_fn.parents[0] is None


def test_matmul_with_a_transposed_weight_gives_a_c_contiguous_gradient():
    x, W, b = rng.standard_normal((5, 7)), leaf(3, 7), leaf(3)
    g = rng.standard_normal((5, 3))
    (Tensor(x) @ W.T + b).backward(g)
    np.testing.assert_allclose(W.grad, g.T @ x, rtol=1e-12)        # BP4 by hand
    np.testing.assert_allclose(b.grad, g.sum(axis=0), rtol=1e-12)  # BP3 by hand
    assert W.grad.flags.c_contiguous
    assert gradcheck(lambda a, w: a @ w.T, [leaf(5, 7), leaf(3, 7)])
    assert gradgradcheck(lambda a, w: a @ w.T, [leaf(5, 7), leaf(3, 7)])


def test_sigmoid_matches_the_formula_at_the_extremes_without_warnings():
    x = np.array([-np.inf, -1000.0, -745.0, -709.5, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0, np.inf])
    reference = np.exp(-np.logaddexp(0, -x))     # the overflow-free form, as an oracle
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = Tensor(x).sigmoid().data
    # Below the normal range (|σ| < 2.2e-308) the two forms may round subnormals differently.
    np.testing.assert_allclose(values, reference, rtol=1e-14, atol=1e-307)
    assert values[0] == 0.0 and values[-1] == 1.0
    assert np.isnan(Tensor(np.array([np.nan])).sigmoid().data[0])


@pytest.mark.parametrize("shape", [(4,), (3, 4), (), (1, 4), (3, 1), (2, 1, 4), (1, 1, 1)])
def test_unbroadcasting_with_and_without_stretched_axes(shape):
    # sum_to_shape takes a one-call path when only leading axes were added (a bias).
    big, small = leaf(2, 3, 4), Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda a, b: a * b, [big, small])
    g = rng.standard_normal((2, 3, 4))
    (big + small).backward(g)
    expected = g.sum(axis=tuple(range(3 - len(shape)))) if shape else g.sum()
    for axis, size in enumerate(shape):
        if size == 1:
            expected = expected.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(small.grad, expected, rtol=1e-12)
    assert small.grad.shape == shape


def _independent(*arrays):
    """Every array is a writable ndarray sharing memory with none of the others."""
    for array in arrays:
        assert type(array) is np.ndarray and array.flags.writeable
    for i, first in enumerate(arrays):
        for second in arrays[i + 1:]:
            assert not np.shares_memory(first, second)
    return True


def test_leaf_gradients_are_kept_without_copy_only_when_nobody_else_holds_them():
    # backward() keeps a fresh unshared gradient as .grad (no copy, issue 5) and copies
    # everything else: add passes g itself to both inputs, and the caller's seed.
    a, b = leaf(3), leaf(3)
    (a + b).sum().backward()
    assert _independent(a.grad, b.grad)
    np.testing.assert_array_equal(a.grad, np.ones(3))
    a.grad[0] = 7.0                       # writing one .grad must not change the other
    assert b.grad[0] == 1.0

    a.grad = b.grad = None
    seed = rng.standard_normal(3)
    kept = seed.copy()
    (a + b).backward(seed)
    assert _independent(a.grad, b.grad, seed)
    a.grad += 1.0
    np.testing.assert_array_equal(seed, kept)
    np.testing.assert_array_equal(b.grad, kept)


def test_retained_intermediate_hooks_and_functions_do_not_alias_a_leaf_gradient():
    a = leaf(2, 3)
    z = a * 1.0 + 0.0                     # add's rule gives z's gradient to a's path as is
    z.retain_grad()
    (z * 2.0).sum().backward()
    assert _independent(a.grad, z.grad)

    held = rng.standard_normal((2, 3))
    b = leaf(2, 3)
    y = b + 0.0
    y.register_hook(lambda g: held)       # the caller keeps the array the hook returns
    y.sum().backward()
    assert _independent(b.grad, held)
    np.testing.assert_array_equal(b.grad, held)

    class Keep(ac.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return held                   # an array the user still owns

    c = leaf(2, 3)
    Keep.apply(c).sum().backward()
    assert _independent(c.grad, held)


def test_weight_gradient_is_correct_independent_and_c_contiguous():
    x, W, b = Tensor(rng.standard_normal((4, 5))), leaf(3, 5), leaf(3)
    g = rng.standard_normal((4, 3))
    (x @ W.T + b).backward(g)
    np.testing.assert_allclose(W.grad, g.T @ x.data, rtol=1e-13)
    np.testing.assert_allclose(b.grad, g.sum(axis=0), rtol=1e-13)
    assert W.grad.flags.c_contiguous and _independent(W.grad, b.grad, g, x.data)


@pytest.mark.parametrize("shape", [(), (3, 4), (64, 64), (65, 64)])   # both sides of SMALL_SUM
def test_sum_gradient_written_out_or_broadcast_gives_the_same_values(shape):
    from autograd_core.rules.reductions import SMALL_SUM

    x = leaf(*shape)
    weights = rng.standard_normal(shape)
    (x * weights).sum().backward(np.asarray(1.5))
    np.testing.assert_allclose(x.grad, 1.5 * weights, rtol=1e-15)
    assert x.grad.shape == shape and (x.size <= SMALL_SUM) == (shape != (65, 64))
    small = leaf(2, 3)
    assert gradcheck(lambda t: (t * t).sum(), [small]) and gradgradcheck(lambda t: (t * t).sum(), [small])
