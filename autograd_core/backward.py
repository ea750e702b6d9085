"""The reverse pass: one walk over the recorded nodes in reverse topological order.

1. Start from the output's node with the seed gradient. Nodes are processed in the
   reverse of the order they were recorded (``Node.seq``, highest first). Every
   consumer of a node was recorded after it, so a node used several times
   (``b = a + a``) has its full gradient before it propagates; no recursion and no
   pre-pass, so a chain of a million operations is fine.
2. Processing a node applies its primitive's rule for every input that needs a
   gradient, undoes broadcasting, and checks shape and dtype (``_apply_rules``).
3. Only when the whole pass succeeded are gradients written to ``.grad`` and the
   saved values freed: a failed backward leaves every ``.grad`` as it was.

The engine knows no particular operation: it calls ``node.op.vjps[i]``, whatever
primitive that is. See ``primitive.py`` for what a rule receives.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import anomaly, observe
from .broadcasting import sum_to_shape
from .errors import BackwardError, InplaceError, ShapeError
from .grad_mode import set_grad_enabled
from .node import OUTPUT_NOT_SAVED, Node
from .tensor import Tensor, result_tensor, share_versions


def backward(tensor: Tensor, gradient: Any = None, retain_graph: bool = False,
             create_graph: bool = False) -> None:
    """``tensor.backward(...)``: accumulate gradients into ``.grad`` of the leaves."""
    observe.refuse("loss.backward() fills .grad", "Return the loss and take its gradient with "
                 "grad() or value_and_grad() (jit(value_and_grad(f))), which return it.")
    roots = [(_root_node(tensor), _seed(tensor, gradient, create_graph))]
    arrivals = _run(roots, retain_graph or create_graph, create_graph, wanted=None)
    for node, grad in zip(arrivals.nodes_to_fill, arrivals.grads_to_fill):
        target = node.tensor_ref()     # the nodes to fill all have one
        if target is None:
            continue
        if target.grad is not None:
            target.grad = target.grad + grad
        elif create_graph:
            target.grad = grad
        else:
            # An array of its own: a rule may hand one array to several inputs (add returns
            # g itself), return a read-only broadcast view, or pass on the caller's seed.
            target.grad = np.array(grad, dtype=target.data.dtype, copy=True)


def gradients(outputs: Any, inputs: Any, grad_outputs: Any = None,
              retain_graph: bool | None = None, create_graph: bool = False) -> tuple:
    """d(outputs)/d(inputs), returned rather than accumulated into ``.grad`` (torch.autograd.grad).

    ``outputs`` is a tensor or a sequence of tensors, each with an optional seed in
    ``grad_outputs`` (one per output); ``inputs`` are tensors that require grad. Returns
    one gradient per input: numpy arrays, or Tensors that can be differentiated again
    when ``create_graph``. An input the outputs do not depend on gets zeros.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (list, tuple)):
        grad_outputs = list(grad_outputs)
    else:
        grad_outputs = [grad_outputs]           # one seed: an array, a Tensor or a number
    if len(grad_outputs) != len(outputs):
        raise BackwardError(
            f"gradients(): {len(outputs)} output(s) but {len(grad_outputs)} grad_outputs; give "
            "one seed per output, in the same order (None for a one-element output)."
        )
    roots = [(_root_node(out), _seed(out, seed, create_graph))
             for out, seed in zip(outputs, grad_outputs)]
    wanted: dict[Node, Any] = {}
    for position, tensor in enumerate(inputs):
        # _node, not current_node(): the input as the outputs used it, even a view whose
        # base has changed since (making it again would give a node the outputs never saw).
        if not isinstance(tensor, Tensor) or tensor._node is None:
            raise BackwardError(
                f"gradients(): input {position} does not require grad, so no gradient can be "
                "taken with respect to it. Create it with requires_grad=True."
            )
        wanted[tensor._node] = None
    keep = create_graph if retain_graph is None else retain_graph
    found = _run(roots, keep, create_graph, wanted=wanted).wanted
    result = []
    for tensor in inputs:
        grad = found.get(tensor._node)
        if grad is None:
            zeros = np.zeros_like(tensor.data)
            grad = Tensor(zeros) if create_graph else zeros
        elif not create_graph:
            grad = np.array(grad, dtype=tensor.data.dtype, copy=True)   # as in backward()
        result.append(grad)
    return result[0] if single else tuple(result)


