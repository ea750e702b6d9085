"""The traced program: the steps an output needs, written out as a straight-line Python function.

``Program`` keeps only the steps that some output needs (the gradient of the data
batch, computed by the backward pass because the tracer asked for every input, is
dropped here), then writes them as the source of one Python function, one line per
step::

    def program(a0, a1, a2, a3, a4, a5):
        v0 = transpose(a0)                    # (784, 30) float64
        v1 = matmul(a4, v0)                   # (10, 30) float64
        ...

``str(program)`` is that source, with the shape and formula of each step as a
comment: the backward half is the chain of VJPs the engine applied, in its order.
``program.run(arrays)`` calls the compiled function. The source is compiled on the
first ``run``, not when tracing: compiling is the larger part of the cost of a
trace, and the call that traces already has its results.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import JitError
from ..node import OUTPUT_NOT_SAVED, NotSaved
from .fuse import fuse
from .trace import Constant, SlotParam, Step, Tracer

# Parameter values written into the source as they are: repr() of these reads back equal.
_LITERAL_TYPES = (bool, int, str, type(None))


class Program:
    """A straight-line program: the needed steps of a trace, from input slots to outputs.

    ``outputs`` holds a slot or a Constant per array of the result, and ``skeleton`` the
    result's structure (tuples, lists, dicts), which the program's return line rebuilds.
    """

    def __init__(self, tracer: Tracer, outputs: Sequence[Any], skeleton: Any, name: str) -> None:
        self.name = name
        self.inputs = list(tracer.inputs)
        self.outputs = [Constant(ref.value.copy()) if isinstance(ref, Constant)
                        and isinstance(ref.value, np.ndarray) else ref for ref in outputs]
        self.skeleton = skeleton
        self.steps = _needed_steps(tracer.steps, self.outputs)
        _refuse_unseen(self.steps)
        shapes = {slot: np.shape(value) for slot, value in enumerate(tracer.values)}
        self.steps = fuse(self.steps, self.outputs, shapes)
        copies: dict[int, Constant] = {}
        for step in self.steps:
            # An array captured from the caller's scope keeps the value it had when traced: a
            # copy, one per array however many steps read it.
            step.inputs = tuple(
                copies.setdefault(id(ref.value), Constant(ref.value.copy()))
                if isinstance(ref, Constant) and isinstance(ref.value, np.ndarray) else ref
                for ref in step.inputs)
        self.input_shapes = [(np.shape(tracer.values[s]), np.asarray(tracer.values[s]).dtype)
                             for s in self.inputs]
        # Outputs the program must copy or convert: one that is (a view of) an input, a constant
        # or another output's array would be shared with the caller; a 0-d result may be a numpy scalar
        # (numpy's result for 0-d operands), returned as a 0-d array, as eager calls return.
        self.copied: set[int] = set()
        self.converted: set[int] = set()
        seen: set[int] = set()
        for position, ref in enumerate(self.outputs):
            value = tracer.values[ref] if isinstance(ref, int) else ref.value
            if value is None:
                continue                        # returned as it is
            shares = any(np.may_share_memory(value, tracer.values[s]) for s in self.inputs)
            if isinstance(ref, Constant) or shares or ref in seen:
                self.copied.add(position)
            elif np.ndim(value) == 0:
                self.converted.add(position)
            if isinstance(ref, int):
                seen.add(ref)
        self.checked = False        # the first replay is checked against running f (see jitted)
        self._written: tuple[str, dict[str, Any], dict[int, str]] | None = None
        self._compiled: Any = None

    @property
    def source(self) -> str:
        """The program as the source of a Python function, ``program(a0, a1, ...)``."""
        return self._write()[0]

    def run(self, arrays: Sequence[Any]) -> Any:
        """The result for new input arrays of the traced shapes and dtypes."""
        if self._compiled is None:
            source, names, _ = self._write()
            namespace = dict(names)
            exec(compile(source, f"<jit program of {self.name}>", "exec"), namespace)
            self._compiled = namespace["program"]
        return self._compiled(*arrays)

    def _write(self) -> tuple[str, dict[str, Any], dict[int, str]]:
        if self._written is None:
            self._written = _write(self)
        return self._written

    def __len__(self) -> int:
        return len(self.steps)

    def __str__(self) -> str:
        """The source, with what each input and constant is, and each line's shape and formula."""
        source, names, comments = self._write()
        header = [f"# a{k}: {shape} {dtype}" for k, (shape, dtype) in enumerate(self.input_shapes)]
        header += [f"# {name} = {_short(value)}" for name, value in names.items()
                   if not callable(value)]
        if any(step.is_rule for step in self.steps):
            header.append("# A VJP step calls the rule as rule(g, out, *inputs); no_out: an output the "
                          "rule does not read; shape_of: an input it reads the shape of only.")
        if any(name.startswith("c") and not callable(value) for name, value in names.items()):
            header.append("# c...: values computed from constants alone, once, when tracing.")
        lines = source.splitlines()
        width = min(60, max((len(line) for i, line in enumerate(lines) if i in comments), default=0))
        body = [line + " " * max(2, width - len(line) + 2) + f"# {comments[i]}"
                if i in comments else line for i, line in enumerate(lines)]
        return "\n".join(header + body)

    def __repr__(self) -> str:
        return f"<jit program of {self.name}: {len(self.steps)} steps>"


