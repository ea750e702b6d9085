"""In-place operations (``+= -= *= /=``, ``x[index] = v``) and their version counters.

An in-place operation writes into the tensor's existing array, as numpy does, and
counts one more *version* of the tensor. Values that recorded operations saved for
the backward pass are checked against those counters when backward runs, so a
gradient is never computed from a value that changed after it was saved: the
engine raises instead (``InplaceError``), as PyTorch does.

When the operation itself is recorded, the tensor's place on the tape moves to
the new node, whose parent is the old one: ``c = a + b; c += c + 1`` differentiates
as ``c₁ = c₀ + (c₀ + 1)``.

Views (``v = c[0:2]``, ``c.T``, ``c.reshape(...)``) share ``c``'s memory, as in numpy
and PyTorch, and the tape follows the sharing both ways:

- a recorded write into ``c`` gives ``c`` a new node; a view taken before is made again
  from the new ``c`` the next time it is read (``tensor.follow_base``);
- a recorded write into ``v`` goes into ``c``'s memory too, and ``c`` gets a node that
  says so: ``setitem(c, v, index)``, or the inverse reshape or transpose
  (``_write_through``), up the chain of views.

Under ``no_grad`` the write goes through without recording anything, and every tensor
sharing the memory (the view, its base, other views of it, ``detach()``ed aliases: see
``tensor.share_versions``) counts a new version, so that a backward pass relying on the
old values raises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import grad_mode
from .errors import InplaceError, ShapeError
from .ops import plain_index
from .rules.arithmetic import add, div, mul, sub
from .rules.shapes import fit_to_slot, inverse_axes, reshape, setitem, transpose
from .tensor import Tensor, mark_modified, result_tensor

__all__ = ["inplace_apply", "inplace_setitem", "mark_modified"]

_NUMPY_INPLACE = {add: np.add, sub: np.subtract, mul: np.multiply, div: np.true_divide}


def _refuse_leaf(target: Tensor, what: str) -> None:
    node = target._node
    if node is not None and node.op is None:
        name = f" '{target.name}'" if target.name else ""
        raise InplaceError(
            f"{what} on leaf tensor{name} of shape {target.shape} that requires grad: its "
            "gradient would be taken with respect to a value that no longer exists. Update "
            "parameters inside `with no_grad():`, or write out of place (x = x + y)."
        )
    origin = target._view_of
    while origin is not None:           # a view of a leaf writes into the leaf: refused too
        base = origin.parent
        if origin.kind == "no_grad" and base.requires_grad:
            raise InplaceError(
                f"{what} on a view (shape {target.shape}) made inside no_grad() of a tensor that "
                "requires grad, with recording on: the tensor would change without its graph "
                "saying so. Take the view outside no_grad(), or write inside no_grad()."
            )
        if base._node is not None and base._node.op is None:
            name = f" '{base.name}'" if base.name else ""
            raise InplaceError(
                f"{what} on a view of leaf tensor{name} (shape {base.shape}) that requires grad: "
                "the write would change the leaf, whose gradient would then be taken with "
                "respect to a value that no longer exists. Write into a copy (x = a * 1; "
                "x[0:2] += 1), or update the leaf inside `with no_grad():`."
            )
        origin = base._view_of


def _needs_grad(value: Any) -> bool:
    # current_node(): a view whose base changed is brought up to date first (follow_base).
    return isinstance(value, Tensor) and value.current_node() is not None


def inplace_apply(target: Tensor, op: Any, other: Any) -> Tensor:
    """``target op= other`` for op in add, sub, mul, div."""
    target.current_node()               # a stale view gets its node from its base first
    recording = grad_mode.is_grad_enabled()
    if recording:
        _refuse_leaf(target, f"in-place {op.name}")
    if not (recording and (_needs_grad(target) or _needs_grad(other))):
        _write_numpy(target, op, other)
        return target
    source = target
    plan = op.save_plan(_needs_grad(target) | (_needs_grad(other) << 1), 2, {})
    if 0 in plan.kept:
        # A rule will read the target's value from before the write (c *= w: w̄ = g ⊙ c): the
        # node gets a copy, as PyTorch keeps the original self. As the other operand
        # (c *= c) it is not copied, so backward raises there, as in PyTorch.
        source = result_tensor(target.data.copy(), target._node)
    _write_back(target, op(source, other), f"in-place {op.name}")
    return target


def inplace_setitem(target: Tensor, index: Any, value: Any) -> None:
    """``target[index] = value``; recorded as ``setitem`` when gradients are tracked."""
    target.current_node()               # a stale view gets its node from its base first
    recording = grad_mode.is_grad_enabled()
    if recording:
        _refuse_leaf(target, "item assignment")
    index = plain_index(index)
    if recording and _needs_grad(value) and target.data.dtype.kind not in "fc":
        raise TypeError(
            f"item assignment: the value requires grad but the tensor has dtype "
            f"{target.data.dtype}, which cannot carry a gradient; make the tensor floating "
            "point (Tensor(data, dtype=np.float64)) or assign value.detach()."
        )
    if not (recording and (_needs_grad(target) or _needs_grad(value))):
        value = value.data if isinstance(value, Tensor) else value
        target.data[index] = fit_to_slot(value, np.ndim(target.data[index]))
        mark_modified(target)
        return
    _write_back(target, setitem(target, value, index=index), "item assignment")


def _write_numpy(target: Tensor, op: Any, other: Any) -> None:
    """Nothing to record: write with numpy into the tensor's array and count the version."""
    value = other.data if isinstance(other, Tensor) else other
    try:
        _NUMPY_INPLACE[op](target.data, value, out=target.data, casting="same_kind")
    except ValueError as exc:
        if not target.data.flags.writeable:
            raise InplaceError(
                f"in-place {op.name} on a tensor of shape {target.shape} whose array is "
                "read-only (a broadcast view, or an array numpy marked not writeable): "
                "write out of place (x = x - y), or give the tensor an array of its own "
                "(Tensor(x.data.copy()))."
            ) from None
        raise ShapeError(
            f"in-place {op.name}: cannot write a result of operands {target.shape} and "
            f"{np.shape(value)} into a tensor of shape {target.shape} ({exc}). An in-place "
            "operation cannot change the shape; use the out-of-place form (x = x + y)."
        ) from None
    mark_modified(target)


