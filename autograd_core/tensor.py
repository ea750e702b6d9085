"""``Tensor``: a numpy array that remembers how it was computed.

A tensor holds its values (``data``, a numpy array), its gradient once a backward
pass has run (``grad``), its place on the tape (``node``: the operation that made
it, or a leaf node when the user created it with ``requires_grad=True``), its name,
its hooks, and a version counter that in-place writes advance.

This file is the Tensor class and its bookkeeping (the result tensors that operations
create, the version history that in-place writes advance). Its operators (``+``,
``@``...), its methods (``.exp()``, ``.sum()``...) and ``.backward()`` are calls into
the rules table and the backward pass, which are built on this class, so they are
attached one layer up, in ``tensor_methods.py``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from . import grad_mode, observe
from .errors import AutogradError
from .node import NO_PARAMS, Node

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence[Any]]


class Tensor:
    """A numpy array with an optional gradient and a record of the operations that made it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``: ``data`` may be a numpy
    array (shared, not copied, when the dtype already matches), a number or a nested
    list (converted to float64). Only floating-point tensors can require grad. After
    ``backward()``, ``.grad`` holds a numpy array of exactly ``data``'s shape and dtype.

    Like numpy, operations follow IEEE arithmetic: ``log(0)`` gives ``-inf`` and ``0/0``
    gives NaN with numpy's warning, not an exception; ``detect_anomaly()`` finds where.
    """

    # _aliases: None, or the group of tensors sharing this one's memory (see share_versions);
    # _view_of: None, or the ViewOrigin of a view made by an operation (x.T, x[1:3])
    __slots__ = ("data", "grad", "_node", "_version", "_name", "_aliases", "_view_of", "__weakref__")

    # Make numpy defer to Tensor in mixed expressions (array * tensor, np.exp(tensor)).
    __array_priority__ = 1000

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = _as_array(data, dtype)
        self.grad: np.ndarray | None = None
        self._node: Node | None = None
        self._version = 0
        self._name = name
        self._aliases: list | None = None
        self._view_of: ViewOrigin | None = None
        if isinstance(data, Tensor) and self.data is data.data:
            share_versions(self, (data,))   # Tensor(t) without a copy is an alias of t
        if requires_grad:
            self.requires_grad_(True)

    # ----------------------------------------------------------------- the graph
    def current_node(self) -> Node | None:
        """This tensor's node, made again first if it is a view whose base was changed by a
        recorded in-place write (see ``follow_base``)."""
        if self._view_of is not None and self._view_of.stale:
            follow_base(self)
        return self._node

    @property
    def requires_grad(self) -> bool:
        return self.current_node() is not None

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) tracking operations on this leaf tensor. Returns self."""
        if not self.is_leaf:
            if requires_grad:
                return self
            raise AutogradError(
                "requires_grad can only be changed on leaf tensors; this one was computed by "
                f"'{self._node.op.name}'. Use .detach() to get a tensor outside the graph."
            )
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self.data.dtype} "
                f"(shape {self.shape}). Use Tensor(data, dtype=np.float64, requires_grad=True)."
            )
        if requires_grad and self._node is None:
            leaf = Node(None, (), (), None, (), NO_PARAMS)
            leaf.tensor_ref = weakref.ref(self)
            leaf.name = self._name
            self._node = leaf
        elif not requires_grad:
            self._node = None
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (not computed by a recorded operation)."""
        node = self.current_node()
        return node is None or node.op is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that computed this tensor, or None for a leaf."""
        node = self.current_node()
        return node if node is not None and node.op is not None else None

    @property
    def node(self) -> Node | None:
        """This tensor's place on the tape (a leaf node for leaves that require grad)."""
        return self.current_node()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, outside the graph (requires no grad).

        It shares the version history too: writing into it in place makes a backward
        pass that needs this tensor's old values raise, as in PyTorch.
        """
        alias = result_tensor(self.data, None)
        share_versions(alias, (self,))
        return alias

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        node = self.current_node()
        if node is None:
            raise AutogradError(
                "retain_grad() on a tensor that does not require grad: no gradient will reach it."
            )
        if node.tensor_ref is None:
            node.tensor_ref = weakref.ref(self)
        return self

    def register_hook(self, hook: Callable[[Any], Any]) -> RemovableHandle:
        """Call ``hook(grad)`` when backward computes this tensor's gradient.

        The hook may return a replacement gradient (same shape) or None to keep it.
        Returns a handle whose ``remove()`` unregisters the hook.
        """
        node = self.current_node()
        if node is None:
            raise AutogradError(
                "cannot register a hook on a tensor that does not require grad; "
                "create it with requires_grad=True or call requires_grad_() first."
            )
        if node.hooks is None:
            node.hooks = []
        node.hooks.append(hook)
        return RemovableHandle(node.hooks, hook)

    # --------------------------------------------------------------- the values
    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self._node is not None:
            self._node.name = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def version(self) -> int:
        """How many in-place operations have modified this tensor."""
        return self._version

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with exactly one element, this one has shape {self.shape}; "
                "reduce it first (for example .sum() or .mean())."
            )
        _refuse_reading_values("t.item()", self.shape)
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not a copy)."""
        _refuse_reading_values("t.numpy()", self.shape)
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        _refuse_reading_values("np.asarray(t)", self.shape)
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        _refuse_reading_values("bool(t) (an if or while on a tensor's value)", self.shape)
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    # Comparisons are not differentiable: they return plain boolean numpy arrays.
    def __lt__(self, other: Any) -> np.ndarray:
        _refuse_reading_values("t < ...", self.shape)
        return self.data < value_of(other)

    def __le__(self, other: Any) -> np.ndarray:
        _refuse_reading_values("t <= ...", self.shape)
        return self.data <= value_of(other)

    def __gt__(self, other: Any) -> np.ndarray:
        _refuse_reading_values("t > ...", self.shape)
        return self.data > value_of(other)

    def __ge__(self, other: Any) -> np.ndarray:
        _refuse_reading_values("t >= ...", self.shape)
        return self.data >= value_of(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        _refuse_reading_values("t == ...", self.shape)
        return self.data == value_of(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        _refuse_reading_values("t != ...", self.shape)
        return self.data != value_of(other)

    # Tensors are hashed by identity (as in PyTorch), so they can key dicts and sets.
    __hash__ = object.__hash__

    def __reduce__(self) -> tuple:
        """Pickling, ``copy.copy`` and ``copy.deepcopy``: the values, the name and ``requires_grad``.

        Never the graph, the gradient or the memory shared with other tensors (as in
        PyTorch). A tensor computed by a recorded operation cannot be pickled: its graph
        would be lost silently, so pickle ``t.detach()`` to save the values alone.
        """
        node = self._node
        if node is not None and node.op is not None:
            raise AutogradError(
                f"cannot pickle or deepcopy a tensor computed by '{node.op.name}' (shape "
                f"{self.shape}): its graph cannot be saved. Pickle t.detach() for its values, "
                "or the leaf tensors it was computed from."
            )
        # A subclass's own attributes (nn.Parameter's decay), in pickle's (dict, slots) form.
        slots = {}
        for klass in type(self).__mro__:
            if klass is Tensor:
                break
            for slot in getattr(klass, "__slots__", ()):
                if hasattr(self, slot):
                    slots[slot] = getattr(self, slot)
        state = (getattr(self, "__dict__", None) or None, slots or None)
        # A copy of the array, so that copy.copy(t) is independent too, as for numpy arrays.
        return (_rebuild, (type(self), self.data.copy(), node is not None, self._name),
                state if state != (None, None) else None)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", threshold=20)
        extras = []
        if self._name:
            extras.append(f"name={self._name!r}")
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self._node.op.name}>")
        elif self._node is not None:
            extras.append("requires_grad=True")
        return "Tensor(" + body + "".join(", " + e for e in extras) + ")"


def result_tensor(data: np.ndarray, node: Node | None) -> Tensor:
    """The tensor holding an operation's result: ``data`` (already validated) and its node.

    Every recorded operation ends here, so it skips ``__init__``'s checks and conversions.
    """
    tensor = object.__new__(Tensor)
    tensor.data = data
    tensor.grad = None
    tensor._node = node
    tensor._version = 0
    tensor._name = None
    tensor._aliases = None
    tensor._view_of = None
    return tensor


def value_of(x: Any) -> Any:
    """The numpy value of a Tensor; anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """Validate and convert constructor input; python numbers and lists become float64."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise TypeError(
                f"Tensor data must be a rectangular array of numbers; could not convert "
                f"{type(data).__name__} ({exc}). Make every row the same length, or pad it."
            ) from None
        if array.dtype.kind in "iu":
            array = array.astype(np.float64)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Tensor data must be numeric (bool, integer or floating point), got dtype "
            f"{array.dtype} from {type(data).__name__}. Convert strings or objects to numbers first."
        )
    if dtype is not None:
        array = array.astype(np.dtype(dtype), copy=False)
    return array


