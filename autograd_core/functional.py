"""Function transforms in the style of JAX: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``,
``jacobian``, ``hessian``, ``hvp`` and ``per_example_grads``.

Each transform takes a Python function of arrays and returns a function (or values)
computed with the same tape as ``loss.backward()``: it wraps the differentiated
arguments in fresh tensors that require grad, runs ``f`` and calls
``backward.gradients``. Nothing here has rules of its own.

Composition (``grad(grad(f))``) works because a transform that is itself being
differentiated records its backward pass: whenever the output of ``f`` depends on a
tensor that requires grad *other than* the arguments this transform created (an
argument passed in by an outer transform, a tensor captured by the closure), the
inner gradients are taken with ``create_graph=True`` and returned as Tensors tied
to that outer graph. Otherwise the backward pass is the ordinary, numpy-only one.

Types: numpy arrays (and Python numbers) in, numpy arrays out; if any argument is
a ``Tensor``, or the result carries a graph for an outer transform, the results are
``Tensor``s.

Structures: a differentiated argument may be one array or a nested structure of them,
dicts, lists and tuples (JAX's pytrees), such as ``dict(model.named_parameters())``.
The transform differentiates with respect to every leaf and returns the gradients in
the argument's structure. A list of plain numbers (``[1.0, 2.0]``) is array data, as in
numpy; a list or tuple holding arrays, Tensors or structures is a structure.

Unused arguments: when the output does not depend on a leaf it was asked to
differentiate (no path in the recorded graph leads to it), the gradient would be zeros
that say nothing, and the usual cause is a bug: the function computes with something
else, such as a model's own parameters instead of the ones passed in. So every
transform raises then, as ``torch.autograd.grad`` does; ``allow_unused=True`` returns
the zeros. "Depends" means the graph, not the values: ``0 * x`` depends on ``x``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import observe
from .backward import gradients
from .composites import stack
from .errors import BackwardError
from .grad_mode import enable_grad, is_grad_enabled
from .ops import astype
from .primitive import Primitive, rule
from .tensor import Tensor

# A differentiated argument that already requires grad (passed in by an outer transform)
# gets a node of its own, so that "d/d this argument" is distinct from "d/d the outer
# variable" even when the same tensor is passed twice. Not registered in PRIMITIVES: it is
# plumbing of the transforms, not an operation users call.
# What the transformed function receives for an argument it is differentiated by: a copy
# with a node of its own. So an in-place write inside the function changes neither the
# caller's array nor the tensor the gradient is taken with respect to.
argument_copy = Primitive(lambda x: x.copy(), "argument",
                      "z = x;  x̄ = g  (an argument of a transformed function)")
argument_copy.defvjp(rule(lambda g, out, x: g))


# ------------------------------------------------------------------ nested structures
def is_tree(value: Any) -> bool:
    """Dicts are structures; a list or tuple is one when it holds an array, a Tensor or a
    structure. A list of plain numbers is array data, as ``np.asarray`` reads it."""
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (np.ndarray, Tensor)) or is_tree(v) for v in value)
    return False


def tree_leaves(tree: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, leaf) for every leaf of ``tree``, depth first, dicts in insertion order.

    The path reads as the indexing that reaches the leaf (``['layers.0.W']``, ``[1][0]``),
    "" for a tree that is a single leaf; error messages name leaves with it.
    """
    if not is_tree(tree):
        return [(path, tree)]
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    return [pair for key, value in items for pair in tree_leaves(value, f"{path}[{key!r}]")]


def tree_rebuild(tree: Any, leaves: Iterator[Any]) -> Any:
    """``tree``'s structure with its leaves replaced, in ``tree_leaves`` order, by ``leaves``."""
    if not is_tree(tree):
        return next(leaves)
    if isinstance(tree, dict):
        return {key: tree_rebuild(value, leaves) for key, value in tree.items()}
    items = [tree_rebuild(value, leaves) for value in tree]
    return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)   # namedtuples