def _needed_steps(steps: list[Step], outputs: Sequence[Any]) -> list[Step]:
    """The steps on some path to an output, in their order (dead-code elimination)."""
    needed = {ref for ref in outputs if isinstance(ref, int)}
    kept = []
    for step in reversed(steps):
        if step.output in needed:
            kept.append(step)
            needed.update(step.reads)
    kept.reverse()
    return kept


def _refuse_unseen(steps: list[Step]) -> None:
    for step in steps:
        if step.unseen is not None:
            raise JitError(
                f"jit: a second derivative goes through the gradient rule of '{step.unseen}', "
                "which computes part of its result with plain numpy (a mask such as out > 0). "
                "The tracer cannot see that part, so a replay could not recompute it. Call this "
                "function without jit."
            )


# ------------------------------------------------------------------------ writing source
def _write(program: Program) -> tuple[str, dict[str, Any], dict[int, str]]:
    """The function's source, the names it uses, and a comment per line number."""
    names = _Names()
    slot_names = {slot: f"a{k}" for k, slot in enumerate(program.inputs)}
    comments: dict[int, str] = {}
    lines = [f"def program({', '.join(slot_names[s] for s in program.inputs)}):"]
    for count, step in enumerate(program.steps):
        slot_names[step.output] = f"v{count}"
    dead_after = _last_reads(program)
    for position, step in enumerate(program.steps):
        function = names.function(step)
        arguments = [slot_names[ref] if isinstance(ref, int) else names.constant(ref.value)
                     for ref in step.inputs]
        arguments += [f"{key}={_parameter(value, slot_names, names)}" for key, value in step.params.items()]
        lines.append(f"    {slot_names[step.output]} = {function}({', '.join(arguments)})")
        comments[len(lines) - 1] = _comment(step)
        if dead_after.get(position):
            # Dropping values no later step reads: their memory is free for the next arrays
            # (large arrays are then reused rather than fetched from the system again).
            lines.append(f"    del {', '.join(slot_names[slot] for slot in dead_after[position])}")
    results = []
    for position, ref in enumerate(program.outputs):
        text = slot_names[ref] if isinstance(ref, int) else names.constant(ref.value)
        if position in program.copied:
            text = f"{names.named(np.array, 'array')}({text})"       # an array of its own
        elif position in program.converted:
            text = f"{names.named(np.asarray, 'asarray')}({text})"   # a numpy scalar -> 0-d array
        results.append(text)
    lines.append(f"    return {_structure(program.skeleton, iter(results), names)}")
    return "\n".join(lines) + "\n", names.namespace, comments