# ------------------------------------------------------------------------ the loop
def _run(roots: list, retain_graph: bool, create_graph: bool, wanted: dict | None) -> Arrivals:
    """The backward loop: from the roots back to the leaves, each node once."""
    if not create_graph:
        # Its sums and copies would be plain numpy, out of the tracer's sight.
        observe.refuse("a backward pass on plain arrays", "Take gradients with grad(), "
                     "value_and_grad() or gradients(..., create_graph=True), which jit traces.")
    # grads: the gradient summed so far for each node that received some and is not done.
    # Operations wait in a heap of -seq (the latest recorded comes out first; plain ints,
    # nothing for the garbage collector to track). Leaves propagate nothing: they stay in
    # grads and are finished after every operation, in the order their gradients arrived.
    grads: dict[Node, Any] = {}
    heap: list[int] = []
    waiting: dict[int, Node] = {}
    for node, seed in roots:
        _add_gradient(node, seed, grads, heap, waiting)
    arrivals = Arrivals(wanted, _tracers[-1] if _tracers else None)
    check = anomaly.check_gradient if anomaly.state.enabled else None
    processed = []
    # With create_graph the rules' own operations are recorded (second derivatives).
    with set_grad_enabled(create_graph):
        while heap:
            node = waiting.pop(-heappop(heap))
            g = grads.pop(node)
            if node.hooks is not None or node.tensor_ref is not None or node in arrivals.wanted:
                g = arrivals.arrive(node, g)          # hooks, a retained .grad, a wanted input
            input_grads = _apply_rules(node, g, create_graph, check)
            processed.append(node)
            for parent, grad in zip(node.parents, input_grads):
                if parent is not None:
                    _add_gradient(parent, grad, grads, heap, waiting)
            if arrivals.trace is not None:
                arrivals.record_step(node, g, input_grads)
        for leaf, g in grads.items():                 # only leaves are left
            g = arrivals.arrive(leaf, g)
            if arrivals.trace is not None:
                arrivals.record_step(leaf, g, ())
    if not retain_graph:
        for node in processed:
            node.saved = node.out = node.watched = None
    return arrivals


def _add_gradient(node: Node, grad: Any, grads: dict, heap: list, waiting: dict) -> None:
    """One more contribution to ``node``'s gradient; an operation seen first joins the heap."""
    if node in grads:
        grads[node] = grads[node] + grad
    else:
        grads[node] = grad
        if node.op is not None:
            waiting[node.seq] = node
            heappush(heap, -node.seq)


def _apply_rules(node: Node, g: Any, create_graph: bool, check: Any) -> list:
    """One node's vector-Jacobian products: the gradient for each input that needs one."""
    saved = node.saved
    if saved is None:
        raise _released_error(node)
    if node.watched or node.out_version is not None:
        _check_versions(node)
    op, params = node.op, node.params
    if create_graph:
        out, args = _as_tensors(node)
    else:
        out, args = node.out, saved
    if out is None:
        out = OUTPUT_NOT_SAVED      # no rule in use declared "out" (g.shape is its shape)
    input_grads = []
    for index, parent in enumerate(node.parents):
        if parent is None:
            input_grads.append(None)
            continue
        vjp = op.vjps[index]
        if observe.state.observers:    # jit is tracing: this rule is one step of its program
            grad = observe.call_rule(vjp, (op, index), g, out, args, params)
        else:
            grad = vjp(g, out, *args, **params) if params else vjp(g, out, *args)
        value = saved[index]
        if grad.shape != value.shape or grad.dtype != value.dtype:
            grad = _fit(grad, value, node, index)
        if check is not None:
            check(node, index, grad)
        input_grads.append(grad)
    return input_grads


# --------------------------------------------------------- the steps around the loop
@dataclasses.dataclass
class BackwardStep:
    """One node processed by a traced backward pass (see ``trace_backward``)."""

    node: Node
    grad: Any                       # d(final)/d(this node's output), after hooks
    input_grads: tuple[Any, ...]    # what was sent to each input (None: no gradient needed)


class BackwardTrace:
    """The nodes a backward pass visited, in the order it visited them.

    ``run_hooks`` False: the pass leaves the user's hooks (``register_hook``) alone, so
    that looking at the gradients (a diagram) sets off nothing and sees the rules' own.
    """

    def __init__(self, run_hooks: bool = True) -> None:
        self.steps: list[BackwardStep] = []
        self.run_hooks = run_hooks

    @property
    def order(self) -> list[Node]:
        return [step.node for step in self.steps]

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


_tracers: list[BackwardTrace] = []


@contextlib.contextmanager
def trace_backward(run_hooks: bool = True) -> Iterator[BackwardTrace]:
    """Record every node that backward passes inside the block visit, with its gradients::

        with trace_backward() as trace:
            loss.backward()
        [step.node.label for step in trace]   # the engine's real order

    ``run_hooks=False``: those passes do not call the user's hooks.
    """
    trace = BackwardTrace(run_hooks)
    _tracers.append(trace)
    try:
        yield trace
    finally:
        _tracers.remove(trace)


