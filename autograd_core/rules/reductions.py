"""Reductions over axes: sum, max, min, and a numerically stable logsumexp.

Every rule first gives ``g`` back the reduced axes (length 1) so that it broadcasts
against the input: ``keep_axes``. ``axis`` is None (all axes), an int or a tuple.
Ties in max/min share the gradient equally (the symmetric subgradient, as in
PyTorch's ``amax``/``amin`` and JAX).
"""

import numpy as np

from ..primitive import primitive, rule


def kept_shape(shape, axis):
    """The shape a reduction over ``axis`` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def keep_axes(g, shape, axis):
    """``g`` reshaped so that the axes reduced from ``shape`` are present with length 1."""
    return g.reshape(kept_shape(shape, axis))


@primitive("sum", "z = Σ_axis x;  x̄ = g broadcast back over the summed axes")
def tensor_sum(x, axis=None, keepdims=False):
    # np.add.reduce is what np.sum calls, without its Python wrapper: 1.9 -> 0.8 µs a call.
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


# Up to this many elements, x̄ of a sum is written out (np.full: about 1 µs) rather than
# built as a broadcast view (np.broadcast_to: about 3.8 µs); a large x keeps the view,
# which writes nothing.
SMALL_SUM = 4096


def _sum_vjp(g, out, x, axis=None, keepdims=False):
    if axis is None and type(g) is np.ndarray and x.size <= SMALL_SUM:
        return np.full(x.shape, g, dtype=g.dtype)
    return np.broadcast_to(keep_axes(g, x.shape, axis), x.shape)


tensor_sum.defvjp(rule(_sum_vjp))


def _share_among_ties(g, out, x, axis):
    # The positions equal to the extreme value; each gets g divided by their number. When the
    # extreme is NaN (numpy's max propagates it), the NaN positions are the winners (PyTorch).
    extreme = keep_axes(out, x.shape, axis)
    winners = (x == extreme) | ((x != x) & (extreme != extreme))
    return keep_axes(g, x.shape, axis) * winners / np.sum(winners, axis=axis, keepdims=True)


@primitive("max", "z = max_axis x;  x̄ = g at the maxima, shared equally among ties, 0 elsewhere")
def tensor_max(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


tensor_max.defvjp(
    rule(lambda g, out, x, axis=None, keepdims=False: _share_among_ties(g, out, x, axis),
         saves=("out", "x"))
)


@primitive("min", "z = min_axis x;  x̄ = g at the minima, shared equally among ties, 0 elsewhere")
def tensor_min(x, axis=None, keepdims=False):
    return np.min(x, axis=axis, keepdims=keepdims)


tensor_min.defvjp(
    rule(lambda g, out, x, axis=None, keepdims=False: _share_among_ties(g, out, x, axis),
         saves=("out", "x"))
)


@primitive(
    "logsumexp",
    "z = ln Σ_axis eˣ;  x̄ = g ⊙ e^(x − z) = g ⊙ softmax(x)",
    why="stability: shifting by the maximum keeps exp from overflowing for logits of ±1000, "
    "which ln(sum(exp(x))) composed from primitives cannot do; softmax and log_softmax build on it",
)
def logsumexp(x, axis=None, keepdims=False):
    # initial=-inf: over an empty axis the maximum is -inf (and the result ln 0 = -inf).
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(shift), shift, 0)
    # The sum of the shifted exponentials, plus the shift with the reduced axes dropped
    # unless kept: a fresh array, never a view of a temporary (in-place writes must count).
    summed = np.sum(np.exp(x - shift), axis=axis, keepdims=keepdims)
    return np.log(summed) + (shift if keepdims else np.squeeze(shift, axis=axis))


logsumexp.defvjp(
    rule(lambda g, out, x, axis=None, keepdims=False:
         keep_axes(g, x.shape, axis) * np.exp(x - keep_axes(out, x.shape, axis)),
         saves=("out", "x"))
)
