"""Learning-rate schedules: small objects that change an optimizer's learning rate between epochs.

Each acts on every parameter group's ``lr`` (``optimizer.param_groups[i]["lr"]``),
multiplying it by ``factor``, as PyTorch's schedulers do, so a rate set by hand or
loaded from a checkpoint is where it continues from. Call ``step`` once per epoch, after
the epoch's optimizer steps. ``state_dict()`` / ``load_state_dict()`` hold the counts,
and ``Module.save(path, optimizer=..., schedule=...)`` keeps them in the checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _scale(optimizer: Any, factor: float, min_lr: float = 0.0) -> bool:
    """lr ← max(lr · factor, min_lr) in every group, never upwards (a rate already below
    min_lr stays, as in PyTorch); True if some group's lr changed."""
    changed = False
    for group in optimizer.param_groups:
        new = max(group["lr"] * factor, min_lr)
        if new < group["lr"]:
            group["lr"] = new
            changed = True
    return changed


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(getattr(optimizer, "param_groups", None), list):
        raise TypeError(f"{name}: the first argument is a {type(optimizer).__name__}, not an optimizer; "
                        f"pass the optimizer whose rate it changes, {name}(opt, ...).")


def _state_problems(name: str, state: Any, expected: Mapping[str, type]) -> list[str]:
    if not isinstance(state, Mapping) or sorted(state) != sorted(expected):
        found = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        return [f"{name}'s state has {found}, expected {sorted(expected)}"]
    problems = []
    for key, kind in expected.items():
        value = state[key]
        if kind is int and not (isinstance(value, int) and value >= 0):
            problems.append(f"{key} must be a whole number >= 0, got {value!r}")
        elif kind is float and not (isinstance(value, (int, float)) and not math.isnan(value)):
            problems.append(f"{key} must be a number, got {value!r}")
    return problems


def _load(target: Any, state: Mapping[str, Any]) -> None:
    problems = target.state_problems(state)
    if problems:
        raise ValueError(f"cannot load state into {type(target).__name__}; nothing was changed. "
                         + "; ".join(problems) + ".")
    for key, value in state.items():
        setattr(target, key, value)


class StepSchedule:
    """lr ← lr · ``factor`` every ``every`` epochs: ``step()`` once at the end of each epoch.

    PyTorch's ``StepLR(optimizer, step_size=every, gamma=factor)``.
    """

    def __init__(self, optimizer: Any, every: int, factor: float = 0.1) -> None:
        _check_optimizer("StepSchedule", optimizer)
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"StepSchedule: every is a number of epochs >= 1, got {every!r}.")
        if not (factor > 0 and math.isfinite(factor)):
            raise ValueError(f"StepSchedule: factor must be positive and finite, got {factor}.")
        self.optimizer = optimizer
        self.every = every
        self.factor = float(factor)
        self.epoch = 0                              # epochs completed

    def step(self) -> None:
        """One epoch is over: scale the rate if it was the ``every``-th."""
        self.epoch += 1
        if self.epoch % self.every == 0:
            _scale(self.optimizer, self.factor)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def state_problems(self, state: Any) -> list[str]:
        """Everything that stops ``load_state_dict(state)``; empty when it would succeed."""
        return _state_problems("StepSchedule", state, {"epoch": int})

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load(self, state)

    def __repr__(self) -> str:
        return f"StepSchedule(every={self.every}, factor={self.factor})"


class PlateauSchedule:
    """Nielsen's schedule (chapter 3): lr ← lr · ``factor`` (½) once the validation accuracy
    has not improved for ``patience`` epochs in a row; ``step(accuracy)`` once per epoch.

    ``mode="max"``: higher is better (an accuracy); ``"min"``: lower is better (a cost).
    "Improved" means better than the best so far, strictly. After a reduction the count
    of epochs without improvement starts again from 0. ``reductions`` counts the
    reductions: Nielsen stops when the rate has fallen to 1/128 of its start, which is
    ``schedule.reductions == 7`` with ``factor=0.5``. The rate never goes below ``min_lr``.

    PyTorch's ``ReduceLROnPlateau(optimizer, mode, factor, patience=patience - 1,
    threshold=0)`` does the same: its ``patience`` counts the epochs without improvement
    it tolerates, this one counts those after which it acts, as Nielsen's
    "no-improvement-in-ten" rule reads.
    """

    def __init__(self, optimizer: Any, patience: int = 10, factor: float = 0.5, mode: str = "max",
                 min_lr: float = 0.0) -> None:
        _check_optimizer("PlateauSchedule", optimizer)
        if not (isinstance(patience, int) and patience >= 1):
            raise ValueError(f"PlateauSchedule: patience is a number of epochs >= 1, got {patience!r}.")
        if not (0 < factor < 1):
            raise ValueError(f"PlateauSchedule: factor must lie in (0, 1), got {factor}.")
        if mode not in ("max", "min"):
            raise ValueError(f"PlateauSchedule: mode is 'max' (an accuracy) or 'min' (a cost), got {mode!r}.")
        if not (min_lr >= 0):
            raise ValueError(f"PlateauSchedule: min_lr must be >= 0, got {min_lr}.")
        self.optimizer = optimizer
        self.patience = patience
        self.factor = float(factor)
        self.mode = mode
        self.min_lr = float(min_lr)
        self.best = -math.inf if mode == "max" else math.inf
        self.bad_epochs = 0                         # epochs in a row without improvement
        self.reductions = 0

    def step(self, metric: float) -> None:
        """One epoch is over, with this validation ``metric``."""
        metric = float(metric)
        if math.isnan(metric):
            raise ValueError("PlateauSchedule.step: the metric is NaN; pass the epoch's validation accuracy.")
        if metric > self.best if self.mode == "max" else metric < self.best:
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.bad_epochs = 0
            if _scale(self.optimizer, self.factor, self.min_lr):
                self.reductions += 1

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "reductions": self.reductions}

    def state_problems(self, state: Any) -> list[str]:
        """Everything that stops ``load_state_dict(state)``; empty when it would succeed."""
        return _state_problems("PlateauSchedule", state,
                               {"best": float, "bad_epochs": int, "reductions": int})

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _load(self, state)

    def __repr__(self) -> str:
        return (f"PlateauSchedule(patience={self.patience}, factor={self.factor}, mode={self.mode!r}"
                + (f", min_lr={self.min_lr}" if self.min_lr else "") + ")")