def _write_back(target: Tensor, result: Tensor, what: str) -> None:
    if result.shape != target.shape:
        raise ShapeError(
            f"{what}: the result has shape {result.shape} but the tensor has shape "
            f"{target.shape}; an in-place operation cannot change the shape. Use the "
            "out-of-place form (x = x + y)."
        )
    if not target.data.flags.writeable:
        raise InplaceError(
            f"{what} on a tensor of shape {target.shape} whose array is read-only (a broadcast "
            "view, or an array numpy marked not writeable): write out of place (x = x + y)."
        )
    if target._view_of is not None and target._view_of.op.name not in _WRITABLE_VIEWS:
        raise InplaceError(
            f"{what} on a view made by '{target._view_of.op.name}' (shape {target.shape}) is not "
            "supported: write into the tensor it views, or into a copy."
        )
    # The tensor's own memory, which its views and the tensor it views share: every one of
    # them sees the new values and counts one more version.
    np.copyto(target.data, result.data, casting="same_kind")
    mark_modified(target)
    node = result._node
    if node is not None:
        node.name = target.name
        retained = target._node
        if retained is not None and retained.op is not None and retained.tensor_ref is not None:
            # retain_grad() follows the tensor to its new value, as in PyTorch.
            retained.tensor_ref, node.tensor_ref = None, retained.tensor_ref
    target._node = node
    if target._view_of is not None:
        _write_through(target)


# The views whose parent can be rebuilt from them after a write: x[index], reshape, transpose.
_WRITABLE_VIEWS = {"getitem", "reshape", "transpose"}


def _write_through(view: Tensor) -> None:
    """A recorded write into a view changed its parent's values too (they share memory):
    give the parent a node that says so, and its parent, up the chain of views.

    ``c = a * 1; c[0][1] = 9.0``: ``c[0]`` is a view; after the write, c is
    ``setitem(c, c[0], 0)`` on the tape, so gradients reach the 9.0 through c.
    """
    origin = view._view_of
    parent = origin.parent
    if origin.op.name == "getitem":
        rebuilt = setitem(parent, view, index=origin.params["index"])
    elif origin.op.name == "reshape":
        rebuilt = reshape(view, shape=parent.shape)
    else:
        rebuilt = transpose(view, axes=inverse_axes(origin.params["axes"], parent.ndim))
    node = rebuilt._node
    if node is not None:
        node.name = parent.name
        retained = parent._node
        if retained is not None and retained.op is not None and retained.tensor_ref is not None:
            retained.tensor_ref, node.tensor_ref = None, retained.tensor_ref  # retain_grad follows
    parent._node = node                 # its data already holds the new values
    # The view itself is now stale: the next time it is read it is made again from the new
    # parent (follow_base), so gradients through it reach the parent's new node, as in PyTorch.
    if parent._view_of is not None:
        _write_through(parent)
