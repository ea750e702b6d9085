"""The public operations, by the names users call them, and numpy's dispatch tables.

Module functions accept Tensors, numpy arrays or numbers and always return a
Tensor: ``autograd_core.exp(x)`` is ``x.exp()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import observe
from .composites import (
    concatenate,
    expand_dims,
    log_softmax,
    mean,
    normalize_axis,
    softmax,
    squeeze,
    stack,
    swapaxes,
)
from .rules.arithmetic import add, div, mul, neg, power, sub
from .rules.elementwise import (
    absolute,
    cos,
    exp,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    sin,
    sqrt,
    tanh,
)
from .rules.elementwise import clip as _clip
from .rules.elementwise import where as _where
from .rules.linalg import matmul
from .rules.reductions import logsumexp as _logsumexp
from .rules.reductions import tensor_max as _max
from .rules.reductions import tensor_min as _min
from .rules.reductions import tensor_sum as _sum
from .rules.shapes import astype as _astype
from .rules.shapes import broadcast_to as _broadcast_to
from .rules.shapes import getitem as _getitem
from .rules.shapes import reshape as _reshape
from .rules.shapes import transpose as _transpose
from .tensor import Tensor, value_of


def tensor_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Σ x over ``axis`` (all axes by default), numpy's conventions."""
    return _sum(x, axis=normalize_axis(axis), keepdims=bool(keepdims))


def tensor_max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Largest element over ``axis``; ties share the gradient equally."""
    return _max(x, axis=normalize_axis(axis), keepdims=bool(keepdims))


def tensor_min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Smallest element over ``axis``; ties share the gradient equally."""
    return _min(x, axis=normalize_axis(axis), keepdims=bool(keepdims))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """ln Σ exp(x) over ``axis``, computed without overflow."""
    return _logsumexp(x, axis=normalize_axis(axis), keepdims=bool(keepdims))


def reshape(x: Any, shape: Any) -> Tensor:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    return _reshape(x, shape=shape)


def transpose(x: Any, axes: Any = None) -> Tensor:
    return _transpose(x, axes=None if axes is None else tuple(int(a) for a in axes))


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    return _broadcast_to(x, shape=shape)


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """Limit values to [a_min, a_max]; the gradient passes where a_min <= x <= a_max.

    The bounds are parameters, not differentiated: a bound that requires grad is refused
    rather than silently given no gradient (use ``maximum`` and ``minimum`` for that).
    """
    for name, bound in (("a_min", a_min), ("a_max", a_max)):
        # While jit traces, every float argument requires grad; a bound passed in is read as
        # a value (a slot of the program), and differentiating by it still raises (unused).
        if isinstance(bound, Tensor) and bound.requires_grad and not observe.is_tracing():
            raise TypeError(
                f"clip: {name} requires grad, but clip's bounds are not differentiated. For a "
                "gradient with respect to the bounds write minimum(maximum(x, a_min), a_max); "
                f"otherwise pass {name}.detach()."
            )
    # Their values, never Tensors: np.clip would dispatch straight back here.
    return _clip(x, a_min=value_of(a_min), a_max=value_of(a_max))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elementwise ``condition ? x : y``; the condition is not differentiated."""
    if isinstance(condition, Tensor):
        # Recorded, so that jit reads the condition of each call (a float mask, say).
        condition = (condition if condition.dtype == bool else astype(condition, bool)).data
    return _where(np.asarray(condition, dtype=bool), x, y)


def astype(x: Any, dtype: Any) -> Tensor:
    return _astype(x, dtype=np.dtype(dtype))


def getitem(x: Any, index: Any) -> Tensor:
    """``x[index]``: basic slices, integer arrays and boolean masks, as in numpy."""
    return _getitem(x, index=plain_index(index))


def plain_index(index: Any) -> Any:
    # Index with the numbers inside a Tensor, never with the Tensor object itself.
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        # x[[]] picks nothing: an empty list must still be an integer index array.
        return np.asarray(index) if index else np.zeros(0, dtype=np.intp)
    return index


def flatten(x: Any, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Axes ``start_axis`` to ``end_axis`` folded into one, as ``torch.flatten``: all of them
    by default (a 1-D result), ``flatten(x, 1)`` keeps the batch axis. A recorded ``reshape``.
    """
    shape = np.shape(value_of(x))
    if not shape:
        return reshape(x, (1,))                      # a scalar flattens to one element, as in torch
    ndim = len(shape)
    if not all(-ndim <= int(axis) < ndim for axis in (start_axis, end_axis)):
        raise ValueError(
            f"flatten: start_axis {start_axis} or end_axis {end_axis} is out of range for a tensor of "
            f"shape {shape} ({ndim} axes)."
        )
    start, end = int(start_axis) % ndim, int(end_axis) % ndim
    if start > end:
        raise ValueError(
            f"flatten: start_axis {start_axis} comes after end_axis {end_axis} for a tensor of shape "
            f"{shape}; give start_axis <= end_axis."
        )
    return reshape(x, shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:])


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the largest element (along ``axis``), from the values: a numpy result, not
    differentiable (an index has no gradient), as ``np.argmax(tensor.data)``."""
    _refuse_index_from_values(x, "argmax")
    return np.argmax(value_of(x), axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the smallest element (along ``axis``); a numpy result, as ``argmax``."""
    _refuse_index_from_values(x, "argmin")
    return np.argmin(value_of(x), axis=axis, keepdims=keepdims)