def _check_like(who: str, what: str, index: int, primal: Any, other: Any) -> None:
    """``other`` (a tangent, a vector) has ``primal``'s structure and each leaf its shape."""
    primal_leaves, other_leaves = tree_leaves(primal), tree_leaves(other)
    paths, other_paths = [path for path, _ in primal_leaves], [path for path, _ in other_leaves]
    if paths != other_paths:
        def listed(leaf_paths: list[str]) -> str:
            return " ".join(leaf_paths) if leaf_paths != [""] else "one array"

        raise ValueError(
            f"{who}: {what} {index} has the leaves {listed(other_paths)} but its primal has "
            f"{listed(paths)}; give it the primal's structure."
        )
    for (path, p), (_, t) in zip(primal_leaves, other_leaves):
        p_shape, t_shape = np.shape(_value(p)), np.shape(_value(t))
        if p_shape != t_shape:
            raise ValueError(f"{who}: {what} {index}{path} has shape {t_shape} but its primal has "
                             f"shape {p_shape}.")


# ----------------------------------------------------------------------------- helpers
def _normalize_argnums(argnums: int | Sequence[int], nargs: int, who: str) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    if not nums:
        raise ValueError(f"{who}: argnums is empty; name at least one argument to differentiate.")
    resolved = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(
                f"{who}: argnums={argnums!r} refers to argument {a}, but the function was called "
                f"with {nargs} positional argument(s). Pass the argument positionally, or fix argnums."
            )
        resolved.append(a % nargs)
    return tuple(resolved), single


def _fresh_argument(value: Any, recording: bool, who: str, label: str) -> Tensor:
    """A tensor requiring grad, with a node of its own, holding ``value``."""
    if isinstance(value, Tensor):
        if value._node is not None and recording:
            return argument_copy(value)
        if value.dtype.kind in "biu":
            value = astype(value, np.float64)    # recorded: jit reads each call's integers
        value = value.data
    array = np.asarray(value)
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(
            f"{who}: can only differentiate with respect to floating-point arrays, but {label} has "
            f"dtype {array.dtype} (a {type(value).__name__}); convert it with "
            "np.asarray(x, dtype=np.float64), or pass a dict, list or tuple of arrays."
        )
    return Tensor(array, requires_grad=True)


def _depends_on_outer_graph(outputs: Sequence[Any], own: Sequence[Tensor]) -> bool:
    """True when some output depends on a tensor requiring grad that this transform did not
    create: then an outer transform (or the user) may differentiate the result again."""
    own_leaves = {t._node for t in own if t._node is not None and t._node.op is None}
    stack_ = [out._node for out in outputs if isinstance(out, Tensor) and out._node is not None]
    seen = set()
    while stack_:
        node = stack_.pop()
        if node in seen or node in own_leaves:
            continue
        seen.add(node)
        if node.op is None:
            return True
        stack_.extend(parent for parent in node.parents if parent is not None)
    return False


def _unreached(outputs: Sequence[Any], wrt: Sequence[Tensor]) -> list[int]:
    """Positions of the tensors in ``wrt`` that no output reaches in the recorded graph.

    A walk from the outputs towards the leaves, stopping as soon as every tensor of
    ``wrt`` was met (usually early: the arguments are used near the start of the graph).
    """
    missing = {t._node: k for k, t in enumerate(wrt)}
    stack_ = [out._node for out in outputs if isinstance(out, Tensor) and out._node is not None]
    seen = set()
    while stack_ and missing:
        node = stack_.pop()
        if node in seen:
            continue
        seen.add(node)
        missing.pop(node, None)
        stack_.extend(parent for parent in node.parents if parent is not None)
    return sorted(missing.values())


def _refuse_unused(who: str, f: Callable[..., Any], labels: Sequence[str], where: str = "") -> None:
    listed = ", ".join(labels)
    raise BackwardError(
        f"{who}: the output of {_name(f)}{where} does not depend on {listed}, so its gradient "
        "would be zeros that say nothing. Usually the function computes with something other "
        "than the argument it is given, such as a model's own parameters instead of the ones "
        "passed in (call the model with nn.functional_call(model, params, x)). If zeros are "
        "intended, pass allow_unused=True."
    )


