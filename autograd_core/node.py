"""``Node``: one entry of the tape, and ``NotSaved``: what stands in for a value it did not keep.

A node is what diagrams, the backward trace and the backward pass read: the
primitive that ran (``op``: its name, formula and rules), the nodes of its inputs
(``parents``), the values its rules declared they need (``saved``), and where it
stands on the tape (``seq``). A leaf (``op`` None) is where gradients arrive for
a tensor the user created with ``requires_grad=True``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

# One counter for the whole process: the order in which nodes were recorded.
_next_seq = itertools.count().__next__

# The params of every operation called without keyword parameters: one shared, read-only
# mapping instead of a fresh dict per recorded operation.
NO_PARAMS: Any = MappingProxyType({})


class Node:
    """One recorded operation, or with ``op`` None, a leaf that accumulates into ``.grad``.

    - ``op``: the primitive (``op.name``, ``op.formula``, ``op.vjps``); None for a leaf.
    - ``parents``: per input, the input's node, or None where no gradient is wanted
      (a constant, a tensor that does not require grad, a non-differentiable input).
    - ``saved``: per input, what its rules receive: the input's value where a rule of an
      input that needs a gradient declared it (``saves=``), else a ``NotSaved`` with
      only its shape and dtype. ``out``: the forward result if a rule declared ``"out"``,
      else None. Both become None once a backward pass without ``retain_graph`` is done.
    - ``watched``: ``(input index, tensor, version)`` for each saved input that is a
      Tensor: backward compares the versions to catch in-place changes of saved values.
    - ``params``: keyword parameters of the operation (axis, shape, index...).
    - ``seq``: the place on the tape. A node is recorded after the nodes of its inputs,
      so processing nodes from the highest ``seq`` down is a reverse topological order.
    """

    __slots__ = (
        "op", "parents", "saved", "out", "watched", "params", "seq", "name", "hooks",
        "tensor_ref", "out_version", "origin", "__weakref__",
    )

    def __init__(self, op: Any, parents: tuple, saved: tuple, out: Any, watched: tuple,
                 params: Any) -> None:
        self.op = op
        self.parents = parents
        self.saved = saved
        self.out = out
        self.watched = watched
        self.params = params
        self.seq = _next_seq()
        self.name: str | None = None                 # the tensor's name, if it was given one
        self.hooks: list[Callable[[Any], Any]] | None = None   # run when backward reaches here
        self.tensor_ref: Any = None        # weak reference to the tensor whose .grad this fills
        self.out_version: int | None = None  # set when the saved output was modified in place
        self.origin: Any = None            # where it was recorded, under detect_anomaly()

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def released(self) -> bool:
        """True once a backward pass without retain_graph has freed the saved values."""
        return self.op is not None and self.saved is None

    @property
    def tensor(self) -> Any:
        """The tensor this node fills (leaves, and tensors that called retain_grad())."""
        return self.tensor_ref() if self.tensor_ref is not None else None

    @property
    def label(self) -> str:
        if self.op is None:
            tensor = self.tensor
            return (tensor.name if tensor is not None else None) or "leaf"
        return self.op.name

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Node {self.label}{name}>"


class NotSaved:
    """Stands in for a value that no rule in use declared: its shape and dtype, nothing else.

    A rule may read ``.shape``, ``.ndim``, ``.dtype`` and ``.size`` of every input (to
    undo a reduction, say) without declaring it; reading the values needs ``saves=``.
    ``name`` and ``literal`` are for diagrams: the input tensor's name, a Python number.
    Anything else raises, so a rule whose declaration is wrong fails loudly instead
    of computing with a value that was never kept.
    """

    __slots__ = ("shape", "dtype", "name", "literal")

    # numpy must not turn this into an object array: `g * not_saved` raises TypeError.
    __array_ufunc__ = None

    def __init__(self, value: Any, name: str | None = None) -> None:
        # For diagrams, not for rules: the input tensor's name, and a Python number's value
        # (the 1 of x + 1), which costs nothing to keep.
        self.name = name
        self.literal = value if type(value) in (int, float) else None
        if type(value) is not np.ndarray:
            value = np.asarray(value)       # a Python number given as an operand
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __getattr__(self, attribute: str) -> Any:
        raise AttributeError(_not_saved_message(f"read .{attribute} of"))

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_not_saved_message("converted to an array"))

    def _refuse(self, *args: Any) -> Any:
        raise TypeError(_not_saved_message("computed with"))

    # Operators too, comparisons included: `x == not_saved` must not quietly give False.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __neg__ = __abs__ = __getitem__ = __bool__ = __float__ = __len__ = __iter__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self is OUTPUT_NOT_SAVED:
            return "OUTPUT_NOT_SAVED"
        return f"NotSaved(shape={self.shape}, dtype={self.dtype})"


#: What rules receive as ``out`` when none of them declared it: nothing at all, not even a
#: shape (a rule that needs the output's shape reads ``g.shape``, which is the same).
OUTPUT_NOT_SAVED = NotSaved.__new__(NotSaved)


def _not_saved_message(what: str) -> str:
    return (
        f"a gradient rule {what} a value it did not declare: of an undeclared input only its "
        "shape, ndim, dtype and size are kept, of an undeclared output nothing (g has its "
        "shape). Add the value's name to the rule's saves=(...) (see primitive.rule)."
    )