def _rebuild(cls: type, data: np.ndarray, requires_grad: bool, name: str | None) -> Tensor:
    """Unpickle a tensor (see ``Tensor.__reduce__``), of its own class (nn.Parameter too)."""
    tensor = object.__new__(cls)
    Tensor.__init__(tensor, data, requires_grad=requires_grad, name=name)
    return tensor


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable[..., Any]) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _refuse_reading_values(what: str, shape: tuple = ()) -> None:
    if not observe.state.observers:     # the usual case: no message to format
        return
    observe.refuse(f"{what} reads the value of a traced tensor of shape {shape}",
                   "Its result is a plain value that the program cannot follow: decide per element "
                   "with operations (maximum, minimum, clip, relu, abs) instead of a Python branch, "
                   "or pass the value as a static argument (jit(f, static_argnums=...)).")


# ------------------------------------------------------------------------ versions
# An in-place write advances a tensor's version; backward compares the versions of saved
# values with those at recording time. Tensors sharing memory share one history.

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
    if observe.state.observers:         # only then is a message formatted
        observe.refuse(f"an in-place write to a tensor of shape {tensor.shape}",
                       "Compute out of place (y = y + 1 rather than y += 1, y = where(...) rather "
                       "than y[mask] = ...).")
    tensor._version += 1
    # The node that produced this array saved it as `out`: note that it changed.
    node = tensor._node
    if node is not None and node.op is not None and node.out is tensor.data:
        node.out_version = tensor._version