def _differentiate(out: Any, wrt: Sequence[Tensor], seed: Any, create_graph: bool) -> tuple:
    """d⟨seed, out⟩/d wrt, zeros when ``out`` does not depend on ``wrt`` at all."""
    if not isinstance(out, Tensor) or out._node is None:
        zeros = [np.zeros_like(t.data) for t in wrt]
        return tuple(Tensor(z) for z in zeros) if create_graph else tuple(zeros)
    # retain_graph: the graph may contain the caller's own nodes (captured tensors),
    # whose saved values a later backward of theirs still needs.
    return gradients(out, list(wrt), grad_outputs=seed, retain_graph=True, create_graph=create_graph)


def _convert(value: Any, as_tensor: bool) -> Any:
    if as_tensor:
        return value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _output_leaves(out: Any) -> list[Any]:
    return [leaf for _, leaf in tree_leaves(out)]


class _Traced:
    """``f`` run once on fresh arguments: its outputs, the arguments, and how to return results.

    Each differentiated argument is a tree (``tree_leaves``); ``wrt`` holds one fresh tensor
    per leaf of all of them, in order, and ``per_argument`` regroups a flat list of
    results into the arguments' structures.
    """

    def __init__(self, f: Callable[..., Any], args: Sequence[Any], kwargs: dict, argnums: Any,
                 who: str, allow_unused: bool) -> None:
        self.nums, self.single = _normalize_argnums(argnums, len(args), who)
        recording = is_grad_enabled()
        given = list(args)
        self.trees = [given[i] for i in self.nums]
        leaves = [[(f"argument {i}{path}", leaf) for path, leaf in tree_leaves(tree)]
                  for i, tree in zip(self.nums, self.trees)]
        with enable_grad():
            fresh = [[_fresh_argument(leaf, recording, who, label) for label, leaf in arg]
                     for arg in leaves]
            self.wrt = [t for arg in fresh for t in arg]
            call_args = list(given)
            for i, tree, arg in zip(self.nums, self.trees, fresh):
                # f works on its own copy (see argument_copy), in the argument's structure
                call_args[i] = tree_rebuild(tree, iter([argument_copy(t) for t in arg]))
            self.out = f(*call_args, **kwargs)
        outputs = _output_leaves(self.out)
        if not allow_unused:
            unused = _unreached(outputs, self.wrt)
            if unused:
                labels = [label for arg in leaves for label, _ in arg]
                _refuse_unused(who, f, [labels[k] for k in unused])
        #: an outer transform (or the caller) may differentiate the results: record the backward.
        #: While jit traces, always: the backward's operations must be steps it sees.
        self.outer = recording and (observe.is_tracing() or _depends_on_outer_graph(outputs, self.wrt))
        self.as_tensor = self.outer or any(isinstance(a, Tensor) for a in given) or any(
            isinstance(leaf, Tensor) for arg in leaves for _, leaf in arg)

    def grads(self, out: Any, seed: Any = None, create_graph: bool | None = None) -> tuple:
        create = self.outer if create_graph is None else create_graph
        return _differentiate(out, self.wrt, seed, create)

    def per_argument(self, flat: Sequence[Any], as_tensor: bool) -> tuple:
        """One result per leaf of ``wrt`` → one per differentiated argument, in its structure."""
        converted = iter([_convert(g, as_tensor) for g in flat])
        return tuple(tree_rebuild(tree, converted) for tree in self.trees)

    def result(self, flat: Sequence[Any]) -> Any:
        per_argument = self.per_argument(flat, self.as_tensor)
        return per_argument[0] if self.single else per_argument