class Arrivals:
    """What a backward pass hands back: gradients for ``.grad``, wanted ones, the trace."""

    def __init__(self, wanted: dict | None, trace: BackwardTrace | None) -> None:
        self.wanted = wanted if wanted is not None else {}
        self.trace = trace
        # Two parallel lists rather than a list of pairs: no tuple per leaf for the GC to track.
        self.nodes_to_fill: list[Node] = []
        self.grads_to_fill: list[Any] = []

    def arrive(self, node: Node, g: Any) -> Any:
        """``node``'s gradient is complete: run its hooks, keep it where it is wanted."""
        if node.hooks and (self.trace is None or self.trace.run_hooks):
            g = _run_hooks(node, g)
        if node in self.wanted:
            self.wanted[node] = g
        if node.tensor_ref is not None:      # a leaf, or a tensor that called retain_grad()
            self.nodes_to_fill.append(node)
            self.grads_to_fill.append(g)
        return g

    def record_step(self, node: Node, g: Any, input_grads: Any) -> None:
        """Add one step to the trace (the callers check that there is one)."""
        self.trace.steps.append(BackwardStep(node, g, tuple(input_grads)))


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


def _check_versions(node: Node) -> None:
    """Raise if a value this node saved was modified in place after it was recorded."""
    op = node.op
    for index, tensor, version in node.watched:
        if tensor._version != version:
            name = f" '{tensor.name}'" if tensor.name else ""
            raise InplaceError(
                f"one of the values needed for gradient computation has been modified by an "
                f"in-place operation: input {index}{name} of '{op.name}' (shape {tensor.shape}) "
                f"is at version {tensor._version}; expected version {version}. Modify a "
                "copy instead, or move the in-place update after backward()."
            )
    if node.out_version is not None:
        raise InplaceError(
            f"one of the values needed for gradient computation has been modified by an "
            f"in-place operation: the output of '{op.name}' is at version {node.out_version}; "
            f"expected version 0. Compute it out of place (y = y + 1 instead of y += 1), or "
            f"clone it before modifying."
        )


def _as_tensors(node: Node) -> tuple[Any, list]:
    """With create_graph, the rules receive saved values as tensors tied to the graph.

    Each stands for a tensor the node watches, so it shares that tensor's version history:
    the operations the rules record watch it, and a later in-place change of the original
    makes a second backward pass through them raise as well.
    """
    out = result_tensor(node.out, node) if node.out is not None else None
    args = [result_tensor(value, parent) if parent is not None and type(value) is np.ndarray
            else value for value, parent in zip(node.saved, node.parents)]
    for index, tensor, _ in node.watched:
        if isinstance(args[index], Tensor):
            share_versions(args[index], (tensor,))
    return out, args


def _fit(grad: Any, value: Any, node: Node, index: int) -> Any:
    """Undo broadcasting and match the input's dtype; anything else is a broken rule."""
    shape = tuple(value.shape)
    if tuple(grad.shape) != shape:
        reduced = sum_to_shape(grad, shape)
        if reduced is None:
            raise ShapeError(
                f"the gradient rule of '{node.op.name}' for input {index} returned shape "
                f"{tuple(grad.shape)}, which cannot be reduced to the input's shape {shape}. "
                "The rule is wrong: it must return an array that broadcasts to the input."
            )
        grad = reduced
    dtype = value.dtype
    if grad.dtype != dtype:
        if np.dtype(grad.dtype).kind not in "fc":
            raise ShapeError(
                f"the gradient rule of '{node.op.name}' for input {index} returned dtype "
                f"{grad.dtype} for an input of dtype {dtype}; gradients must be floating point."
            )
        grad = grad.astype(dtype)
    return grad


def _root_node(tensor: Tensor) -> Node:
    node = tensor.current_node()
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
        # The usual loss is 0-d, and np.array(1, dtype) is about 6x cheaper than np.ones_like.
        seed = np.array(1, dtype=data.dtype) if data.ndim == 0 else np.ones_like(data)
    else:
        seed = gradient if (create_graph and isinstance(gradient, Tensor)) else (
            np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient))
        if seed.dtype.kind not in "biuf":
            raise TypeError(
                f"backward(): gradient must hold numbers, got dtype {seed.dtype} (from "
                f"{type(gradient).__name__}); pass an array of shape {tensor.shape}."
            )
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


def _released_error(node: Node) -> BackwardError:
    return BackwardError(
        f"trying to backward through the graph a second time: the values saved by "
        f"'{node.op.name}' were freed after the first backward(). Pass retain_graph=True to "
        "the first backward() if you need to run backward twice, or recompute the forward pass."
    )
