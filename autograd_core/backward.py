"""The reverse pass: one walk over the recorded nodes in reverse topological order.

1. Start from the output's node with the seed gradient. Nodes are processed in the
   reverse of the order they were recorded (``Node.seq``, highest first, from a heap
   of the nodes that have received a gradient). Every consumer of a node was recorded
   after it, so a node used several times (``b = a + a``) has its full gradient before
   it propagates; no recursion and no pre-pass, so a chain of a million operations is
   fine. Processing a node applies its primitive's rule for every input that needs a
   gradient, undoes broadcasting, and checks shape and dtype.
2. Only when the whole pass succeeded are gradients written to ``.grad`` and the
   saved values freed: a failed backward leaves every ``.grad`` as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import grad_mode
from .broadcasting import sum_to_shape
from .errors import BackwardError, InplaceError, ShapeError
from .tensor import Node, Tensor, _result


@dataclasses.dataclass
class BackwardStep:
    """One node processed by a traced backward pass (see ``trace_backward``)."""

    node: Node
    grad: Any                       # d(final)/d(this node's output), after hooks
    input_grads: tuple[Any, ...]    # what was sent to each input (None: no gradient needed)


class BackwardTrace:
    """The nodes a backward pass visited, in the order it visited them."""

    def __init__(self) -> None:
        self.steps: list[BackwardStep] = []

    @property
    def order(self) -> list[Node]:
        return [step.node for step in self.steps]

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


_tracers: list[BackwardTrace] = []

# Set by detect_anomaly(): a function(node, index, grad) called on every computed gradient.
anomaly_check: Any | None = None


@contextlib.contextmanager
def trace_backward() -> Iterator[BackwardTrace]:
    """Record every node that backward passes inside the block visit, with its gradients::

        with trace_backward() as trace:
            loss.backward()
        [step.node.label for step in trace]   # the engine's real order
    """
    trace = BackwardTrace()
    _tracers.append(trace)
    try:
        yield trace
    finally:
        _tracers.remove(trace)


def backward(tensor: Tensor, gradient: Any = None, retain_graph: bool = False,
             create_graph: bool = False) -> None:
    """``tensor.backward(...)``: accumulate gradients into ``.grad`` of the leaves."""
    root = _root_node(tensor)
    seed = _seed(tensor, gradient, create_graph)
    filled, filled_grads, _ = _run([(root, seed)], retain_graph or create_graph, create_graph,
                                   wanted=None)
    for index in range(len(filled)):
        node, grad = filled[index], filled_grads[index]
        target = node.tensor_ref()          # filled only holds nodes with a tensor_ref
        if target is None:
            continue
        if not create_graph and target.grad is None and not _owned(grad, target):
            # The rules may pass one array to several inputs (add returns g itself), return
            # read-only broadcast views, or hand back the user's own seed: such a .grad gets
            # an array of its own. A fresh array nobody else holds is kept as it is.
            grad = np.array(grad, dtype=target.data.dtype, copy=True)
        target.grad = grad if target.grad is None else target.grad + grad


# References to a gradient seen from _owned(): its entry in the list of filled gradients,
# backward()'s loop variable, _owned's argument and getrefcount's own. One more means
# someone else (another .grad, the caller's seed, a hook's closure, a trace) holds it.
_UNSHARED_REFCOUNT = 4
# References to a view's base seen from _owned(): the view's, the local name and getrefcount's.
_UNSHARED_BASE_REFCOUNT = 3
# The counts above hold for CPython up to 3.13. From 3.14 the interpreter may borrow
# references without counting them, so a shared array could look unshared: copy always.
_REFCOUNTS_CALIBRATED = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def _owned(grad: Any, target: Tensor) -> bool:
    """True when ``grad`` can become ``target.grad`` without a copy (issue 5).

    Copying W's 30×784 gradient cost about 10 µs of a 130 µs training step. The array
    must be a writable ndarray owning its memory (not a view, not a numpy scalar), of
    the tensor's dtype, and referenced from nowhere else: reference counting tells us
    (CPython), so an array handed to two leaves or still held by the caller is copied.
    """
    if (not _REFCOUNTS_CALIBRATED or type(grad) is not np.ndarray or not grad.flags.writeable
            or grad.dtype != target.data.dtype or sys.getrefcount(grad) > _UNSHARED_REFCOUNT):
        return False
    base = grad.base
    # A view is owned when it covers the whole of a base array that only it references:
    # matmul's rule returns W's gradient as the transpose of a fresh product (x̄ᵀ layout).
    return base is None or (type(base) is np.ndarray and base.size == grad.size
                            and sys.getrefcount(base) <= _UNSHARED_BASE_REFCOUNT)


def gradients(outputs: Any, inputs: Any, grad_outputs: Any = None,
              retain_graph: bool | None = None, create_graph: bool = False) -> tuple:
    """d(outputs)/d(inputs), returned rather than accumulated into ``.grad`` (torch.autograd.grad).

    ``outputs`` is a tensor or a sequence of tensors, each with an optional seed in
    ``grad_outputs``; ``inputs`` are tensors that require grad. Returns one gradient per
    input: numpy arrays, or Tensors that can be differentiated again when
    ``create_graph``. An input the outputs do not depend on gets zeros.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    roots = [(_root_node(out), _seed(out, seed, create_graph))
             for out, seed in zip(outputs, grad_outputs)]
    wanted = {}
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, Tensor) or tensor._node is None:
            raise BackwardError(
                f"gradients(): input {position} does not require grad, so no gradient can be "
                "taken with respect to it. Create it with requires_grad=True."
            )
        wanted[tensor._node] = None
    keep = create_graph if retain_graph is None else retain_graph
    _, _, found = _run(roots, keep, create_graph, wanted=wanted)
    result = []
    for tensor in inputs:
        grad = found.get(tensor._node)
        if grad is None:
            zeros = np.zeros_like(tensor.data)
            grad = Tensor(zeros) if create_graph else zeros
        elif not create_graph:
            # As in backward(): an array of its own for each input (a rule may return the seed
            # itself, one array for several inputs, a read-only view, or a 0-d numpy scalar).
            grad = np.array(grad, dtype=tensor.data.dtype, copy=True)
        result.append(grad)
    return result[0] if single else tuple(result)