def _scalar_output(out: Any, who: str, f: Callable[..., Any]) -> None:
    size = np.size(out.data if isinstance(out, Tensor) else out)
    if size != 1:
        raise ValueError(
            f"{who} needs {_name(f)} to return a scalar (one element), but it returned shape "
            f"{np.shape(out.data if isinstance(out, Tensor) else out)}. Reduce it (.sum(), .mean()), "
            "or use jacobian() or vjp() for a non-scalar output."
        )


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", type(f).__name__)


# -------------------------------------------------------------------------- transforms
def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
                   allow_unused: bool = False) -> Callable[..., tuple]:
    """``(f(*args), ∇f(*args))`` with one forward and one backward pass.

    ``f`` returns a scalar. With ``argnums`` a tuple, the gradient is a tuple with one
    entry per named argument; an argument that is a dict, list or tuple of arrays gets
    its gradient in the same structure. Raises when ``f``'s output does not depend on a
    differentiated argument, unless ``allow_unused=True`` (then its gradient is zeros).
    """
    return _value_and_grad(f, argnums, allow_unused, "value_and_grad(f)")


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
         allow_unused: bool = False) -> Callable[..., Any]:
    """``∇f``: a function returning ∂f/∂args[argnums] (a tuple for tuple ``argnums``).

    ``f`` returns a scalar. ``grad(grad(f))`` is the second derivative (for scalar ``x``).
    Structured arguments and ``allow_unused`` as in ``value_and_grad``.
    """
    value_and_grad_f = _value_and_grad(f, argnums, allow_unused, "grad(f)")

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return value_and_grad_f(*args, **kwargs)[1]

    return grad_f


def _value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int], allow_unused: bool,
                    who: str) -> Callable[..., tuple]:
    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple:
        traced = _Traced(f, args, kwargs, argnums, who, allow_unused)
        _scalar_output(traced.out, who, f)
        grads = traced.grads(traced.out)
        return _convert(traced.out, traced.as_tensor), traced.result(grads)

    return value_and_grad_f


def vjp(f: Callable[..., Any], *primals: Any,
        allow_unused: bool = False) -> tuple[Any, Callable[[Any], tuple]]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(u) = uᵀ J``: one gradient per primal, as a tuple.

    ``u`` (the cotangent) has the output's shape. ``vjp_fn`` may be called many times;
    each call is one backward pass over the graph recorded once. If ``u`` is a Tensor
    that requires grad, the result is differentiable with respect to it (``jvp`` uses this).
    """
    if not primals:
        raise ValueError("vjp(f, *primals): give at least one primal (the point to linearize at).")
    traced = _Traced(f, primals, {}, tuple(range(len(primals))), "vjp(f, ...)", allow_unused)
    out = traced.out
    out_shape = np.shape(out.data if isinstance(out, Tensor) else out)

    def vjp_fn(cotangent: Any) -> tuple:
        if tuple(np.shape(cotangent.data if isinstance(cotangent, Tensor) else cotangent)) != out_shape:
            raise ValueError(
                f"vjp_fn: the cotangent has shape {np.shape(cotangent)} but {_name(f)} returned shape "
                f"{out_shape}; the cotangent must have the output's shape."
            )
        differentiable = isinstance(cotangent, Tensor) and cotangent._node is not None
        create = traced.outer or (differentiable and is_grad_enabled())
        if not create and isinstance(cotangent, Tensor):
            cotangent = cotangent.data
        grads = traced.grads(out, cotangent, create_graph=create)
        return traced.per_argument(grads, traced.as_tensor or create)

    return _convert(out, traced.as_tensor), vjp_fn


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], *,
        allow_unused: bool = False) -> tuple[Any, Any]:
    """``(f(*primals), J t)``: forward mode, by transposing the VJP (the double-VJP trick).

    ``g(u) = uᵀJ`` is linear in ``u``, so differentiating ``⟨g(u), t⟩`` with respect to
    ``u`` gives ``J t``. Cost: one forward, one backward recorded with create_graph, and
    one backward through that: about three times a plain backward, for any output size.
    A structured primal takes a tangent of the same structure.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent each.")
    for index, (p, t) in enumerate(zip(primals, tangents)):
        _check_like("jvp", "tangent", index, p, t)
    traced = _Traced(f, primals, {}, tuple(range(len(primals))), "jvp(f, ...)", allow_unused)
    flat_tangents = [leaf for t in tangents for leaf in _output_leaves(t)]
    out = traced.out
    out_data = out.data if isinstance(out, Tensor) else np.asarray(out)
    # The tangent has the output's dtype (float32 primals give float32 tangents, as in PyTorch).
    dtype = out_data.dtype if out_data.dtype.kind == "f" else np.float64
    u = Tensor(np.zeros_like(out_data, dtype=dtype), requires_grad=True)
    with enable_grad():
        pulled = traced.grads(out, u, create_graph=True)
        total = None
        for g, t in zip(pulled, flat_tangents):
            term = (g * t).sum()
            total = term if total is None else total + term
    # Record this last pass too when the result will be differentiated again: tangents that
    # require grad, or primals tied to an outer graph.
    outer = is_grad_enabled() and _depends_on_outer_graph([total], [u, *traced.wrt])
    # An output that depends on the primals, but through rules whose result does not
    # depend on u (a constant zero gradient), has J t = 0: no error here, the primals
    # were checked above.
    tangent_out = _differentiate(total, [u], None, outer)[0]
    as_tensor = traced.as_tensor or outer or any(isinstance(t, Tensor) for t in flat_tangents)
    return _convert(out, as_tensor), _convert(tangent_out, as_tensor)