class ViewOrigin:
    """How a view was made: ``op`` (a primitive) with ``params`` applied to ``parent``, whose
    node was ``parent_node`` then. When the parent's node has changed since (a recorded
    in-place write), the view's own node describes the old parent and is made again.

    ``kind`` says how it may follow: "recorded" (made with recording on: it follows its
    parent), "no_grad" (made inside ``no_grad``: a constant that shares memory, which
    never follows and may not be written with recording on, as in PyTorch), or "function"
    (a custom Function returned its input's memory: it cannot be made again without
    running user code, so reading it after its parent changed is refused).
    """

    __slots__ = ("parent", "op", "params", "parent_node", "kind")

    def __init__(self, parent: Tensor, op: Any, params: Any, kind: str = "recorded") -> None:
        self.parent = parent
        self.op = op
        self.params = params
        self.parent_node = parent._node
        self.kind = kind

    @property
    def stale(self) -> bool:
        """True when the parent, or any tensor up the chain of views, has a new node."""
        origin = self
        while origin is not None:           # a loop, not recursion: chains may be long
            if origin.kind == "no_grad":
                return False
            if origin.parent._node is not origin.parent_node:
                return True
            origin = origin.parent._view_of
        return False


def follow_base(view: Tensor) -> None:
    """Give a stale view a node made from its parent as it is now.

    ``c = a * 1; v = c[1:3]; c *= 2``: v's values changed with c's memory; from here on
    its node is that of (2c)[1:3] too. The view's operation is run again on the parent
    (``op`` is a primitive, so calling it records), with recording on even inside
    ``no_grad``: the view's graph must not be lost because it was read there. The stale
    views up the chain are made again first, from the top. A gradient kept by
    ``retain_grad()`` follows each to its new node.
    """
    chain = []
    while view._view_of is not None and view._view_of.stale:
        chain.append(view)
        view = view._view_of.parent
    for each in reversed(chain):            # the parent before the view made from it
        _remake(each)


def _remake(view: Tensor) -> None:
    origin = view._view_of
    if origin.kind == "function":
        raise AutogradError(
            f"a tensor that a custom Function ('{origin.op.name}') returned as a view of its input "
            "was read after that input was changed in place: it cannot be made again without "
            "running the Function. Return a copy from forward (x.copy()), or compute it again."
        )
    old = view._node
    previous = grad_mode.state.enabled
    grad_mode.state.enabled = True
    try:
        again = origin.op(origin.parent, **origin.params)
    finally:
        grad_mode.state.enabled = previous
    view._node = again._node
    view._view_of = again._view_of
    if old is not None and old.tensor_ref is not None and old.tensor_ref() is view \
            and again._node is not None:
        again._node.tensor_ref, old.tensor_ref = old.tensor_ref, None


def share_versions(alias: Tensor, sources: Any) -> list[Tensor]:
    """``alias`` shares memory with some of ``sources`` (a view, ``detach()``): one history.

    Tensors that share memory form a group (a list of weak references, held by each of
    them); a write into any of them is counted by all, as PyTorch's shared version
    counter does. So ``b.detach() += 1``, ``b[0:2] += 1`` under ``no_grad``, or ``b += 1``
    after a view of ``b`` was saved, all make the backward pass that needs the old values
    raise instead of using the new ones. Only views and aliases pay for this: it runs when
    an operation's output is a view, not for ordinary results. Returns the sources that
    share the memory.
    """
    memory = alias.data.base
    sharing = []
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
            sharing.append(source)
    return sharing
