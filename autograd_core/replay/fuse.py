"""Fusing known patterns of the engine's rules in a traced program: the compiler's job.

A pattern is a few consecutive rule steps that one numpy expression computes with the
same values; the program calls that expression once instead of each rule. Each is kept
only for a measured gain (docs/performance.md), and the printed program shows it by name.

- ``weight_gradient``: for ``z = x @ W.T``, the gradient of ``W`` is matmul's rule for its
  right input, (gᵀ x)ᵀ, then transpose's rule, which transposes it back: gᵀ x, in W's
  own layout, with the two rules' index juggling and one call instead of two.
- ``square_gradient``: for ``z = x * x``, mul's rules give g ⊙ x for each input and the
  engine adds the two: 2 (g ⊙ x), exactly (doubling rounds nothing), one call for three.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from .trace import Constant, Step


@dataclasses.dataclass(frozen=True)
class Fused:
    """What a fused step computes, named for the printed program (as a Primitive would be)."""

    name: str
    formula: str


def weight_gradient(g: Any, x: Any) -> Any:
    return g.T @ x


WEIGHT_GRADIENT = Fused("weight_gradient", "W̄ = gᵀ x  (fused: matmul's rule for y = Wᵀ, then transpose's)")


def square_gradient(g: Any, x: Any) -> Any:
    return (g * x) * 2


SQUARE_GRADIENT = Fused("square_gradient", "x̄ = 2 (g ⊙ x)  (fused: mul's two rules for x ⊙ x, added)")


def fuse(steps: list[Step], outputs: list[Any], shapes: dict[int, tuple]) -> list[Step]:
    """``steps`` with the known patterns replaced; ``shapes`` gives each slot's traced shape."""
    readers = Counter(slot for step in steps for slot in step.reads)
    readers.update(ref for ref in outputs if isinstance(ref, int))
    made_by = {step.output: step for step in steps}
    replaced: dict[int, Step] = {}            # output slot of a step -> the step that replaces it
    dropped: set[int] = set()
    for step in steps:
        first = made_by.get(step.inputs[0]) if isinstance(step.inputs[0], int) else None
        if _is_weight_gradient(step, first, readers, shapes):
            g, x = first.inputs[0], first.inputs[2]
            replaced[step.output] = Step(weight_gradient, WEIGHT_GRADIENT, (g, x), {}, step.output,
                                         step.shape, step.dtype)
            dropped.add(first.output)
        last = step.inputs[-1]
        second = made_by.get(last) if len(step.inputs) == 2 and isinstance(last, int) else None
        if _is_square_gradient(step, first, second, readers):
            g, x = first.inputs[0], first.inputs[2]
            replaced[step.output] = Step(square_gradient, SQUARE_GRADIENT, (g, x), {}, step.output,
                                         step.shape, step.dtype)
            dropped.update((first.output, second.output))
    return [replaced.get(step.output, step) for step in steps if step.output not in dropped]


def _is_weight_gradient(step: Step, first: Step | None, readers: Counter, shapes: dict) -> bool:
    """``step`` is transpose's rule (2-D, axes None) applied to matmul's rule for its right
    input, whose result nothing else reads; and that matmul multiplied two 2-D arrays."""
    if first is None or not (step.is_rule and first.is_rule):
        return False
    if (step.primitive.name, step.what[1]) != ("transpose", 0) or step.params.get("axes") is not None:
        return False
    if (first.primitive.name, first.what[1]) != ("matmul", 1) or readers[first.output] != 1:
        return False
    x, y = first.inputs[2], first.inputs[3]
    return all(len(_shape(ref, shapes)) == 2 for ref in (first.inputs[0], x, y))


def _is_square_gradient(step: Step, first: Step | None, second: Step | None, readers: Counter) -> bool:
    """``step`` adds mul's rule for input 0 and for input 1 of one x ⊙ x (same x, same g, no
    broadcasting), results nothing else reads."""
    if first is None or second is None or step.is_rule or step.primitive.name != "add":
        return False
    if not (first.is_rule and second.is_rule) or {first.primitive.name, second.primitive.name} != {"mul"}:
        return False
    if {first.what[1], second.what[1]} != {0, 1} or readers[first.output] != 1 or readers[second.output] != 1:
        return False
    x = first.inputs[2]
    same_x = all(_same_ref(x, ref) for ref in (first.inputs[3], second.inputs[2], second.inputs[3]))
    same_g = _same_ref(first.inputs[0], second.inputs[0])
    return same_x and same_g and first.shape == second.shape == step.shape


def _same_ref(a: Any, b: Any) -> bool:
    """The same slot, or the very same constant (constants are compared by identity)."""
    return a is b or (isinstance(a, int) and isinstance(b, int) and a == b)


def _shape(ref: Any, shapes: dict) -> tuple:
    value = ref.value if isinstance(ref, Constant) else None
    return tuple(getattr(value, "shape", ())) if isinstance(ref, Constant) else shapes.get(ref, ())