def _root_node(tensor: Tensor) -> Node:
    node = tensor._node
    if node is None:
        raise BackwardError(
            f"backward() on a tensor of shape {tensor.shape} that does not require grad: no "
            "recorded operation leads to it from a tensor with requires_grad=True. Create the "
            "parameters with requires_grad=True, and do not compute the output inside no_grad()."
        )
    return node


def _seed(tensor: Tensor, gradient: Any, create_graph: bool) -> Any:
    if gradient is None:
        if tensor.data.size != 1:
            raise BackwardError(
                f"backward() without a gradient is only defined for scalar outputs (one element), "
                f"but this tensor has shape {tensor.shape}. Reduce it first (.sum() or .mean()), "
                f"or pass gradient=, an array of shape {tensor.shape} holding d(final)/d(tensor)."
            )
        data = tensor.data
        # np.array(1, dtype) is about 6x cheaper than np.ones_like for the usual 0-d loss.
        seed = np.array(1, dtype=data.dtype) if data.ndim == 0 else np.ones_like(data)
    else:
        seed = gradient if (create_graph and isinstance(gradient, Tensor)) else (
            np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient))
        if tuple(seed.shape) != tensor.shape:
            raise BackwardError(
                f"backward(): gradient has shape {tuple(seed.shape)} but the tensor has shape "
                f"{tensor.shape}; the gradient must have exactly the tensor's shape."
            )
        if seed.dtype != tensor.dtype:
            seed = seed.astype(tensor.dtype)
    if create_graph and not isinstance(seed, Tensor):
        seed = Tensor(seed)
    return seed


def _run(roots: list, retain_graph: bool, create_graph: bool, wanted: dict | None) -> tuple:
    """The backward loop. Returns (nodes to fill, their gradients, wanted gradients)."""
    # Gradients waiting to be propagated, and a heap of their nodes' -seq: the most
    # recently recorded node comes out first. All consumers of a node were recorded after
    # it, so when a node comes out every contribution to its gradient has arrived (no
    # pre-pass counting consumers is needed, and the order is the tape's, reversed). The
    # heap holds plain ints and `waiting` maps them back to nodes: no tuple per node, so
    # the pass allocates nothing the garbage collector tracks, and a collection never
    # starts in the middle of it to traverse the whole graph (issue 5, scenario 7).
    grads: dict[Node, Any] = {}
    waiting: dict[int, Node] = {}
    ready: list[int] = []
    for node, seed in roots:
        if node in grads:
            grads[node] = grads[node] + seed
        else:
            grads[node] = seed
            waiting[node.seq] = node
            heappush(ready, -node.seq)
    visited: list[Node] = []
    # The nodes whose tensors get a .grad and, at the same positions, their gradients: two
    # lists rather than a list of pairs, so that a pass over a graph with many leaves does
    # not build one GC-tracked tuple per leaf (they could trigger a full collection).
    filled: list[Node] = []
    filled_grads: list[Any] = []
    trace = _tracers[-1] if _tracers else None
    check = anomaly_check
    state = grad_mode._state
    previous_mode = state.enabled
    state.enabled = create_graph
    try:
        while ready:
            node = waiting.pop(-heappop(ready))
            g = grads.pop(node)
            op = node.op
            if op is None:      # only a root can be a leaf here: other leaves wait (below)
                _arrive_at_leaf(node, g, wanted, filled, filled_grads, trace)
                continue
            if node.hooks:
                g = _run_hooks(node, g)
            visited.append(node)
            if wanted is not None and node in wanted:
                wanted[node] = g
            if node.tensor_ref is not None:
                filled.append(node)
                filled_grads.append(g)
            saved = node.saved
            if saved is None:
                raise _released_error(node)
            # The version check, inlined (it runs for every node): _check_versions raises.
            versions, inputs = node.versions, node.inputs
            for index in op.reads_inputs:
                value = inputs[index]
                if isinstance(value, Tensor) and value._version != versions[index]:
                    _check_versions(node)
            if node.out_version is not None:
                _check_versions(node)
            params = node.params
            vjps = op.vjps
            if create_graph:
                out, args = _as_tensors(node)
            else:
                out, args = node.out, saved
            sent = [] if trace is not None else None
            for index, parent in enumerate(node.parents):
                if parent is None:
                    if sent is not None:
                        sent.append(None)
                    continue
                # Most rules take no params: calling without ** is measurably cheaper.
                grad = vjps[index](g, out, *args, **params) if params else vjps[index](g, out, *args)
                value = saved[index]
                if grad.shape != value.shape or grad.dtype != value.dtype:
                    grad = _fit(grad, value, node, index)
                if check is not None:
                    check(node, index, grad)
                if sent is not None:
                    sent.append(grad)
                if parent in grads:
                    grads[parent] = grads[parent] + grad
                else:
                    grads[parent] = grad
                    if parent.op is not None:
                        waiting[parent.seq] = parent
                        heappush(ready, -parent.seq)
            if trace is not None:
                trace.steps.append(BackwardStep(node, g, tuple(sent)))
        # What is left are the leaves: they propagate nothing, so they go through no heap
        # and are finished once every operation has run, in the order gradients reached them.
        for node, g in grads.items():
            _arrive_at_leaf(node, g, wanted, filled, filled_grads, trace)
    finally:
        state.enabled = previous_mode
    if not retain_graph:
        for node in visited:
            node.saved = node.inputs = node.out = node.versions = None
    return filled, filled_grads, wanted if wanted is not None else {}


