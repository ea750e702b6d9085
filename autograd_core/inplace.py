"""In-place operations (``+= -= *= /=``, ``x[index] = v``) and their version counters.

An in-place operation writes into the tensor's existing array, as numpy does, and
counts one more *version* of the tensor. Values that recorded operations saved for
the backward pass are checked against those counters when backward runs, so a
gradient is never computed from a value that changed after it was saved: the
engine raises instead (``InplaceError``), as PyTorch does.

When the operation itself is recorded, the tensor's place on the tape moves to
the new node, whose parent is the old one: ``c = a + b; c += c + 1`` differentiates
as ``c₁ = c₀ + (c₀ + 1)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import grad_mode
from .errors import InplaceError, ShapeError
from .tensor import Tensor, _result

_NUMPY_INPLACE = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def _refuse_leaf(target: Tensor, what: str) -> None:
    node = target._node
    if node is not None and node.op is None and grad_mode.is_grad_enabled():
        name = f" '{target.name}'" if target.name else ""
        raise InplaceError(
            f"{what} on leaf tensor{name} of shape {target.shape} that requires grad: its "
            "gradient would be taken with respect to a value that no longer exists. Update "
            "parameters inside `with no_grad():`, or write out of place (x = x + y)."
        )


def _records(target: Tensor, other: Any) -> bool:
    if not grad_mode.is_grad_enabled():
        return False
    return target._node is not None or (isinstance(other, Tensor) and other._node is not None)


def _mark_modified(target: Tensor) -> None:
    node = target._node
    target._version += 1
    # The node that produced this array saved it as `out`: note that it changed.
    if node is not None and node.op is not None and node.out is target.data:
        node.out_version = target._version


def inplace_apply(target: Tensor, op: Any, other: Any) -> Tensor:
    """``target op= other`` for op in add, sub, mul, div."""
    _refuse_leaf(target, f"in-place {op.name}")
    if not _records(target, other):
        value = other.data if isinstance(other, Tensor) else other
        try:
            _NUMPY_INPLACE[op.name](target.data, value, out=target.data, casting="same_kind")
        except ValueError as exc:
            raise ShapeError(
                f"in-place {op.name}: cannot write a result of operands {target.shape} and "
                f"{np.shape(value)} into a tensor of shape {target.shape} ({exc}). An in-place "
                "operation cannot change the shape; use the out-of-place form (x = x + y)."
            ) from None
        _mark_modified(target)
        return target
    source = target
    if 0 in op.reads_inputs or (other is target and 1 in op.reads_inputs):
        # The rule needs the value from before the write: keep a copy, as PyTorch does.
        source = _result(target.data.copy(), target._node)
        if other is target:
            # `c *= c`: the right operand is the same pre-write value.
            other = source
    result = op(source, other)
    _write_back(target, result, f"in-place {op.name}")
    return target


def inplace_setitem(target: Tensor, index: Any, value: Any) -> None:
    """``target[index] = value``; recorded as ``setitem`` when gradients are tracked."""
    from .ops import _plain_index
    from .rules.shapes import setitem

    _refuse_leaf(target, "item assignment")
    index = _plain_index(index)
    if not _records(target, value):
        target.data[index] = value.data if isinstance(value, Tensor) else value
        _mark_modified(target)
        return
    _write_back(target, setitem(target, value, index=index), "item assignment")


def _write_back(target: Tensor, result: Tensor, what: str) -> None:
    if result.shape != target.shape:
        raise ShapeError(
            f"{what}: the result has shape {result.shape} but the tensor has shape "
            f"{target.shape}; an in-place operation cannot change the shape. Use the "
            "out-of-place form (x = x + y)."
        )
    np.copyto(target.data, result.data, casting="same_kind")
    _mark_modified(target)
    if result._node is not None:
        result._node.name = target.name
    target._node = result._node
