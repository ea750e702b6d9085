"""Observing operations as they run: how ``jit`` learns what a function computes.

While an observer is registered (``observing``), the engine tells it about every
primitive it runs forward (``record``) and every gradient rule it applies on a
backward pass, with the values that went in and the value that came out. ``jit``
turns that list into a straight-line program. With no observer, each hook is one
test of an empty list.

An observed run must be replayable from the values the observer saw, so while one is
observed the engine refuses what a replay could not repeat: an in-place write, a
``.backward()`` that fills ``.grad`` as a side effect, and turning a tensor's value
into a Python or numpy value (``bool(t)``, ``float(t)``, ``t > 0``), whose later use
the observer cannot see. Inside a gradient rule this last one is allowed: rules run
on plain arrays when replayed, so what they compute inside stays inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import JitError


class _State:
    def __init__(self) -> None:
        self.observers: list[Any] = []
        self.rule_depth = 0         # > 0 while a gradient rule is running under an observer


state = _State()


@contextlib.contextmanager
def observing(observer: Any) -> Iterator[Any]:
    """Call ``observer.saw(...)`` for every operation run inside the block (see ``announce``)."""
    state.observers.append(observer)
    try:
        yield observer
    finally:
        state.observers.remove(observer)


def announce(function: Any, what: Any, inputs: tuple, params: Any, result: Any) -> None:
    """``result = function(*inputs, **params)`` just ran; ``what`` is a Primitive (a forward)
    or ``(primitive, input index)`` (a gradient rule)."""
    for observer in state.observers:
        observer.saw(function, what, inputs, params, result, state.rule_depth > 0)


def call_rule(vjp: Any, what: tuple, g: Any, out: Any, args: Any, params: Any) -> Any:
    """Apply a gradient rule and announce it as one operation."""
    for observer in state.observers:
        observer.rule_starts(what, (g, out, *args))
    state.rule_depth += 1
    try:
        grad = vjp(g, out, *args, **params)
    finally:
        state.rule_depth -= 1
    announce(vjp, what, (g, out, *args), params, grad)
    return grad


def refuse(what: str, instead: str) -> None:
    """Raise when a watched run does something its replay could not repeat."""
    if state.observers and state.rule_depth == 0:
        raise JitError(
            f"jit: {what} inside a traced function. The traced program replays array "
            f"operations only, so this would not happen again on later calls. {instead}"
        )


def is_tracing() -> bool:
    """True while ``jit`` traces a function: code that computes with values outside the
    engine's operations (a random mask, a running average) can refuse then."""
    return bool(state.observers)
