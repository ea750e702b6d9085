"""Tracing: run a function once on tensors and write down each operation as a step.

The ``Tracer`` is an observer (see ``observe.py``): the engine tells it about every
primitive it runs forward and every gradient rule it applies, with the values that
went in and came out. ``jit`` makes every floating-point argument a tensor that
requires grad, so the transforms inside the function record their backward pass
(as for an outer transform): the sums that undo broadcasting and add up gradients
are operations the tracer sees, and each gradient rule is one step, which the
program replays on arrays.

Values are told apart by identity: each array a step produces gets a numbered
*slot*, and a later step that reads the same array object reads that slot. Two
consequences shape the rest of ``jit``:

- each argument must be an object of its own (``jit`` passes a view of each), or two
  arguments would be one slot;
- an array the tracer never saw a step produce is a *constant* of the program: a
  literal such as ``0.5``, the seed ``1`` of a backward pass, an array captured from
  the enclosing scope (kept as it was when traced, as ``jax.jit`` does), but also an
  array that code made with numpy from a traced value. The engine refuses the usual
  ways of doing that while tracing (``float(t)``, comparisons, ``argmax``), and
  ``jit`` checks the first replay of each program against the function itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import JitError
from ..functional import argument_copy
from ..primitive import Primitive
from ..tensor import Tensor


@dataclasses.dataclass(frozen=True)
class Constant:
    """An input of a step that no step produced: kept in the program as it is."""

    value: Any


@dataclasses.dataclass(frozen=True)
class SlotParam:
    """A keyword parameter whose value is a slot of the program (an index array, say)."""

    slot: int


def _slots(param: Any) -> list[int]:
    """The slots a parameter reads."""
    if isinstance(param, SlotParam):
        return [param.slot]
    if isinstance(param, tuple):
        return [slot for value in param for slot in _slots(value)]
    return []


@dataclasses.dataclass
class Step:
    """``slot[output] = function(*inputs, **params)``: one primitive forward or one gradient rule.

    ``inputs`` holds slot numbers (ints) and ``Constant``s. ``what`` is the Primitive for a
    forward, ``(primitive, input index)`` for a gradient rule. ``shape`` and ``dtype`` are
    the output's when traced (the program's comments show them). ``unseen`` names a gradient
    rule when the step reads an array that rule computed with plain numpy (with create_graph,
    for a second derivative): the tracer did not see how, so a replay could not recompute it.
    """

    function: Any
    what: Any          # a Primitive, (Primitive, input index) for a rule, or fuse.Fused
    inputs: tuple[Any, ...]
    params: Mapping[str, Any]
    output: int
    shape: tuple[int, ...]
    dtype: Any
    unseen: str | None = None

    @property
    def reads(self) -> list[int]:
        """Every slot this step reads: its inputs', and those of its parameters."""
        return [ref for ref in self.inputs if isinstance(ref, int)] + [
            slot for value in self.params.values() for slot in _slots(value)]

    @property
    def is_rule(self) -> bool:
        return isinstance(self.what, tuple)

    @property
    def primitive(self) -> Primitive:
        return self.what[0] if isinstance(self.what, tuple) else self.what