def _structure(skeleton: Any, results: Any, names: _Names) -> str:
    """The return expression: the output's tuples, lists and dicts around the results."""
    if isinstance(skeleton, dict):
        items = [f"{names.parameter(key)}: {_structure(value, results, names)}"
                 for key, value in skeleton.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(skeleton, (tuple, list)) and not isinstance(skeleton, np.ndarray):
        items = [_structure(value, results, names) for value in skeleton]
        if isinstance(skeleton, list):
            return "[" + ", ".join(items) + "]"
        if type(skeleton) is tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return f"{names.named(type(skeleton), type(skeleton).__name__)}({', '.join(items)})"
    return next(results)


def _last_reads(program: Program) -> dict[int, list[int]]:
    """Step position -> the slots made by steps that no later step reads, nor the outputs."""
    last: dict[int, int] = {}
    for position, step in enumerate(program.steps):
        for slot in step.reads:
            last[slot] = position
    made = {step.output for step in program.steps}
    kept = {ref for ref in program.outputs if isinstance(ref, int)}
    dead_after: dict[int, list[int]] = {}
    for slot, position in last.items():
        if slot in made and slot not in kept:
            dead_after.setdefault(position, []).append(slot)
    return {position: sorted(slots) for position, slots in dead_after.items()}


def _parameter(value: Any, slot_names: dict[int, str], names: _Names) -> str:
    if isinstance(value, SlotParam):
        return slot_names[value.slot]
    if isinstance(value, tuple) and any(isinstance(v, (SlotParam, tuple)) for v in value):
        items = [_parameter(v, slot_names, names) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return names.parameter(value)


def _comment(step: Step) -> str:
    shape = f"{step.shape} {step.dtype}" if step.dtype is not None else f"{step.shape}"
    if step.is_rule:
        primitive, index = step.what
        return f"{shape}   VJP of {primitive.name} for input {index}: {_rule_formula(primitive, index)}"
    return f"{shape}   {step.primitive.formula.split(';')[0]}"


def _rule_formula(primitive: Any, index: int) -> str:
    """The part of the primitive's formula that gives this input's gradient."""
    parts = [part.strip() for part in primitive.formula.split(";", 1)[-1].split(",")]
    names = primitive.input_names
    wanted = names[index] if index < len(names) else None
    for part in parts:
        # "x̄" is x and a combining macron; "ȳ" is one character: compare decomposed.
        if wanted is not None and unicodedata.normalize("NFD", part).startswith(wanted + "\u0304"):
            return part
    return primitive.formula.split(";", 1)[-1].strip()


def _short(value: Any) -> str:
    """A constant in one line: small arrays in full, others by shape."""
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"array of shape {value.shape}, {value.dtype}"
    return " ".join(repr(value).split())


class _Names:
    """Names for the functions and constants the source refers to, kept in ``namespace``."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self._by_id: dict[int, str] = {}

    def function(self, step: Step) -> str:
        if step.is_rule:
            primitive, index = step.what
            base = f"{primitive.name}_vjp{index}"
        else:
            base = step.primitive.name
        return self._name_for(step.function, base)

    def constant(self, value: Any) -> str:
        if type(value) is float and np.isfinite(value) or type(value) in _LITERAL_TYPES:
            return repr(value)
        if value is OUTPUT_NOT_SAVED:
            return self._name_for(value, "no_out")       # the output, which no rule declared
        if isinstance(value, NotSaved):
            return self._name_for(value, "shape_of")     # an input's shape and dtype, no values
        return self._name_for(value, "c")

    def named(self, value: Any, base: str) -> str:
        return self._name_for(value, base)

    def parameter(self, value: Any) -> str:
        if type(value) is tuple and all(type(v) in _LITERAL_TYPES for v in value):
            return repr(value)
        return self.constant(value)

    def _name_for(self, value: Any, base: str) -> str:
        name = self._by_id.get(id(value))
        if name is not None:
            return name
        base = re.sub(r"\W", "_", base)
        if not base.isidentifier() or keyword.iskeyword(base):
            base = "f_" + base
        name, count = base, 1
        while name in self.namespace or name in ("program",) or re.fullmatch(r"[av]\d+", name):
            name, count = f"{base}{count}", count + 1
        self.namespace[name] = value
        self._by_id[id(value)] = name
        return name


__all__ = ["Constant", "Program"]
