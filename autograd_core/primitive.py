"""Primitive operations, and ``record``: running one and putting it on the tape.

A primitive is a forward function on numpy values and one *rule* per input: the
vector-Jacobian product (VJP) that turns the gradient of the output into the
gradient of that input. The vocabulary, used by every rule in ``rules/``:

- ``g``: the gradient of the final scalar with respect to this operation's output
  (the "upstream" gradient), with the output's shape;
- ``out``: the forward result, reused where it is cheaper or more stable
  (``exp: g * out``, ``sigmoid: g * out * (1 - out)``);
- ``x``, ``y``, ...: the forward inputs, followed by the operation's keyword
  parameters (``axis``, ``shape``, ``index``...).

Each rule declares the values it reads, ``rule(vjp, saves=("y",))``, as PyTorch's
derivatives.yaml and minitorch's ``ctx.save_for_backward`` make it visible. Only
the values declared by the rules of inputs that need a gradient are kept on the
tape and checked for in-place changes; every other input reaches a rule as a
``NotSaved``, which has the value's ``shape``, ``ndim``, ``dtype`` and ``size`` and
refuses anything else.

A rule returns the gradient for its input *before* broadcasting is undone: the
engine reduces it to the input's shape in exactly one place
(``broadcasting.sum_to_shape``) and checks shape and dtype there.

Rules are written in plain numpy. On the ordinary backward pass they receive numpy
arrays; with ``create_graph=True`` they receive ``Tensor``s, which implement numpy's
dispatch protocols (``__array_ufunc__``, ``__array_function__``), so the very same
rule records its own graph and second derivatives come for free.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from . import anomaly, grad_mode, observe
from .errors import forward_shape_error, is_shape_mismatch
from .node import NO_PARAMS, Node, NotSaved
from .tensor import Tensor, ViewOrigin, follow_base, result_tensor, share_versions

VJP = Callable[..., Any]

#: Every primitive of the engine, by name. Tests and documentation loop over this table.
PRIMITIVES: dict[str, Primitive] = {}


class Rule:
    """One input's vector-Jacobian product, ``vjp(g, out, *inputs, **params)``, and the
    names of the values it reads (``saves``: input names and ``"out"``)."""

    __slots__ = ("vjp", "saves")

    def __init__(self, vjp: VJP, saves: tuple[str, ...]) -> None:
        self.vjp = vjp
        self.saves = saves

    def __repr__(self) -> str:
        return f"rule(saves={self.saves})"


def rule(vjp: VJP, saves: str | tuple[str, ...] = ()) -> Rule:
    """Declare a VJP and the values it reads: ``rule(lambda g, out, x, y: g * y, saves="y")``.

    Reading only ``.shape``, ``.ndim``, ``.dtype`` or ``.size`` of a value needs no declaration.
    """
    return Rule(vjp, (saves,) if isinstance(saves, str) else tuple(saves))


class Primitive:
    """One differentiable operation: a forward function and one rule per input.

    ``forward(*inputs, **params)`` computes on numpy values. ``rules[i]`` is input i's
    ``Rule``, or None when the input is not differentiable (a condition, an index);
    ``vjps[i]`` is its VJP function, which the backward pass calls. ``formula`` states
    the forward and the rules in math, for documentation and diagrams; ``why`` says
    why this is a primitive rather than a composition of others, when not obvious.
    """

    def __init__(self, forward: Callable[..., Any], name: str, formula: str, why: str = "") -> None:
        self.forward = forward
        self.name = name
        self.formula = formula
        self.why = why
        self.rules: tuple[Rule | None, ...] = ()
        self.vjps: Any = ()
        self.input_names: tuple[str, ...] = ()
        self.variadic = False                   # forward(*xs): one rule serves every input
        # A view this primitive returns can be made again by calling it (not a Function's).
        self.remakes_views = True
        self.not_differentiable: tuple[int, ...] = ()   # inputs whose rule is None
        #: save_plan's answers, by which inputs need a gradient (see save_plan)
        self.plans: dict[Any, SavePlan] = {}
        self.__doc__ = f"{name}: {formula}" + (f"\n\nWhy a primitive: {why}" if why else "")

    def defvjp(self, *rules: Rule | None) -> Primitive:
        """Attach one rule per positional input of ``forward``, in order (None: not differentiable)."""
        names, defaulted = _positional_names(self.forward)
        if len(rules) > len(names):
            raise TypeError(f"{self.name}: {len(rules)} rules for forward inputs {names}")
        if set(defaulted) & set(names[: len(rules)]):
            raise TypeError(
                f"{self.name}: forward input(s) {sorted(set(defaulted) & set(names[: len(rules)]))} "
                "have a default value; a primitive's inputs are given positionally every time "
                "(parameters with defaults come after them and are passed as keywords)."
            )
        for index, each in enumerate(rules):
            if each is not None:
                self._check_declaration(each, f"the rule for input {index} ({names[index]!r})",
                                        names[: len(rules)])
        self.input_names = names[: len(rules)]
        self.rules = tuple(rules)
        self.vjps = tuple(None if each is None else each.vjp for each in rules)
        self.not_differentiable = tuple(i for i, each in enumerate(rules) if each is None)
        self.variadic = False
        self.plans.clear()              # plans made for the previous rules no longer hold
        return self

    def defvjp_each(self, each: Rule) -> Primitive:
        """For a variadic forward, ``forward(*xs, **params)``: one rule for every input.

        ``each.vjp(g, out, *xs, which=i, **params)`` returns the gradient for input ``i``;
        ``saves=("xs",)`` would keep every input.
        """
        names = tuple(p.name for p in inspect.signature(self.forward).parameters.values()
                      if p.kind is p.VAR_POSITIONAL)
        self._check_declaration(each, "the rule", names)
        self.variadic = True
        self.input_names = names
        self.rules = (each,)
        self.vjps = _EachInput(each.vjp)
        self.not_differentiable = ()
        self.plans.clear()
        return self

    def _check_declaration(self, each: Any, which: str, input_names: tuple[str, ...]) -> None:
        if not isinstance(each, Rule):
            raise TypeError(
                f"{self.name}: {which} is a {type(each).__name__}; wrap it as "
                "rule(vjp, saves=(...)) so that the values it reads are declared."
            )
        unknown = [n for n in each.saves if n != "out" and n not in input_names]
        if unknown:
            raise ValueError(
                f"{self.name}: {which} declares saves={each.saves}, but {unknown} is neither "
                f"'out' nor an input of the forward ({', '.join(input_names)})."
            )

    def save_plan(self, needs_grad: int, count: int, params: Mapping[str, Any]) -> SavePlan:
        """What the tape keeps for a call with ``count`` inputs, of which those whose bit is set
        in ``needs_grad`` (bit i for input i) need a gradient: what the rules of those inputs
        declared, nothing more. Worked out once per pattern, then looked up. (``params``: the
        call's keyword parameters; a Function decides per call.)"""
        key = (needs_grad, count) if self.variadic else needs_grad
        plan = self.plans.get(key)
        if plan is None:
            rules = self.rules * count if self.variadic else self.rules
            names = {n for i, each in enumerate(rules) if needs_grad >> i & 1 for n in each.saves}
            input_names = self.input_names * count if self.variadic else self.input_names
            plan = SavePlan(tuple(i for i, n in enumerate(input_names) if n in names),
                            tuple(i for i, n in enumerate(input_names) if n not in names),
                            "out" in names)
            self.plans[key] = plan
        return plan

    def __call__(self, *inputs: Any, **params: Any) -> Any:
        return record(self, inputs, params or NO_PARAMS)

    def __repr__(self) -> str:
        return f"<primitive {self.name}: {self.formula}>"


class SavePlan(NamedTuple):
    """What a node keeps: the inputs in ``kept``, by index (those in ``not_saved`` become
    NotSaved), and ``out`` when true."""

    kept: tuple[int, ...]
    not_saved: tuple[int, ...]
    out: bool


def primitive(name: str, formula: str, why: str = "",
              table: dict[str, Primitive] | None = None) -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator: make a forward function (numpy in, numpy out) a primitive, kept in ``table``
    (the engine's ``PRIMITIVES`` unless another table is given, as ``nn`` does for its own)."""
    table = PRIMITIVES if table is None else table

    def register(forward: Callable[..., Any]) -> Primitive:
        if name in table:
            raise ValueError(f"a primitive named {name!r} is already registered")
        table[name] = Primitive(forward, name, formula, why)
        return table[name]

    return register


def _positional_names(forward: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The forward's positional parameters, and those of them that have a default."""
    if isinstance(forward, np.ufunc):
        # A numpy ufunc as the forward (np.log): Python 3.10's inspect cannot read its
        # signature; its inputs are its nin positional arguments.
        return ("x", "y", "z")[: forward.nin], ()
    positional = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return (tuple(p.name for p in positional),
            tuple(p.name for p in positional if p.default is not p.empty))


class _EachInput:
    """``vjps[i]`` for a variadic primitive: the shared VJP, told which input it serves."""

    def __init__(self, vjp: VJP) -> None:
        self.vjp = vjp
        self._bound: dict[int, VJP] = {}

    def __getitem__(self, index: int) -> VJP:
        bound = self._bound.get(index)
        if bound is None:
            bound = self._bound[index] = functools.partial(self.vjp, which=index)
        return bound


# ------------------------------------------------------------------------ recording
def record(op: Primitive, inputs: tuple, params: Mapping[str, Any]) -> Tensor:
    """Run primitive ``op`` forward on ``inputs`` and, when needed, put a Node on the tape.

    This is the only place where operations are recorded. Nothing is kept when no
    input needs a gradient or recording is off (``no_grad``).
    """
    # The inputs' values, their nodes, and which of them need a gradient (bit i: input i).
    # A plain loop: list comprehensions cost a function call each on Python 3.11.
    values, parents, needs_grad = [], [], 0
    for index, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x._view_of is not None and x._view_of.stale:
                follow_base(x)
            values.append(x.data)
            parent = x._node
            if parent is not None and index not in op.not_differentiable:
                needs_grad |= 1 << index
            else:
                parent = None
            parents.append(parent)
        else:
            values.append(x)
            parents.append(None)
    try:
        # Most operations have no params: a call without ** is measurably cheaper.
        out = op.forward(*values, **params) if params else op.forward(*values)
    except ValueError as exc:
        if not is_shape_mismatch(exc):
            raise                   # the forward's own complaint, as it wrote it
        raise forward_shape_error(op.name, values, exc) from exc
    if type(out) is not np.ndarray:
        out = np.asarray(out)       # numpy returns scalars from 0-d operations: keep an array
    if observe.state.observers:        # jit is tracing: this call is one step of its program
        observe.announce(op.forward, op, tuple(values), params, out)
    result = result_tensor(out, None)
    if needs_grad and grad_mode.state.enabled:
        result._node = _make_node(op, inputs, values, parents, needs_grad, out, params)
    if out.base is not None:        # a view (x.T, x[1:3]): it shares the operand's versions
        sharing = share_versions(result, inputs)
        if sharing:
            result._view_of = ViewOrigin(sharing[0], op, params, _view_kind(op, inputs))
    return result


def _view_kind(op: Primitive, inputs: tuple) -> str:
    """How a view follows its parent (see tensor.ViewOrigin)."""
    if not op.remakes_views or len(inputs) != 1:
        return "function"           # a custom Function's output, or several inputs
    return "recorded" if grad_mode.state.enabled else "no_grad"



def _make_node(op: Primitive, inputs: tuple, values: list, parents: list, needs_grad: int,
               out: np.ndarray, params: Mapping[str, Any]) -> Node:
    """The tape entry: the values that the rules of the inputs needing a gradient declared.

    ``values`` (the inputs' arrays, a list of record's own) becomes the node's ``saved``.
    """
    plan = op.save_plan(needs_grad, len(values), params)
    for index in plan.not_saved:
        given = inputs[index]
        values[index] = NotSaved(values[index], given.name if isinstance(given, Tensor) else None)
    watched = ()
    for index in plan.kept:
        tensor = inputs[index]
        if isinstance(tensor, Tensor):
            watched += ((index, tensor, tensor._version),)
    node = Node(op, tuple(parents), tuple(values), out if plan.out else None, watched, params)
    if anomaly.state.enabled:
        node.origin = anomaly.origin_of(out)
    return node


def call(prim: Primitive, *inputs: Any, **params: Any) -> Any:
    """For rules that use another primitive: numpy values in, numpy value out; but when
    any input is a Tensor (a backward pass with create_graph=True), record it."""
    for value in inputs:
        if isinstance(value, Tensor):
            return prim(*inputs, **params)
    return prim.forward(*inputs, **params)