def _refuse_index_from_values(x: Any, name: str) -> None:
    if observe.state.observers and isinstance(x, Tensor):
        observe.refuse(f"{name} of a traced tensor gives a plain index",
                       "An index read from values would stay the traced call's.")


def _numpy_argmax(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    _refuse_index_from_values(a, "argmax")
    return np.argmax(value_of(a), axis=axis, out=out, keepdims=keepdims)


def _numpy_argmin(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    _refuse_index_from_values(a, "argmin")
    return np.argmin(value_of(a), axis=axis, out=out, keepdims=keepdims)


def _dot(a: Any, b: Any) -> Tensor:
    # np.dot is a matrix product only up to two dimensions; above, it pairs every row of a
    # with every matrix of b, which matmul does not.
    if np.ndim(value_of(a)) > 2 or np.ndim(value_of(b)) > 2:
        raise TypeError(
            "numpy.dot of tensors with more than two dimensions is not supported (numpy's "
            "result is not a batched matrix product); use matmul (a @ b) for a batched product."
        )
    return matmul(a, b)


def _numpy_reshape(a: Any, shape: Any = None, newshape: Any = None, order: str = "C") -> Tensor:
    return reshape(a, shape if shape is not None else newshape)


# Comparisons and other non-differentiable ufuncs give plain numpy results (Tensor.__array_ufunc__).
COMPARISONS = {
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.sign, np.isfinite, np.isnan, np.isinf,
}

#: numpy ufunc -> recorded operation, for np.exp(tensor), array * tensor, and the rules.
UFUNC_HANDLERS: dict[Any, Any] = {
    np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.negative: neg,
    np.positive: lambda x: x, np.power: power, np.matmul: matmul, np.exp: exp, np.log: log,
    np.sqrt: sqrt, np.sin: sin, np.cos: cos, np.tanh: tanh, np.absolute: absolute,
    np.maximum: maximum, np.minimum: minimum, np.square: lambda x: mul(x, x),
}

#: numpy function -> recorded operation, for np.sum(tensor) and the rules.
FUNCTION_HANDLERS: dict[Any, Any] = {
    np.sum: tensor_sum, np.mean: mean, np.max: tensor_max, np.amax: tensor_max,
    np.min: tensor_min, np.amin: tensor_min, np.reshape: _numpy_reshape,
    np.transpose: transpose, np.swapaxes: swapaxes, np.broadcast_to: broadcast_to,
    np.squeeze: squeeze, np.expand_dims: expand_dims, np.concatenate: concatenate,
    np.stack: stack, np.where: where, np.clip: clip, np.dot: _dot,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: lambda a: a.size,
    # Indices, not differentiable: numpy results read from the values.
    np.argmax: _numpy_argmax, np.argmin: _numpy_argmin,
}

__all__ = [
    "absolute", "add", "argmax", "argmin", "astype", "broadcast_to", "clip", "concatenate", "cos",
    "div", "exp", "expand_dims", "flatten", "getitem", "log", "log_softmax", "logsumexp", "matmul",
    "maximum", "mean", "minimum", "mul", "neg", "power", "relu", "reshape", "sigmoid", "sin",
    "softmax", "sqrt", "squeeze", "stack", "sub", "swapaxes", "tanh", "tensor_max", "tensor_min",
    "tensor_sum", "transpose", "where",
]
