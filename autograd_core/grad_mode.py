"""Whether operations are recorded: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is thread-local, as in PyTorch: turning recording off in one thread
never changes what another thread records. Each helper works both as a context
manager and as a decorator.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState(threading.local):
    # Class attributes are the per-thread defaults: every new thread starts recording.
    enabled = True


#: This thread's flag, read by recording: ``state.enabled``.
state = _GradState()


def is_grad_enabled() -> bool:
    """True when new operations are recorded on the tape (the default)."""
    return state.enabled


class _GradModeContext:
    """Sets the recording flag for the duration of a ``with`` block or of a decorated call."""

    _mode: bool

    def __enter__(self) -> None:
        self._previous = state.enabled
        state.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._previous

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = previous

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Record nothing inside: results do not require grad and keep no graph alive.

    Use it for evaluation and for parameter updates::

        with no_grad():
            W -= lr * W.grad
    """

    _mode = False


class enable_grad(_GradModeContext):
    """Record again inside a ``no_grad`` region."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Turn recording on or off: at once when called, undone at the end of a ``with`` block.

    As in PyTorch, ``set_grad_enabled(False)`` as a plain call switches recording off
    for this thread until switched back; as ``with`` or as a decorator it restores
    the previous state on exit, even when an exception leaves the block.
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._previous = state.enabled
        state.enabled = self._mode

    def __enter__(self) -> None:
        # The switch already happened in __init__; keep the state from before it.
        return None

    def __call__(self, fn: F) -> F:
        # Used as a decorator: undo the switch made by __init__, apply it per call.
        state.enabled = self._previous
        return super().__call__(fn)
