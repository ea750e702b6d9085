"""``detect_anomaly()``: find the operation whose gradient first became NaN or infinite.

Inside the block, every recorded operation remembers the line of *your* code that
created it (frames inside autograd_core are skipped), and backward checks every
gradient it computes. The first NaN or ±inf raises ``AnomalyError`` naming the
operation, the input index and that forward-pass line::

    with detect_anomaly():
        loss = model(x)          # records where each operation was created
        loss.backward()          # raises at the first non-finite gradient

Outside the block nothing is added to any operation: ``record()`` builds nodes with
whatever class ``tensor.Node`` names at call time, and this context manager swaps in
a subclass whose ``__init__`` also captures the location, then puts the previous class
back. The backward check uses the engine's ``backward.anomaly_check`` hook, which is
None (one local test per gradient) when off. Both are module globals, so anomaly mode
is process-wide, not per thread; blocks nest.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import backward as _backward
from . import tensor as _tensor
from .errors import AutogradError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class AnomalyError(AutogradError):
    """A gradient became NaN or infinite; the message names the operation and its source line."""


def _user_location() -> str | None:
    """'File "train.py", line 12, in step\\n    h = x @ W' for the first frame outside autograd_core."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            line = linecache.getline(filename, frame.f_lineno).strip()
            where = f'File "{filename}", line {frame.f_lineno}, in {frame.f_code.co_name}'
            return where + (f"\n    {line}" if line else "")
        frame = frame.f_back
    return None


def _node_class_recording_location(base: type) -> type:
    class LocatedNode(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            base.__init__(self, *args)
            self.created_at = _user_location()

    LocatedNode.__name__ = LocatedNode.__qualname__ = "Node"
    LocatedNode.records_location = True
    return LocatedNode


def _check_gradient(node: Any, index: int, grad: Any) -> None:
    values = grad.data if isinstance(grad, _tensor.Tensor) else np.asarray(grad)
    if np.all(np.isfinite(values)):
        return
    kind = "NaN" if np.any(np.isnan(values)) else "infinity"
    where = node.created_at or (
        "(unknown: the operation was recorded outside detect_anomaly(); run the forward pass "
        "inside the block too)"
    )
    out = node.out
    if out is not None and not np.all(np.isfinite(out)):
        cause = ("Its forward result is already non-finite, so the problem starts in the forward "
                 "pass at that line.")
    else:
        cause = ("Its forward result is finite: the rule meets a singular point (log or division "
                 "at 0, sqrt at 0, overflow) or received a non-finite upstream gradient.")
    raise AnomalyError(
        f"the gradient computed by '{node.op.name}' for its input {index} contains {kind} "
        f"(shape {tuple(values.shape)}). The operation was created at:\n  {where}\n{cause} "
        "Clip or offset the input (log(x + eps)), or use a stable composite (log_softmax)."
    )


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Record each operation's source line; raise ``AnomalyError`` at the first NaN/inf gradient."""
    previous_node, previous_check = _tensor.Node, _backward.anomaly_check
    if not getattr(previous_node, "records_location", False):
        # Nested blocks keep the outer block's class: one location per node, taken once.
        _tensor.Node = _node_class_recording_location(previous_node)
    _backward.anomaly_check = _check_gradient
    try:
        yield
    finally:
        _tensor.Node = previous_node
        _backward.anomaly_check = previous_check
