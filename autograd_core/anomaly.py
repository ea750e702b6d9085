"""``detect_anomaly()``: find the operation whose gradient first became NaN or infinite.

Inside the block, every recorded operation remembers the line of *your* code that
created it (frames inside autograd_core are skipped), and backward checks every
gradient it computes. The first NaN or ±inf raises ``AnomalyError`` naming the
operation, the input index and that forward-pass line::

    with detect_anomaly():
        loss = model(x)          # records where each operation was created
        loss.backward()          # raises at the first non-finite gradient

Anomaly mode is one flag (``is_enabled()``) that recording and the backward pass read:
when it is off they do nothing more than test it. It is process-wide, not per thread,
and blocks nest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import linecache
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import AutogradError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _AnomalyState:
    """``enabled`` while some ``detect_anomaly()`` block is open (they nest: a count)."""

    def __init__(self) -> None:
        self.open_blocks = 0
        self.enabled = False


#: Read by recording and by the backward pass: ``state.enabled``.
state = _AnomalyState()


class AnomalyError(AutogradError):
    """A gradient became NaN or infinite; the message names the operation and its source line."""


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where an operation was recorded, kept on its node under ``detect_anomaly()``."""

    location: str | None        # 'File "train.py", line 12, in step\n    h = x @ W'
    result_is_finite: bool      # whether the forward result had no NaN or inf


def is_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return state.enabled


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Record each operation's source line; raise ``AnomalyError`` at the first NaN/inf gradient."""
    state.open_blocks += 1
    state.enabled = True
    try:
        yield
    finally:
        state.open_blocks -= 1
        state.enabled = state.open_blocks > 0


def origin_of(out: np.ndarray) -> Origin:
    """Called when an operation is recorded in anomaly mode, with its forward result."""
    return Origin(_user_location(), bool(np.all(np.isfinite(out))))


def _user_location() -> str | None:
    """The first frame of the call stack outside autograd_core: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            line = linecache.getline(filename, frame.f_lineno).strip()
            where = f'File "{filename}", line {frame.f_lineno}, in {frame.f_code.co_name}'
            return where + (f"\n    {line}" if line else "")
        frame = frame.f_back
    return None


def check_gradient(node: Any, index: int, grad: Any) -> None:
    """Raise ``AnomalyError`` if the gradient ``node``'s rule computed for input ``index`` is not finite."""
    values = np.asarray(grad)         # a Tensor (create_graph=True) converts through __array__
    if np.all(np.isfinite(values)):
        return
    kind = "NaN" if np.any(np.isnan(values)) else "infinity"
    origin = node.origin
    if origin is None:
        where = ("(unknown: the operation was recorded outside detect_anomaly(); run the forward "
                 "pass inside the block too)")
        cause = ""
    elif origin.result_is_finite:
        where = origin.location
        cause = ("Its forward result is finite: the rule meets a singular point (log or division "
                 "at 0, sqrt at 0, overflow) or received a non-finite upstream gradient. ")
    else:
        where = origin.location
        cause = ("Its forward result is already non-finite, so the problem starts in the forward "
                 "pass at that line. ")
    raise AnomalyError(
        f"the gradient computed by '{node.op.name}' for its input {index} contains {kind} "
        f"(shape {tuple(values.shape)}). The operation was created at:\n  {where}\n{cause}"
        "Clip or offset the input (log(x + eps)), or use a stable composite (log_softmax)."
    )
