"""Exceptions raised by the engine, and the helpers that word their messages.

Every message says what went wrong, where (the operation and the shapes), and
what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AutogradError(RuntimeError):
    """Base class of errors raised by autograd_core itself."""


class BackwardError(AutogradError):
    """backward() cannot run: wrong seed gradient, freed graph, nothing to differentiate."""


class ShapeError(AutogradError, ValueError):
    """An operation got shapes it cannot combine, or a gradient rule returned a wrong shape."""


class InplaceError(AutogradError):
    """A value saved for the backward pass was modified in place, or an in-place op is unsafe."""


def describe_shapes(values: Sequence[Any]) -> str:
    """'(10, 784) and (30, 784)': the shapes of the tensor-like operands of an operation."""
    shapes = [str(tuple(getattr(v, "shape", ()))) for v in values]
    if len(shapes) <= 2:
        return " and ".join(shapes)
    return ", ".join(shapes[:-1]) + " and " + shapes[-1]


def is_shape_mismatch(error: ValueError) -> bool:
    """True for numpy's complaints about shapes that do not broadcast or do not multiply."""
    message = str(error)
    return "could not be broadcast" in message or "mismatch in its core dimension" in message


def forward_shape_error(op_name: str, values: Sequence[Any], cause: Exception) -> ShapeError:
    """Reword numpy's complaint about a forward computation so that it names the op."""
    shapes = describe_shapes(values)
    if op_name == "matmul" and len(values) == 2:
        x, y = (getattr(v, "shape", ()) for v in values)
        inner_x = x[-1] if len(x) else None
        inner_y = (y[-2] if len(y) >= 2 else y[0]) if len(y) else None
        hint = ""
        if len(x) >= 1 and len(y) >= 2 and x[-1] == y[-1]:
            hint = " The last dimensions agree: did you mean x @ W.T?"
        return ShapeError(
            f"matmul: cannot multiply shapes {shapes}: the last dimension of the left operand "
            f"({inner_x}) must equal the {'first' if len(y) == 1 else 'second-to-last'} dimension "
            f"of the right operand ({inner_y}).{hint}"
        )
    return ShapeError(
        f"{op_name}: cannot combine operands of shapes {shapes} ({cause}). Shapes broadcast when, "
        "comparing from the last dimension, each pair is equal or one of them is 1; reshape or "
        "transpose an operand, or add a length-1 axis with expand_dims, so that they line up."
    )


class JitError(AutogradError):
    """A function cannot be traced into a straight-line program (see ``autograd_core.jit``)."""
