"""Property tests (hypothesis): what must hold for every input, not just the chosen cases.

- every VJP is linear in the upstream gradient: vjp(a·u + b·v) = a·vjp(u) + b·vjp(v);
- ``sum_to_shape`` (undoing broadcasting) keeps the total, gives the requested shape,
  and is the adjoint of broadcasting: <sum_to_shape(g), x> = <g, broadcast(x)>;
- random expression graphs over 1-3 leaves of shapes that broadcast agree with
  central finite differences.
"""

from __future__ import annotations

import numpy as np
from gradient_cases import CASES
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_core as ac
from autograd_core import Tensor, gradcheck, gradients
from autograd_core.broadcasting import sum_to_shape

CASE_LIST = [(name, case) for name, cases in CASES.items() for case in cases]


# ---------------------------------------------------------------- linearity of VJPs
@given(which=st.integers(0, len(CASE_LIST) - 1), seed=st.integers(0, 2**32 - 1),
       a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_vjp_is_linear_in_the_upstream_gradient(which, seed, a, b):
    name, case = CASE_LIST[which]
    xs = [Tensor(x.copy(), requires_grad=True) for x in case.inputs]
    out = case.fn(*xs)
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(out.shape), rng.standard_normal(out.shape)

    def vjp(g):
        return gradients(out, xs, grad_outputs=np.asarray(g, dtype=out.dtype), retain_graph=True)

    combined = vjp(a * u + b * v)
    # A float32 output (astype's case) rounds the seed to float32: linear to float32's precision.
    tol = 1e-9 if out.dtype == np.float64 else 1e-5
    for index, (left, gu, gv) in enumerate(zip(combined, vjp(u), vjp(v))):
        np.testing.assert_allclose(left, a * gu + b * gv, rtol=tol, atol=tol,
                                   err_msg=f"{name} ({case.label}), input {index}")


# ------------------------------------------------------------ undoing broadcasting
@st.composite
def shape_and_broadcast(draw):
    """A shape, and a larger shape it broadcasts to (extra leading axes, 1s stretched)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    stretched = tuple(draw(st.integers(1, 4)) if n == 1 else n for n in shape)
    return shape, lead + stretched


@given(shapes=shape_and_broadcast(), seed=st.integers(0, 2**32 - 1))
def test_sum_to_shape_keeps_the_sum_and_gives_the_shape(shapes, seed):
    shape, big = shapes
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(big)
    reduced = sum_to_shape(g, shape)
    assert reduced.shape == shape
    np.testing.assert_allclose(np.sum(reduced), np.sum(g), rtol=1e-10, atol=1e-10)
    # The adjoint of broadcasting: each element of x was copied to the positions it sums.
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(np.sum(reduced * x), np.sum(g * np.broadcast_to(x, big)),
                               rtol=1e-10, atol=1e-10)
    # On a Tensor it is a recorded operation with the same value.
    as_tensor = sum_to_shape(Tensor(g), shape)
    np.testing.assert_allclose(as_tensor.data, reduced)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4),
       other=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=5))
def test_sum_to_shape_refuses_shapes_that_did_not_broadcast(shape, other):
    try:
        broadcast = np.broadcast_shapes(shape, other)
    except ValueError:
        broadcast = None
    assume(broadcast != other)  # `shape` really could not have been broadcast to `other`
    assert sum_to_shape(np.zeros(other), shape) is None


# ------------------------------------------------------- random expression graphs
UNARY = {
    "tanh": lambda x: x.tanh(),
    "sin": lambda x: x.sin(),
    "sigmoid": lambda x: x.sigmoid(),
    "exp_tanh": lambda x: x.tanh().exp(),
    "log1p_square": lambda x: (x * x + 1.0).log(),
    "sqrt1p_square": lambda x: (1.0 + x**2).sqrt(),
    "neg": lambda x: -x,
    "scale": lambda x: 0.5 * x - 0.25,
    "softmax": lambda x: ac.softmax(x, axis=-1) if x.ndim else x,
    "sum_keepdims": lambda x: x.sum(axis=-1, keepdims=True) if x.ndim else x,
    "mean_keepdims": lambda x: x.mean(axis=0, keepdims=True) if x.ndim else x,
    "logsumexp_keepdims": lambda x: ac.logsumexp(x, axis=-1, keepdims=True) if x.ndim else x,
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (1.0 + y * y),
    "pow": lambda x, y: (x * x + 0.5) ** y.tanh(),
    "where": lambda x, y: ac.where(np.asarray(x.data > y.data), x, y * 2.0),
}

# An expression is a leaf index, or (unary name, expr), or (binary name, expr, expr).
expressions = st.recursive(
    st.integers(0, 2),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), inner),
        st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
    ),
    max_leaves=6,
)


def evaluate(expr, leaves):
    if isinstance(expr, int):
        return leaves[expr % len(leaves)]
    if len(expr) == 2:
        return UNARY[expr[0]](evaluate(expr[1], leaves))
    return BINARY[expr[0]](evaluate(expr[1], leaves), evaluate(expr[2], leaves))


@st.composite
def leaves_that_broadcast(draw):
    """1-3 arrays whose shapes broadcast together: suffixes of one shape, some sides set to 1."""
    common = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        ndim = draw(st.integers(0, len(common)))
        shape = tuple(1 if draw(st.booleans()) else n for n in common[len(common) - ndim:])
        elements = st.floats(-1.5, 1.5, allow_nan=False, allow_subnormal=False)
        arrays.append(draw(hnp.arrays(np.float64, shape, elements=elements)))
    return arrays


def _where_is_safe(expr, leaves):
    # `where` is discontinuous where its two operands are equal: keep away from those points.
    if isinstance(expr, int):
        return True
    if expr[0] == "where":
        x, y = evaluate(expr[1], leaves), evaluate(expr[2], leaves)
        if np.min(np.abs(x.data - y.data), initial=np.inf) < 1e-3:
            return False
    return all(_where_is_safe(part, leaves) for part in expr[1:])


@given(expr=expressions, arrays=leaves_that_broadcast())
def test_random_expression_graphs_agree_with_finite_differences(expr, arrays):
    leaves = [Tensor(a) for a in arrays]
    assume(_where_is_safe(expr, leaves))

    def fn(*xs):
        out = evaluate(expr, list(xs))
        # A graph that is a bare leaf still has to be an operation of the checked inputs.
        return out * 1.0

    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = fn(*leaves)
    assume(np.all(np.isfinite(out.data)) and np.max(np.abs(out.data)) < 1e6)
    assert gradcheck(fn, [a.copy() for a in arrays], atol=1e-5, rtol=1e-4)

