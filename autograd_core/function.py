"""``Function``: a custom operation with a hand-written gradient, as in PyTorch.

    class Square(Function):
        @staticmethod
        def forward(ctx, x):             # numpy arrays in, a numpy array out
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):            # one gradient per forward input
            (x,) = ctx.saved
            return 2 * x * g

    y = Square.apply(t)                  # recorded on the tape as 'Square'

Each subclass becomes one ``Primitive`` of the engine, named after the class, so the
tape, ``trace_backward()``, diagrams and ``detect_anomaly()`` show it like any
built-in operation. It is *not* registered in ``PRIMITIVES``: that table is the
engine's own vocabulary, whose every entry the test suite checks against finite
differences with known inputs; a user's Function (deliberately wrong gradients such
as the straight-through estimator included) is checked by its author, and two test
files defining a ``Round`` must not collide in a global registry.

The per-call state travels in the node's params as ``ctx``. Values passed to
``save_for_backward`` that are forward inputs or the output are what the node saves
(the ``saves=`` of a built-in rule, decided per call): the engine checks them for
in-place modification like built-in saved values, and under ``create_graph=True``
they reach ``backward`` as Tensors tied to the graph, so second derivatives flow
through them. Other saved values (intermediates) are constants for double backward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import observe
from .errors import AutogradError, ShapeError
from .primitive import Primitive, SavePlan, rule
from .tensor import Tensor

_INPUT, _OUTPUT, _OTHER = "input", "output", "other"


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: ``save_for_backward(...)``, ``saved``, and any
    attribute you set (``ctx.axis = 1``). ``needs_input_grad[i]`` says whether input i needs one."""

    def __init__(self, function: type[Function], needs_input_grad: tuple[bool, ...]) -> None:
        self.function = function
        self.needs_input_grad = needs_input_grad
        self._to_save: tuple = ()
        self._sources: list[tuple[str, int]] = []
        self._live: tuple | None = None       # saved values as backward sees them (set per call)
        self._cache: tuple | None = None      # (g, gradients, inputs still to serve)

    def save_for_backward(self, *values: Any) -> None:
        """Keep values for ``backward``; inputs and the output are checked for in-place edits."""
        self._to_save = values

    def __repr__(self) -> str:
        return f"<ctx of {self.function.__name__}>"

    @property
    def saved(self) -> tuple:
        """The values given to ``save_for_backward``, in order."""
        return self._live if self._live is not None else self._to_save

    # The name PyTorch uses, for users porting code.
    saved_tensors = saved


