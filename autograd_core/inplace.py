"""In-place operations (``+= -= *= /=``, ``x[index] = v``) and their version counters.

An in-place operation writes into the tensor's existing array, as numpy does, and
counts one more *version* of the tensor. Values that recorded operations saved for
the backward pass are checked against those counters when backward runs, so a
gradient is never computed from a value that changed after it was saved: the
engine raises instead (``InplaceError``), as PyTorch does.

When the operation itself is recorded, the tensor's place on the tape moves to
the new node, whose parent is the old one: ``c = a + b; c += c + 1`` differentiates
as ``c₁ = c₀ + (c₀ + 1)``.

Views (``v = c[0:2]``, ``c.T``, ``c.reshape(...)`` share ``c``'s memory) are the one
place where numpy's aliasing and the tape disagree: writing through ``v`` would change
``c`` behind its node's back, and every gradient that uses ``c`` would silently be
wrong. So a *recorded* in-place operation on a view writes into fresh memory (copy on
write): ``v`` changes, ``c`` does not, and both agree with their graphs. Write into
the base instead (``c[0:2] += 1`` does: Python ends it with ``c[0:2] = ...``, recorded
as ``setitem``). Under ``no_grad`` the write goes through, as in numpy, and every
tensor sharing the memory (the view, its base, other views of it, ``detach()``ed
aliases: see ``share_versions``) counts a new version, so that a backward pass relying
on the old values raises.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import grad_mode
from .errors import InplaceError, ShapeError
from .tensor import Tensor, _result

_grad_state = grad_mode._state
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


def mark_modified(target: Tensor) -> None:
    """Count one more version of ``target`` after its array was written in place by hand.

    For code that writes ``tensor.data`` with numpy directly (an optimizer's update, under
    ``no_grad``): a backward pass that still needs the old values then raises, exactly as
    after ``tensor -= update``. Every tensor sharing the memory (see ``share_versions``)
    counts the write too.
    """
    group = target._aliases
    if group is None:
        _count_write(target)
        return
    for ref in group:
        alias = ref()
        if alias is not None:
            _count_write(alias)


def _count_write(tensor: Tensor) -> None:
    tensor._version += 1
    # The node that produced this array saved it as `out`: note that it changed.
    node = tensor._node
    if node is not None and node.op is not None and node.out is tensor.data:
        node.out_version = tensor._version


def share_versions(alias: Tensor, sources: Any) -> None:
    """``alias`` shares memory with some of ``sources`` (a view, ``detach()``): one history.

    Tensors that share memory form a group (a list of weak references, held by each of
    them); a write into any of them is counted by all, as PyTorch's shared version
    counter does. So ``b.detach() += 1``, ``b[0:2] += 1`` under ``no_grad``, or ``b += 1``
    after a view of ``b`` was saved, all make the backward pass that needs the old values
    raise instead of using the new ones. Only views and aliases pay for this: it runs when
    an operation's output is a view, not for ordinary results.
    """
    memory = alias.data.base
    for source in sources:
        if isinstance(source, Tensor) and source is not alias and (
                # numpy points a view's .base at the array owning the memory: an identity
                # test settles the usual case (x.T, x[1:3]) without may_share_memory.
                memory is source.data or (memory is not None and memory is source.data.base)
                or np.may_share_memory(source.data, alias.data)):
            group = source._aliases
            if group is None:
                group = source._aliases = [weakref.ref(source)]
            elif len(group) >= 16 and len(group) & (len(group) - 1) == 0:
                # Transient views (W.T every step) leave dead references: drop them now and
                # then (at sizes 16, 32, 64...), which keeps the list short at O(1) amortized.
                group[:] = [ref for ref in group if ref() is not None]
            if alias._aliases is not group:
                group.append(weakref.ref(alias))
                alias._aliases = group


def _leave_aliases(tensor: Tensor) -> None:
    """``tensor`` got memory of its own (copy on write): it no longer shares a history."""
    group = tensor._aliases
    if group is not None:
        group[:] = [ref for ref in group if ref() is not None and ref() is not tensor]
        tensor._aliases = None


def inplace_apply(target: Tensor, op: Any, other: Any) -> Tensor:
    """``target op= other`` for op in add, sub, mul, div."""
    if _grad_state.enabled:
        # Only with recording on can a leaf be refused; under no_grad (an optimizer's step)
        # this skips building the message, about 1 µs per parameter update (issue 5).
        _refuse_leaf(target, f"in-place {op.name}")
    if not _records(target, other):
        value = other.data if isinstance(other, Tensor) else other
        try:
            _NUMPY_INPLACE[op.name](target.data, value, out=target.data, casting="same_kind")
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
        mark_modified(target)
        return
    _write_back(target, setitem(target, value, index=index), "item assignment")


def _write_back(target: Tensor, result: Tensor, what: str) -> None:
    if result.shape != target.shape:
        raise ShapeError(
            f"{what}: the result has shape {result.shape} but the tensor has shape "
            f"{target.shape}; an in-place operation cannot change the shape. Use the "
            "out-of-place form (x = x + y)."
        )
    if target.data.base is not None:
        # A view of another array: copy on write, so that the base stays what its graph says.
        target.data = result.data.astype(target.data.dtype, copy=False)
        _leave_aliases(target)
        target._version += 1
    else:
        np.copyto(target.data, result.data, casting="same_kind")
        mark_modified(target)
    if result._node is not None:
        result._node.name = target.name
    target._node = result._node
