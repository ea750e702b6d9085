"""Operations composed from primitives: their gradients follow from the rules table.

Nothing here has a rule of its own; that is the point. ``softmax`` is
``exp(log_softmax(x))`` and ``log_softmax`` is ``x − logsumexp(x)``, so their
stability comes from the one primitive that needs care (``logsumexp``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .primitive import Primitive
from .rules.arithmetic import div, sub
from .rules.elementwise import exp
from .rules.reductions import kept_shape, logsumexp, tensor_sum
from .rules.shapes import concatenate as _concatenate
from .rules.shapes import reshape, transpose
from .tensor import Tensor


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x.data if isinstance(x, Tensor) else x))


def normalize_axis(axis: Any) -> Any:
    """None, an int, or a tuple of ints (lists become tuples, so params stay hashable)."""
    if axis is None or isinstance(axis, (int, np.integer)):
        return None if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Σ x / n over ``axis``: a sum followed by a division, so no rule of its own."""
    axis = normalize_axis(axis)
    shape = _shape(x)
    # Reduced axes have length 1 in the kept shape; the others keep theirs (1 only if already 1).
    count = math.prod(n for n, kept in zip(shape, kept_shape(shape, axis)) if kept == 1)
    return div(tensor_sum(x, axis=axis, keepdims=keepdims), count)


def _peak(values: Any, axis: int) -> np.ndarray:
    peak = np.max(values, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(peak), peak, 0).astype(values.dtype)


# The constant log_softmax subtracts, as an operation without a gradient rule: recorded, so
# that jit computes it from each call's logits rather than keeping the traced call's. Not
# in PRIMITIVES: it is a step of log_softmax, not an operation users call.
_shift = Primitive(_peak, "softmax_shift", "z = max(x) along axis (0 where not finite); no gradient")
_shift.defvjp(None)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x − logsumexp(x): stable for logits of any size.

    Computed as s − logsumexp(s) with s = x − max(x), the maximum taken as a constant: the
    same value and gradient (log_softmax does not change when a constant is subtracted),
    but the small differences are exact in float32 too, where x − logsumexp(x) of logits
    near 1000 would round at the scale of 1000.
    """
    values = x.data if isinstance(x, Tensor) else np.asarray(x)
    shifted = sub(x, _shift(values, axis=axis))
    return sub(shifted, logsumexp(shifted, axis=axis, keepdims=True))


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(log_softmax(x)): probabilities that sum to 1 along ``axis``, never NaN for large logits."""
    return exp(log_softmax(x, axis=axis))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop length-1 axes (all of them, or those in ``axis``): a reshape."""
    shape = _shape(x)
    axis = normalize_axis(axis)
    if axis is None:
        drop = {i for i, n in enumerate(shape) if n == 1}
    else:
        drop = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
        wrong = [a for a in drop if shape[a] != 1]
        if wrong:
            raise ValueError(
                f"squeeze: axis {wrong[0]} of shape {shape} has length {shape[wrong[0]]}, not 1; "
                "only length-1 axes can be squeezed."
            )
    return reshape(x, shape=tuple(n for i, n in enumerate(shape) if i not in drop))


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert length-1 axes at ``axis``: a reshape."""
    return reshape(x, shape=np.expand_dims(np.empty(_shape(x), dtype=bool), axis).shape)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes: a transpose."""
    axes = list(range(len(_shape(x))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes=tuple(axes))


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``axis=None``: flattened first, as in numpy)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    if axis is None:
        return _concatenate(*[reshape(t, shape=(-1,)) for t in tensors], axis=0)
    return _concatenate(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis: each gets a length-1 axis, then concatenate."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {_shape(t) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return _concatenate(*[expand_dims(t, axis) for t in tensors], axis=axis)