def jacobian(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
             allow_unused: bool = False) -> Callable[..., Any]:
    """``J[i..., j...] = ∂f(x)[i...]/∂x[j...]``, of shape ``out.shape + x.shape``.

    Built row by row in reverse mode: one backward pass per output element. With a tuple
    ``argnums`` the result is a tuple over arguments, a structured argument gives a
    structure; if ``f`` returns a tuple (or a dict, a list), the result has that
    structure over outputs, each entry over arguments. An argument counts as used when
    some output depends on it; the blocks of outputs that do not are zeros.
    """

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        traced = _Traced(f, args, kwargs, argnums, "jacobian(f)", allow_unused)
        if is_tree(traced.out):
            blocks = [_jacobian_of(traced, out) for out in _output_leaves(traced.out)]
            return tree_rebuild(traced.out, iter(blocks))
        return _jacobian_of(traced, traced.out)

    return jacobian_f


def _jacobian_of(traced: _Traced, out: Any) -> Any:
    out_data = out.data if isinstance(out, Tensor) else np.asarray(out)
    rows: list[list[Any]] = [[] for _ in traced.wrt]
    for k in range(out_data.size):
        seed = np.zeros(out_data.shape, dtype=np.result_type(out_data, np.float64))
        seed.flat[k] = 1.0
        for row, g in zip(rows, traced.grads(out, seed)):
            row.append(g)
    jacobians = []
    for x, row in zip(traced.wrt, rows):
        shape = out_data.shape + x.shape
        if not row:
            jacobians.append(np.zeros(shape))
        elif traced.outer:
            jacobians.append(stack(row).reshape(shape))
        else:
            jacobians.append(np.stack([np.asarray(g) for g in row]).reshape(shape))
    return traced.result(jacobians)


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0, *,
            allow_unused: bool = False) -> Callable[..., Any]:
    """``H = ∇²f``: the Jacobian of the gradient, of shape ``x.shape + x.shape``.

    Reverse over reverse: the gradient is recorded (create_graph), then differentiated
    once per element. With a tuple ``argnums``, ``H[i][j] = ∂²f/∂xᵢ∂xⱼ``; a structured
    argument gives a structure of structures (``H['W']['b']``). ``allow_unused`` is about
    ``f``: a gradient that does not depend on ``x`` (``f`` linear) has ``H = 0``, no error.
    """
    return jacobian(grad(f, argnums, allow_unused=allow_unused), argnums, allow_unused=True)


