"""Primitive operations: a forward function on numpy values and one VJP rule per input.

The vocabulary, used by every rule in ``autograd_core/rules/``:

- ``g``: the gradient of the final scalar with respect to this operation's output
  (the "upstream" gradient), with the output's shape;
- ``out``: the forward result, reused where it is cheaper or more stable
  (``exp: g * out``, ``sigmoid: g * out * (1 - out)``);
- ``x``, ``y``, ...: the forward inputs, followed by the operation's keyword
  parameters (``axis``, ``shape``, ``index``...).

A rule returns the gradient for its input *before* broadcasting is undone: the
engine reduces it to the input's shape in exactly one place
(``broadcasting.sum_to_shape``) and checks shape and dtype there.

Rules are written in plain numpy. On the ordinary backward pass they receive numpy
arrays and cost nothing extra; with ``create_graph=True`` they receive ``Tensor``s,
which implement numpy's dispatch protocols (``__array_ufunc__``,
``__array_function__``), so the very same rule records its own graph and
second derivatives come for free.
"""

from __future__ import annotations

import dis
import functools
from collections.abc import Callable
from typing import Any

from .tensor import NO_PARAMS, Tensor, record

VJP = Callable[..., Any]

#: Every registered primitive, by name. Tests and documentation loop over this table.
PRIMITIVES: dict[str, Primitive] = {}


class Primitive:
    """One differentiable operation of the table.

    ``forward(*inputs, **params)`` computes on numpy values. ``vjps[i](g, out, *inputs,
    **params)`` returns the gradient for input ``i``, or the entry is ``None`` when the
    input is not differentiable (a condition, an index). ``formula`` states the forward
    and the rules in math, for documentation and diagrams; ``why`` says why this is a
    primitive rather than a composition of others, when that is not obvious.
    """

    def __init__(self, forward: Callable[..., Any], name: str, formula: str, why: str = "") -> None:
        self.forward = forward
        self.name = name
        self.formula = formula
        self.why = why
        self.vjps: tuple[VJP | None, ...] = ()
        #: indices of the inputs whose values some rule reads (checked for in-place edits)
        self.reads_inputs: tuple[int, ...] = ()
        #: whether some rule reads ``out``
        self.reads_out = False
        self.__doc__ = f"{name}: {formula}" + (f"\n\nWhy a primitive: {why}" if why else "")

    def defvjp(self, *vjps: VJP | None) -> Primitive:
        """Attach one rule per positional input, in order; ``None`` marks a non-differentiable one."""
        self.vjps = tuple(vjps)
        read_names: set[str] = set()
        for index, rule in enumerate(vjps):
            if rule is None:
                continue
            # Give each rule a name for tracebacks ("mul_vjp_1" rather than "<lambda>").
            code = rule.__code__
            label = f"{self.name}_vjp_{index}"
            rule.__code__ = code.replace(co_name=label, co_qualname=label)
            rule.__name__ = rule.__qualname__ = label
            read_names |= _names_read(rule)
        # Which saved values the rules need, as PyTorch's derivatives.yaml codegen decides
        # from its formulas: only those are checked for in-place modification later.
        input_names = _positional_names(vjps)[: len(vjps)]
        self.reads_out = "out" in read_names
        self.reads_inputs = tuple(i for i, n in enumerate(input_names) if n in read_names)
        return self

    def __call__(self, *inputs: Any, **params: Any) -> Any:
        return record(self, inputs, params or NO_PARAMS)

    def defvjp_each(self, rule: VJP) -> Primitive:
        """For primitives with any number of inputs (concatenate): one rule for all of them.

        ``rule(g, out, *inputs, which=i, **params)`` returns the gradient for input ``i``.
        """
        label = f"{self.name}_vjp"
        rule.__code__ = rule.__code__.replace(co_name=label, co_qualname=label)
        self.vjps = _EachInput(rule)  # type: ignore[assignment]
        self.reads_out = "out" in _names_read(rule)
        return self

    def __repr__(self) -> str:
        return f"<primitive {self.name}: {self.formula}>"


def primitive(name: str, formula: str, why: str = "") -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator: register a forward function (numpy in, numpy out) as a primitive."""

    def register(forward: Callable[..., Any]) -> Primitive:
        if name in PRIMITIVES:
            raise ValueError(f"a primitive named {name!r} is already registered")
        prim = Primitive(forward, name, formula, why)
        PRIMITIVES[name] = prim
        return prim

    return register


# Reading only these attributes of a saved input does not need its values, so a later
# in-place change of the values does not invalidate the rule.
_METADATA = {"shape", "ndim", "dtype", "size"}


def _names_read(fn: Callable[..., Any]) -> set[str]:
    """The argument names whose values a rule reads (``x.shape`` alone does not count)."""
    names: set[str] = set()
    instructions = list(dis.get_instructions(fn))
    for position, instruction in enumerate(instructions):
        if instruction.opname.startswith("LOAD_FAST") or instruction.opname == "LOAD_DEREF":
            following = instructions[position + 1] if position + 1 < len(instructions) else None
            if following is not None and following.opname == "LOAD_ATTR" \
                    and following.argval in _METADATA:
                continue
            value = instruction.argval
            names.update(value if isinstance(value, tuple) else (value,))
    return names


def _positional_names(vjps: tuple[VJP | None, ...]) -> list[str]:
    """The names of the forward inputs, read off the first rule's signature (after g, out)."""
    for rule in vjps:
        if rule is not None:
            code = rule.__code__
            return list(code.co_varnames[2 : code.co_argcount])
    return []


class _EachInput:
    """``vjps[i]`` for a variadic primitive: the shared rule, told which input it serves."""

    def __init__(self, rule: VJP) -> None:
        self.rule = rule
        self._bound: dict[int, VJP] = {}

    def __getitem__(self, index: int) -> VJP:
        bound = self._bound.get(index)
        if bound is None:
            bound = self._bound[index] = functools.partial(self.rule, which=index)
        return bound

    def __iter__(self) -> Any:
        yield self.rule

    def __len__(self) -> int:
        return 1


def call(prim: Primitive, *inputs: Any, **params: Any) -> Any:
    """For rules that use another primitive: numpy values in, numpy value out; but when
    any input is a Tensor (a backward pass with create_graph=True), record it."""
    for value in inputs:
        if isinstance(value, Tensor):
            return prim(*inputs, **params)
    return prim.forward(*inputs, **params)
