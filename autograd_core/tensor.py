"""``Tensor``: a numpy array that remembers how it was computed.

Each operation on tensors that require grad appends a ``Node`` to the tape: the
primitive that ran, the nodes of its inputs (its parents), the values its rules
will need, and its output. ``backward()`` (see ``backward.py``) walks those nodes
once in reverse topological order.

The engine knows no particular operation: ``record`` runs any ``Primitive`` from
the table in ``rules/``. Tensor's operators and methods are thin calls into that
table and into ``composites.py``.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import MappingProxyType
from typing import Any, Union

import numpy as np

from . import grad_mode
from .errors import AutogradError, forward_shape_error

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence[Any]]
_grad_state = grad_mode._state


class Node:
    """One recorded operation, or with ``op`` None, a leaf that accumulates into ``.grad``.

    This is what diagrams and the backward trace read: ``op`` (its ``name``, ``formula``
    and rules), ``parents`` (the input nodes, None for inputs that need no gradient),
    ``params`` (axis, shape, ...), ``name`` (the tensor's name, if it was given one),
    ``seq`` (its place in the order of recording: the tape's position).
    """

    __slots__ = (
        "op", "parents", "inputs", "saved", "versions", "out", "params", "seq",
        "name", "hooks", "tensor_ref", "out_version", "created_at", "__weakref__",
    )

    def __init__(self, op: Any, parents: tuple, inputs: tuple, saved: tuple,
                 versions: tuple, out: Any, params: dict) -> None:
        self.op = op
        self.parents = parents
        # The operands as given (Tensors or constants) and their in-place version counters at
        # recording time, kept only for the version check of inputs whose values some rule
        # reads. Otherwise both are None, so that intermediate Tensors are freed at once
        # instead of living on in the graph, where Python's garbage collector would traverse
        # them again and again (issue 5). (Views share versions with their base directly:
        # inplace.share_versions.)
        if op is None or op.reads_inputs:
            self.inputs = inputs
            self.versions = versions
        else:
            self.inputs = self.versions = None
        self.saved = saved        # the operands' values at recording time: what the rules receive
        self.out = out
        self.params = params
        # A node is always created after the nodes of its inputs, so processing nodes from
        # the highest seq down is a reverse topological order (backward.py relies on it).
        self.seq = _next_seq()
        self.name = None
        self.hooks = None         # functions of the gradient, run when backward reaches here
        self.tensor_ref = None    # weak reference to the tensor whose .grad this node fills
        self.out_version = None   # set when the output was later modified in place
        self.created_at = None    # source location, recorded under detect_anomaly()

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def released(self) -> bool:
        """True once a backward pass without retain_graph has freed the saved values."""
        return self.op is not None and self.saved is None

    @property
    def tensor(self) -> Tensor | None:
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


# One counter for the whole process: the order in which nodes were recorded.
_next_seq = itertools.count().__next__


def _leaf_node(tensor: Tensor) -> Node:
    node = Node(None, (), (), (), (), None, {})
    node.tensor_ref = weakref.ref(tensor)
    node.name = tensor._name
    return node


# The params of every operation called without keyword parameters: one shared, read-only
# mapping instead of a fresh dict per recorded operation.
NO_PARAMS: Any = MappingProxyType({})


def record(op: Any, inputs: tuple, params: Any) -> Tensor:
    """Run primitive ``op`` forward on ``inputs`` and, when needed, put a Node on the tape.

    This is the only place where operations are recorded: everything a diagram or a
    backward pass needs is stored here, and nothing is kept when no input requires
    grad or recording is off (``no_grad``).
    """
    vjps = op.vjps
    if len(inputs) == 2:
        # Binary operations, unrolled: most of a scalar chain's recording is this function,
        # and the unrolled form measured 1.60 -> 1.37 µs for `y * w` on scalars (issue 5).
        x, y = inputs
        if isinstance(x, Tensor):
            x_data, x_version, x_parent = x.data, x._version, x._node
            if vjps[0] is None:
                x_parent = None
        else:
            x_data, x_version, x_parent = x, 0, None
        if isinstance(y, Tensor):
            y_data, y_version, y_parent = y.data, y._version, y._node
            if vjps[1] is None:
                y_parent = None
        else:
            y_data, y_version, y_parent = y, 0, None
        try:
            out = op.forward(x_data, y_data, **params) if params else op.forward(x_data, y_data)
        except ValueError as exc:
            raise forward_shape_error(op.name, (x_data, y_data), exc) from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if (x_parent is not None or y_parent is not None) and _grad_state.enabled:
            node = Node(op, (x_parent, y_parent), inputs, (x_data, y_data), (x_version, y_version),
                        out, params)
        else:
            node = None
        result = _result(out, node)
        if out.base is not None:        # a view (x.T, x[1:3]): share the operand's versions
            share_versions(result, inputs)
        return result
    if len(inputs) == 1:
        # Unary operations, unrolled for the same reason.
        (x,) = inputs
        if isinstance(x, Tensor):
            x_data, x_version, x_parent = x.data, x._version, x._node
            if vjps[0] is None:
                x_parent = None
        else:
            x_data, x_version, x_parent = x, 0, None
        try:
            out = op.forward(x_data, **params) if params else op.forward(x_data)
        except ValueError as exc:
            raise forward_shape_error(op.name, (x_data,), exc) from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if x_parent is not None and _grad_state.enabled:
            node = Node(op, (x_parent,), inputs, (x_data,), (x_version,), out, params)
        else:
            node = None
        result = _result(out, node)
        if out.base is not None:
            share_versions(result, inputs)
        return result
    saved = []
    parents = []
    versions = []
    needs_graph = False
    for index, value in enumerate(inputs):
        if isinstance(value, Tensor):
            saved.append(value.data)
            versions.append(value._version)
            node = value._node
            if node is not None and vjps[index] is not None:
                needs_graph = True
                parents.append(node)
            else:
                parents.append(None)
        else:
            saved.append(value)
            versions.append(0)
            parents.append(None)
    try:
        # Without ** when there are no params: most operations have none (issue 5).
        out = op.forward(*saved, **params) if params else op.forward(*saved)
    except ValueError as exc:
        raise forward_shape_error(op.name, saved, exc) from None
    if type(out) is not np.ndarray:
        # numpy returns scalars (np.float64) from 0-d operations; keep .data an array.
        out = np.asarray(out)
    if needs_graph and _grad_state.enabled:
        node = Node(op, tuple(parents), inputs, tuple(saved), tuple(versions), out, params)
    else:
        node = None
    result = _result(out, node)
    if out.base is not None:
        share_versions(result, inputs)
    return result


def _result(data: np.ndarray, node: Node | None) -> Tensor:
    # The hot path for every operation's output: skip __init__'s validation.
    tensor = object.__new__(Tensor)
    tensor.data = data
    tensor.grad = None
    tensor._node = node
    tensor._version = 0
    tensor._name = None
    tensor._aliases = None
    return tensor


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


class Tensor:
    """A numpy array with an optional gradient and a record of the operations that made it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``: ``data`` may be a numpy
    array (shared, not copied, when the dtype already matches), a number or a nested
    list (converted to float64). Only floating-point tensors can require grad. After
    ``backward()``, ``.grad`` holds a numpy array of exactly ``data``'s shape and dtype.

    Like numpy, operations follow IEEE arithmetic: ``log(0)`` gives ``-inf`` and ``0/0``
    gives NaN with numpy's warning, not an exception; ``detect_anomaly()`` finds where.
    """

    # _aliases: None, or the group of tensors sharing this one's memory (inplace.share_versions)
    __slots__ = ("data", "grad", "_node", "_version", "_name", "_aliases", "__weakref__")

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
        if isinstance(data, Tensor) and self.data is data.data:
            share_versions(self, (data,))   # Tensor(t) without a copy is an alias of t
        if requires_grad:
            self.requires_grad_(True)

    # ----------------------------------------------------------------- attributes
    @property
    def requires_grad(self) -> bool:
        return self._node is not None

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
            self._node = _leaf_node(self)
        elif not requires_grad:
            self._node = None
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (not computed by a recorded operation)."""
        return self._node is None or self._node.op is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that computed this tensor, or None for a leaf."""
        node = self._node
        return node if node is not None and node.op is not None else None

    @property
    def node(self) -> Node | None:
        """This tensor's place on the tape (a leaf node for leaves that require grad)."""
        return self._node

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

    @property
    def T(self) -> Tensor:
        return transpose(self)

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with exactly one element, this one has shape {self.shape}; "
                "reduce it first (for example .sum() or .mean())."
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not a copy)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, outside the graph (requires no grad).

        It shares the version history too: writing into it in place makes a backward
        pass that needs this tensor's old values raise, as in PyTorch.
        """
        alias = _result(self.data, None)
        share_versions(alias, (self,))
        return alias

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        node = self._node
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
        node = self._node
        if node is None:
            raise AutogradError(
                "cannot register a hook on a tensor that does not require grad; "
                "create it with requires_grad=True or call requires_grad_() first."
            )
        if node.hooks is None:
            node.hooks = []
        node.hooks.append(hook)
        return RemovableHandle(node.hooks, hook)

    def backward(self, gradient: Any = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is the seed (d final / d self), required unless self has one element.
        The graph's saved values are freed afterwards unless ``retain_graph``; with
        ``create_graph`` the backward pass is itself recorded, so the resulting ``.grad``
        are Tensors that can be differentiated again.
        """
        _backward.backward(self, gradient, retain_graph, create_graph)

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

    # ------------------------------------------------------------------ arithmetic
    # Operators call record() directly rather than through Primitive.__call__: one call
    # and one packing of *args/**params less on the hottest path (issue 5).
    def __add__(self, other: Any) -> Tensor:
        return record(add, (self, other), NO_PARAMS)

    def __radd__(self, other: Any) -> Tensor:
        return record(add, (other, self), NO_PARAMS)

    def __sub__(self, other: Any) -> Tensor:
        return record(sub, (self, other), NO_PARAMS)

    def __rsub__(self, other: Any) -> Tensor:
        return record(sub, (other, self), NO_PARAMS)

    def __mul__(self, other: Any) -> Tensor:
        return record(mul, (self, other), NO_PARAMS)

    def __rmul__(self, other: Any) -> Tensor:
        return record(mul, (other, self), NO_PARAMS)

    def __truediv__(self, other: Any) -> Tensor:
        return record(div, (self, other), NO_PARAMS)

    def __rtruediv__(self, other: Any) -> Tensor:
        return record(div, (other, self), NO_PARAMS)

    def __pow__(self, other: Any) -> Tensor:
        return record(power, (self, other), NO_PARAMS)

    def __rpow__(self, other: Any) -> Tensor:
        return record(power, (other, self), NO_PARAMS)

    def __matmul__(self, other: Any) -> Tensor:
        return record(matmul, (self, other), NO_PARAMS)

    def __rmatmul__(self, other: Any) -> Tensor:
        return record(matmul, (other, self), NO_PARAMS)

    def __neg__(self) -> Tensor:
        return record(neg, (self,), NO_PARAMS)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return absolute(self)

    # In-place forms write into this tensor's array (see inplace.py for the rules).
    def __iadd__(self, other: Any) -> Tensor:
        return inplace_apply(self, add, other)

    def __isub__(self, other: Any) -> Tensor:
        return inplace_apply(self, sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return inplace_apply(self, mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return inplace_apply(self, div, other)

    def __getitem__(self, index: Any) -> Tensor:
        return getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        inplace_setitem(self, index, value)

    # Comparisons are not differentiable: they return plain boolean numpy arrays.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _value(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _value(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _value(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _value(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data == _value(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data != _value(other)

    # Tensors are hashed by identity (as in PyTorch), so they can key dicts and sets.
    __hash__ = object.__hash__

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for index in range(len(self.data)):
            yield self[index]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    # --------------------------------------------------------------------- methods
    def exp(self) -> Tensor:
        return record(exp, (self,), NO_PARAMS)

    def log(self) -> Tensor:
        return record(log, (self,), NO_PARAMS)

    def sqrt(self) -> Tensor:
        return record(sqrt, (self,), NO_PARAMS)

    def sin(self) -> Tensor:
        return record(sin, (self,), NO_PARAMS)

    def cos(self) -> Tensor:
        return record(cos, (self,), NO_PARAMS)

    def tanh(self) -> Tensor:
        return record(tanh, (self,), NO_PARAMS)

    def sigmoid(self) -> Tensor:
        return record(sigmoid, (self,), NO_PARAMS)

    def relu(self) -> Tensor:
        return record(relu, (self,), NO_PARAMS)

    def abs(self) -> Tensor:
        return absolute(self)

    def clip(self, a_min: Any = None, a_max: Any = None) -> Tensor:
        return clip(self, a_min, a_max)

    def maximum(self, other: Any) -> Tensor:
        return maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``where(condition, self, other)``, as PyTorch's ``Tensor.where``."""
        return where(condition, self, other)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tensor_sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tensor_max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tensor_min(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            # numpy's forms: t.transpose((1, 0)), and t.transpose(None) to reverse the axes.
            axes = tuple(axes[0]) if axes[0] is not None else ()
        return transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return swapaxes(self, axis1, axis2)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return broadcast_to(self, shape)

    def squeeze(self, axis: Any = None) -> Tensor:
        return squeeze(self, axis)

    def expand_dims(self, axis: Any) -> Tensor:
        return expand_dims(self, axis)

    def concatenate(self, others: Sequence[Any], axis: int = 0) -> Tensor:
        return concatenate([self, *others], axis=axis)

    def stack(self, others: Sequence[Any], axis: int = 0) -> Tensor:
        return stack([self, *others], axis=axis)

    def matmul(self, other: Any) -> Tensor:
        return matmul(self, other)

    def softmax(self, axis: int = -1) -> Tensor:
        return softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return log_softmax(self, axis=axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return logsumexp(self, axis=axis, keepdims=keepdims)

    def astype(self, dtype: Any) -> Tensor:
        return astype(self, dtype)

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
        handler = UFUNC_HANDLERS.get(ufunc)
        if handler is None:
            return _unsupported(f"numpy.{ufunc.__name__}")
        if ufunc in _COMPARISONS:
            return ufunc(*[_value(v) for v in inputs], **kwargs)
        return handler(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = FUNCTION_HANDLERS.get(func)
        if handler is None:
            return _unsupported(f"numpy.{func.__name__}")
        return handler(*args, **kwargs)


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


def _value(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _unsupported(what: str) -> Any:
    raise TypeError(
        f"{what} is not supported on Tensor: no gradient rule is registered for it. "
        "Use tensor.data for a non-differentiable numpy value, compose it from supported "
        "operations, or define it with autograd_core.Function."
    )


def to_tensor(value: Any) -> Tensor:
    """Wrap a constant as a Tensor (which requires no grad); tensors pass through."""
    return value if isinstance(value, Tensor) else Tensor(value)


# The operations are defined in the rules table and in composites.py, which build on
# this module; they are imported last so that those modules can import Tensor.
from . import backward as _backward  # noqa: E402
from .inplace import inplace_apply, inplace_setitem, share_versions  # noqa: E402
from .ops import (  # noqa: E402
    _COMPARISONS,
    FUNCTION_HANDLERS,
    UFUNC_HANDLERS,
    absolute,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    div,
    exp,
    expand_dims,
    getitem,
    log,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    power,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    swapaxes,
    tanh,
    tensor_max,
    tensor_min,
    tensor_sum,
    transpose,
    where,
)