class Tracer:
    """Collects the steps of one traced call (the observer passed to ``observe.observing``)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.values: list[Any] = []             # slot -> its value when traced
        self.inputs: list[int] = []
        # id(value) -> (slot, value): the value itself is kept, so that its id stays its own
        self._seen: dict[int, tuple[int, Any]] = {}
        # Constants by id, each kept alive. Known: the tracer knows where they came from (given
        # to a rule, folded from constants). Unseen: a gradient rule computed them with numpy
        # (a mask), with the rule's name; a step that reads one cannot be replayed.
        self._known: dict[int, Any] = {}
        self._unseen: dict[int, tuple[Any, str]] = {}    # with the name of the rule that made it
        self._rules: list[str] = []             # the gradient rules running now, innermost last

    def add_input(self, array: np.ndarray) -> int:
        slot = self._new_slot(array)
        self.inputs.append(slot)
        return slot

    def saw(self, function: Any, what: Any, inputs: tuple, params: Mapping[str, Any], result: Any,
            in_rule: bool) -> None:
        """``result = function(*inputs, **params)`` ran (see ``observe.announce``): note it as a
        step, or as no step when the program does not need one."""
        result = _value(result)
        if isinstance(what, tuple):
            self._rule_returned(result)
        if params:
            params = {key: self._param(value) for key, value in params.items()}
            _refuse_traced_masks(what, params, self.values)
        refs = [self.ref(_value(x)) for x in inputs]
        for ref, x in zip(refs, inputs):
            if isinstance(ref, int) and _value(x) is result:
                # A rule that hands its gradient on unchanged (add: x̄ = g), a forward that
                # returns its input: the result is that slot, no step needed.
                self._seen[id(result)] = (ref, result)
                return
        unseen = self._unseen_source(refs, in_rule)
        reads_an_input = any(isinstance(ref, int) for ref in refs) or any(
            _slots(value) for value in params.values())
        if not reads_an_input:
            self._fold(result, unseen)
        elif what is argument_copy:
            # The transforms give f a copy of each argument, so that an in-place write inside f
            # cannot reach the caller. A traced function makes no in-place writes (they are
            # refused), so the program reads the argument itself.
            self._seen[id(result)] = (refs[0], result)
        else:
            output = self._new_slot(result)
            self.steps.append(Step(function, what, tuple(refs), params, output,
                                   tuple(np.shape(result)), getattr(result, "dtype", None), unseen))

    def _fold(self, result: Any, unseen: str | None) -> None:
        """Constant folding: from constants alone (the seed 1 times a literal, say) a step gives
        the same value on every call, so the program keeps the value, not the step."""
        self._seen[id(result)] = (Constant(result), result)
        if unseen is None:
            self._known[id(result)] = result
        else:
            self._unseen[id(result)] = (result, unseen)

    def _unseen_source(self, refs: list, in_rule: bool) -> str | None:
        """The gradient rule that computed, out of the tracer's sight, a constant this step
        reads; None when every constant's origin is known."""
        unseen = None
        for ref in refs:
            if not isinstance(ref, Constant):
                continue
            if id(ref.value) in self._unseen:
                unseen = self._unseen[id(ref.value)][1]
            elif (in_rule and isinstance(ref.value, (np.ndarray, np.generic))
                    and id(ref.value) not in self._known):
                # An array inside a gradient rule that neither a step made nor the rule was
                # given: the rule computed it with plain numpy (a mask such as out > 0).
                unseen = self._rules[-1]
                self._unseen[id(ref.value)] = (ref.value, unseen)
        return unseen

    def _rule_returned(self, result: Any) -> None:
        self._rules.pop()
        # Its result is this step's: replayed, the rule recomputes all of it from its inputs,
        # whatever it did inside out of the tracer's sight.
        self._unseen.pop(id(result), None)

    def rule_starts(self, what: tuple, inputs: tuple) -> None:
        """A gradient rule is called with ``inputs``: what it computes from them with plain
        numpy, the tracer will not see (``saw`` marks such arrays)."""
        self._rules.append(what[0].name)
        for x in inputs:
            x = _value(x)
            self._known[id(x)] = x

    def _param(self, value: Any) -> Any:
        """A keyword parameter as the program reads it: an array some step produced (an index
        computed from the inputs) becomes a ``SlotParam``, also inside tuples (x[rows, labels])."""
        if isinstance(value, tuple):
            return tuple(self._param(v) for v in value)
        value = _value(value)
        if isinstance(value, (np.ndarray, np.generic)):
            ref = self.ref(value)
            if isinstance(ref, int):
                return SlotParam(ref)
        return value

    def ref(self, value: Any) -> Any:
        """The slot holding ``value`` if a step produced it (or it is an input), else a Constant."""
        seen = self._seen.get(id(value))
        return seen[0] if seen is not None else Constant(value)

    def _new_slot(self, value: Any) -> int:
        slot = len(self.values)
        self.values.append(value)
        self._seen[id(value)] = (slot, value)
        return slot


def _refuse_traced_masks(what: Any, params: Mapping[str, Any], values: list) -> None:
    """x[mask] with a mask computed from the inputs has as many elements as the mask has True
    values: a shape that depends on values, which a program traced once cannot follow."""
    for slot in (s for value in params.values() for s in _slots(value)):
        if np.asarray(values[slot]).dtype == bool:
            name = what[0].name if isinstance(what, tuple) else what.name
            raise JitError(
                f"jit: {name} with a boolean mask computed from the inputs: the number of "
                "elements it selects depends on the values, and a traced program has fixed shapes. "
                "Keep the shape with where(mask, x, 0) (and divide a mean by mask.sum())."
            )


def _value(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x