class Function:
    """Subclass with static ``forward(ctx, *inputs)`` and ``backward(ctx, g)``; call ``apply``.

    ``forward`` receives numpy arrays (the inputs' data; non-array arguments as given)
    and returns one numpy array. ``backward`` receives ``g`` = ∂final/∂output and returns
    one gradient per forward input (a tuple when there are several; ``None`` for an
    input that needs none), each of the input's shape.
    """

    _primitive: Primitive | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._primitive = _make_primitive(cls)

    @staticmethod
    def forward(ctx: FunctionCtx, *inputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: FunctionCtx, g: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static backward(ctx, g)")

    @classmethod
    def apply(cls, *inputs: Any) -> Tensor:
        """Run ``forward`` on the inputs and record the operation on the tape."""
        if cls._primitive is None:
            raise TypeError("call apply() on a subclass of Function, not on Function itself")
        if observe.state.observers:
            observe.refuse(f"the custom Function {cls.__name__}",
                           "Its forward and backward share state on ctx, which a replayed program "
                           "would keep from the traced call. Call the function without jit.")
        needs = tuple(isinstance(x, Tensor) and x._node is not None for x in inputs)
        return cls._primitive(*inputs, ctx=FunctionCtx(cls, needs))

    @classmethod
    def primitive(cls) -> Primitive:
        """The engine primitive that records this Function (name, formula, rules)."""
        return cls._primitive


class _FunctionPrimitive(Primitive):
    """A Function's primitive: it saves what ``forward`` passed to ``ctx.save_for_backward``."""

    def save_plan(self, needs_grad: int, count: int, params: Mapping[str, Any]) -> SavePlan:
        sources = params["ctx"]._sources
        kept = {index for source, index in sources if source == _INPUT}
        return SavePlan(tuple(sorted(kept)), tuple(i for i in range(count) if i not in kept),
                        any(source == _OUTPUT for source, _ in sources))


def _make_primitive(cls: type[Function]) -> Primitive:
    name = cls.__name__

    def forward(*arrays: Any, ctx: FunctionCtx) -> Any:
        out = cls.forward(ctx, *arrays)
        if isinstance(out, (tuple, list)):
            raise TypeError(
                f"{name}.forward returned {len(out)} values; a Function returns exactly one array. "
                "Split it into several Functions, or stack the results into one array."
            )
        if isinstance(out, Tensor):
            out = out.data
        returned = out                  # on 0-d inputs numpy returns a scalar: keep its identity
        out = np.asarray(out)
        # Remember where each saved value came from, by identity, so that backward can be
        # given the graph-connected version of inputs and output under create_graph.
        sources = []
        for value in ctx._to_save:
            if value is out or value is returned:
                sources.append((_OUTPUT, 0))
                continue
            index = next((i for i, a in enumerate(arrays) if value is a), None)
            sources.append((_INPUT, index) if index is not None else (_OTHER, 0))
        ctx._sources = sources
        if any(out is array for array in arrays):
            # `return x`: the result is the input's own memory. A view makes that visible
            # to the engine, which then gives the two tensors one version history.
            out = out.view()
        return out

    def vjp(g: Any, out: Any, *inputs: Any, ctx: FunctionCtx, which: int) -> Any:
        # The engine asks for one input at a time; backward runs once per pass and its
        # result is kept until every input that needs a gradient has taken its own.
        cached = ctx._cache
        if cached is not None and cached[0] is g:
            grads, waiting = cached[1], cached[2]
        else:
            grads = _call_backward(name, cls, ctx, g, out, inputs)
            waiting = sum(ctx.needs_input_grad)
        waiting -= 1
        ctx._cache = (g, grads, waiting) if waiting > 0 else None
        return grads[which]

    prim = _FunctionPrimitive(forward, name,
                              f"user-defined Function {cls.__module__}.{cls.__qualname__}",
                              why="a custom gradient written by the user")
    prim.remakes_views = False      # calling it again would run the user's forward again
    # What the rule saves is decided per call, from ctx (see _FunctionPrimitive).
    prim.defvjp_each(rule(vjp))
    return prim


def _call_backward(name: str, cls: type[Function], ctx: FunctionCtx, g: Any, out: Any,
                   inputs: tuple) -> tuple:
    live = []
    for (source, index), value in zip(ctx._sources, ctx._to_save):
        live.append(out if source == _OUTPUT else inputs[index] if source == _INPUT else value)
    ctx._live = tuple(live)
    try:
        grads = cls.backward(ctx, g)
    finally:
        ctx._live = None
    if not isinstance(grads, tuple):
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(inputs):
        raise AutogradError(
            f"{name}.backward returned {len(grads)} gradient(s), but {name}.forward took "
            f"{len(inputs)} input(s); return one gradient per input, in order (None for an "
            "input that needs no gradient)."
        )
    checked = []
    for index, (grad, value) in enumerate(zip(grads, inputs)):
        shape = np.shape(value.data if isinstance(value, Tensor) else value)
        if grad is None:
            checked.append(np.zeros(shape))
            continue
        grad_shape = np.shape(grad.data if isinstance(grad, Tensor) else grad)
        if grad_shape != shape:
            raise ShapeError(
                f"{name}.backward returned a gradient of shape {grad_shape} for input {index}, "
                f"which has shape {shape}; each gradient must have exactly its input's shape."
            )
        checked.append(grad if isinstance(grad, Tensor) else np.asarray(grad))
    return tuple(checked)