def _arrive_at_leaf(node: Node, g: Any, wanted: dict | None, filled: list, filled_grads: list,
                    trace: Any) -> None:
    if node.hooks:
        g = _run_hooks(node, g)
    if wanted is not None and node in wanted:
        wanted[node] = g
    if node.tensor_ref is not None:
        filled.append(node)
        filled_grads.append(g)
    if trace is not None:
        trace.steps.append(BackwardStep(node, g, ()))


def _run_hooks(node: Node, g: Any) -> Any:
    for hook in list(node.hooks):
        replaced = hook(g)
        if replaced is not None:
            if tuple(np.shape(replaced)) != tuple(g.shape):
                raise ShapeError(
                    f"a hook on {node.label} returned a gradient of shape "
                    f"{tuple(np.shape(replaced))}, expected {tuple(g.shape)}; a hook may "
                    "replace the gradient but not change its shape."
                )
            g = replaced
    return g


def _as_tensors(node: Node) -> tuple[Any, list]:
    """With create_graph, the rules receive tensors tied to the recorded graph."""
    out = _result(node.out, node)
    args = [_result(value, parent) if parent is not None else value
            for value, parent in zip(node.saved, node.parents)]
    return out, args


def _fit(grad: Any, value: Any, node: Node, index: int) -> Any:
    """Undo broadcasting and match the input's dtype; anything else is a broken rule."""
    shape = tuple(np.shape(value))
    if tuple(grad.shape) != shape:
        reduced = sum_to_shape(grad, shape)
        if reduced is None:
            raise ShapeError(
                f"the gradient rule of '{node.op.name}' for input {index} returned shape "
                f"{tuple(grad.shape)}, which cannot be reduced to the input's shape {shape}. "
                "The rule is wrong: it must return an array that broadcasts to the input."
            )
        grad = reduced
    dtype = np.result_type(value)
    if grad.dtype != dtype:
        if np.dtype(grad.dtype).kind not in "fc":
            raise ShapeError(
                f"the gradient rule of '{node.op.name}' for input {index} returned dtype "
                f"{grad.dtype} for an input of dtype {dtype}; gradients must be floating point."
            )
        grad = grad.astype(dtype)
    return grad


def _check_versions(node: Node) -> None:
    op = node.op
    if node.out_version is not None and op.reads_out:
        raise InplaceError(
            f"one of the values needed for gradient computation has been modified by an "
            f"in-place operation: the output of '{op.name}' is at version {node.out_version}; "
            f"expected version 0. Compute it out of place (y = y + 1 instead of y += 1), or "
            f"clone it before modifying."
        )
    inputs, versions = node.inputs, node.versions
    for index in op.reads_inputs:
        tensor = inputs[index]
        if isinstance(tensor, Tensor) and tensor._version != versions[index]:
            name = f" '{tensor.name}'" if tensor.name else ""
            raise InplaceError(
                f"one of the values needed for gradient computation has been modified by an "
                f"in-place operation: input {index}{name} of '{op.name}' (shape {tensor.shape}) "
                f"is at version {tensor._version}; expected version {versions[index]}. Modify a "
                "copy instead, or move the in-place update after backward()."
            )


def _released_error(node: Node) -> BackwardError:
    return BackwardError(
        f"trying to backward through the graph a second time: the values saved by "
        f"'{node.op.name}' were freed after the first backward(). Pass retain_graph=True to "
        "the first backward() if you need to run backward twice, or recompute the forward pass."
    )