def hvp(f: Callable[..., Any], x: Any, v: Any, *, allow_unused: bool = False) -> Any:
    """``H v`` with ``H = ∇²f(x)``, without forming ``H``: ``∇ₓ ⟨∇f(x), v⟩``.

    Costs about one forward and two backward passes (the inner one recorded), and
    memory for the graph only, never the n×n Hessian. ``x`` and ``v`` may be tuples
    (``f(*x)``), then the result is a tuple; a dict (or each entry of the tuple) may be
    a structure of arrays, with ``v`` in the same structure. ``allow_unused`` as in
    ``hessian``.
    """
    several = isinstance(x, (tuple, list))
    xs, vs = (tuple(x), tuple(v)) if several else ((x,), (v,))
    if len(xs) != len(vs):
        raise ValueError(f"hvp: {len(xs)} arguments but {len(vs)} vectors; give one vector per argument.")
    for index, (point, vector) in enumerate(zip(xs, vs)):
        _check_like("hvp", "vector", index, point, vector)
    argnums = tuple(range(len(xs)))
    gradient = grad(f, argnums, allow_unused=allow_unused)
    flat_vs = [leaf for vector in vs for leaf in _output_leaves(vector)]

    def directional(*points: Any) -> Any:
        total = None
        flat_grads = [leaf for g in gradient(*points) for leaf in _output_leaves(g)]
        for g, w in zip(flat_grads, flat_vs):
            term = (g * w).sum()
            total = term if total is None else total + term
        return total

    result = grad(directional, argnums, allow_unused=True)(*xs)
    return result if several else result[0]


def per_example_grads(loss_fn: Callable[..., Any], params: Any, X: Any, Y: Any, *,
                      allow_unused: bool = False) -> Any:
    """One gradient per example: ``G[name][n] = ∇_params loss_fn(params, X[n:n+1], Y[n:n+1])``.

    ``params`` is one array or a nested structure of them (dicts, lists, tuples;
    Tensors are read, not modified); the result has the same structure, each entry of
    shape ``(N, *param.shape)``. ``loss_fn`` sees a batch of one example (leading axis of
    length 1), so the loss written for batches works unchanged; for a mean loss, the
    mean of the per-example gradients is the gradient of the batch mean. For a module,
    call it with the parameters given: ``nn.functional_call(model, params, X)``. Raises
    when a loss does not depend on some parameter, unless ``allow_unused=True``.

    Cost: N forward and backward passes of one example each. The arithmetic is the
    same as one backward of the batch mean (every example's contribution is computed
    there too, then summed), but the per-operation overhead is paid N times instead of
    once and the result needs N times the parameters' memory. For a small MLP the loop
    measured about N times slower than one batched backward (see the test of this
    function and docs/transforms.md); use it for analysis, not for training.
    """
    observe.refuse("per_example_grads", "It fills its results with numpy, out of the tracer's "
                 "sight. Jit the gradient of one example instead (jit(grad(loss))).")
    who = "per_example_grads"
    labelled = [(f"params{path}", value) for path, value in tree_leaves(params)]
    leaves = [_fresh_argument(_value(v), False, who, label) for label, v in labelled]
    structured = tree_rebuild(params, iter(leaves))
    X_data, Y_data = _value(X), _value(Y)
    count = len(X_data)
    if len(Y_data) != count:
        raise ValueError(f"per_example_grads: X has {count} examples but Y has {len(Y_data)}.")
    per_param = [np.empty((count, *leaf.shape), dtype=leaf.dtype) for leaf in leaves]
    with enable_grad():
        for n in range(count):
            loss = loss_fn(structured, X_data[n : n + 1], Y_data[n : n + 1])
            _scalar_output(loss, who, loss_fn)
            if not allow_unused:
                unused = _unreached([loss], leaves)
                if unused:
                    _refuse_unused(who, loss_fn, [labelled[k][0] for k in unused], f" for example {n}")
            for store, g in zip(per_param, _differentiate(loss, leaves, None, create_graph=False)):
                store[n] = g
    return tree_rebuild(params, iter(per_param))


def _value(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "per_example_grads"]
