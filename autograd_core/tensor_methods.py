"""Tensor's operators and methods: each one a call into the rules table or the composites.

``a * b`` is ``record(ops.mul, (a, b))``, ``t.sum(axis=0)`` is ``ops.tensor_sum(t, axis=0)``,
``t.backward()`` is ``backward.backward(t)``. They are written here, as the methods of
``TensorMethods``, and attached to ``Tensor`` once, when the package is imported:
``tensor.py`` sits below the rules table (the rules are built on Tensor), so it cannot
import them itself without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from . import backward as _backward
from . import observe, ops
from .inplace import inplace_apply, inplace_setitem
from .node import NO_PARAMS
from .primitive import record
from .tensor import Tensor, value_of


class TensorMethods:
    """The methods attached to ``Tensor`` (see ``attach``); never instantiated."""

    def backward(self, gradient: Any = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is the seed (d final / d self), required unless self has one element.
        The graph's saved values are freed afterwards unless ``retain_graph``; with
        ``create_graph`` the backward pass is itself recorded, so the resulting ``.grad``
        are Tensors that can be differentiated again.
        """
        _backward.backward(self, gradient, retain_graph, create_graph)

    # ------------------------------------------------------------------ arithmetic
    # Operators call record() directly: one call less than through Primitive.__call__.
    def __add__(self, other: Any) -> Tensor:
        return record(ops.add, (self, other), NO_PARAMS)

    def __radd__(self, other: Any) -> Tensor:
        return record(ops.add, (other, self), NO_PARAMS)

    def __sub__(self, other: Any) -> Tensor:
        return record(ops.sub, (self, other), NO_PARAMS)

    def __rsub__(self, other: Any) -> Tensor:
        return record(ops.sub, (other, self), NO_PARAMS)

    def __mul__(self, other: Any) -> Tensor:
        return record(ops.mul, (self, other), NO_PARAMS)

    def __rmul__(self, other: Any) -> Tensor:
        return record(ops.mul, (other, self), NO_PARAMS)

    def __truediv__(self, other: Any) -> Tensor:
        return record(ops.div, (self, other), NO_PARAMS)

    def __rtruediv__(self, other: Any) -> Tensor:
        return record(ops.div, (other, self), NO_PARAMS)

    def __pow__(self, other: Any) -> Tensor:
        return record(ops.power, (self, other), NO_PARAMS)

    def __rpow__(self, other: Any) -> Tensor:
        return record(ops.power, (other, self), NO_PARAMS)

    def __matmul__(self, other: Any) -> Tensor:
        return record(ops.matmul, (self, other), NO_PARAMS)

    def __rmatmul__(self, other: Any) -> Tensor:
        return record(ops.matmul, (other, self), NO_PARAMS)

    def __neg__(self) -> Tensor:
        return record(ops.neg, (self,), NO_PARAMS)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.absolute(self)

    # In-place forms write into this tensor's array (see inplace.py for the rules).
    def __iadd__(self, other: Any) -> Tensor:
        return inplace_apply(self, ops.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return inplace_apply(self, ops.sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return inplace_apply(self, ops.mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return inplace_apply(self, ops.div, other)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        inplace_setitem(self, index, value)

    def __iter__(self) -> Iterator[Tensor]:
        for index in range(len(self.data)):
            yield self[index]

    # --------------------------------------------------------------------- methods
    @property
    def T(self) -> Tensor:
        return ops.transpose(self)

    def exp(self) -> Tensor:
        return record(ops.exp, (self,), NO_PARAMS)

    def log(self) -> Tensor:
        return record(ops.log, (self,), NO_PARAMS)

    def sqrt(self) -> Tensor:
        return record(ops.sqrt, (self,), NO_PARAMS)

    def sin(self) -> Tensor:
        return record(ops.sin, (self,), NO_PARAMS)

    def cos(self) -> Tensor:
        return record(ops.cos, (self,), NO_PARAMS)

    def tanh(self) -> Tensor:
        return record(ops.tanh, (self,), NO_PARAMS)

    def sigmoid(self) -> Tensor:
        return record(ops.sigmoid, (self,), NO_PARAMS)

    def relu(self) -> Tensor:
        return record(ops.relu, (self,), NO_PARAMS)

    def abs(self) -> Tensor:
        return ops.absolute(self)

    def clip(self, a_min: Any = None, a_max: Any = None) -> Tensor:
        return ops.clip(self, a_min, a_max)

    def maximum(self, other: Any) -> Tensor:
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``where(condition, self, other)``, as PyTorch's ``Tensor.where``."""
        return ops.where(condition, self, other)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.tensor_sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.tensor_max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.tensor_min(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            # numpy's forms: t.transpose((1, 0)), and t.transpose(None) to reverse the axes.
            axes = tuple(axes[0]) if axes[0] is not None else ()
        return ops.transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return ops.swapaxes(self, axis1, axis2)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return ops.broadcast_to(self, shape)

    def squeeze(self, axis: Any = None) -> Tensor:
        return ops.squeeze(self, axis)

    def expand_dims(self, axis: Any) -> Tensor:
        return ops.expand_dims(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        """PyTorch's name for ``expand_dims``: a new axis of length 1 at ``axis``."""
        return ops.expand_dims(self, axis)

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        """Axes ``start_axis``..``end_axis`` folded into one (all: a 1-D tensor), as ``torch.flatten``."""
        return ops.flatten(self, start_axis, end_axis)

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent``."""
        return record(ops.power, (self, exponent), NO_PARAMS)

    def argmax(self, axis: Any = None, keepdims: bool = False) -> Any:
        """Index of the largest value, a numpy integer or array: not differentiable, not a Tensor."""
        return ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: Any = None, keepdims: bool = False) -> Any:
        """Index of the smallest value, a numpy integer or array: not differentiable, not a Tensor."""
        return ops.argmin(self, axis=axis, keepdims=keepdims)

    def tolist(self) -> Any:
        """The values as nested Python lists (a number for a 0-d tensor), as ``ndarray.tolist``."""
        observe.refuse("t.tolist() reads a traced tensor's value", "Its result is a plain list that "
                     "the program cannot follow.")
        return self.data.tolist()

    def concatenate(self, others: Sequence[Any], axis: int = 0) -> Tensor:
        return ops.concatenate([self, *others], axis=axis)

    def stack(self, others: Sequence[Any], axis: int = 0) -> Tensor:
        return ops.stack([self, *others], axis=axis)

    def matmul(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.log_softmax(self, axis=axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.logsumexp(self, axis=axis, keepdims=keepdims)

    def astype(self, dtype: Any) -> Tensor:
        return ops.astype(self, dtype)

    # --------------------------------------------------- numpy dispatch protocols
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``np.exp(tensor)``, ``array * tensor``: route numpy ufuncs to recorded operations.

        This is also what lets the gradient rules, written in plain numpy, record their
        own graph when ``create_graph=True`` hands them tensors.
        """
        if method != "__call__" or kwargs.get("out") is not None:
            raise TypeError(
                f"numpy.{ufunc.__name__}.{method} is not supported on Tensor; "
                "call it on tensor.data for a plain numpy result."
            )
        kwargs.pop("out", None)
        if ufunc in ops.COMPARISONS:        # not differentiable: a plain numpy result
            if observe.state.observers:
                observe.refuse(f"numpy.{ufunc.__name__} reads a traced tensor's value",
                               "Its result is a plain array that the program cannot follow: decide "
                               "per element with operations (maximum, minimum, clip, relu, abs).")
            return ufunc(*[value_of(v) for v in inputs], **kwargs)
        handler = ops.UFUNC_HANDLERS.get(ufunc)
        if handler is None:
            return _unsupported(f"numpy.{ufunc.__name__}")
        return handler(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = ops.FUNCTION_HANDLERS.get(func)
        if handler is None:
            return _unsupported(f"numpy.{func.__name__}")
        return handler(*args, **kwargs)


def _unsupported(what: str) -> Any:
    raise TypeError(
        f"{what} is not supported on Tensor: no gradient rule is registered for it. "
        "Use tensor.data for a non-differentiable numpy value, compose it from supported "
        "operations, or define it with autograd_core.Function."
    )


def attach() -> None:
    """Give ``Tensor`` every method of ``TensorMethods`` (run once, by the package's import)."""
    for name, method in vars(TensorMethods).items():
        if callable(method) or isinstance(method, property):     # not __doc__, __module__...
            setattr(Tensor, name, method)


attach()
