"""One mini-batch's cost and gradients for ``fit``: replayed by ``jit`` when the model allows.

``fit`` asks a ``TrainStep`` for the cost of a mini-batch and the gradient of every
parameter. With jit, the step is ``jit(value_and_grad(loss))`` of the model's loss written
as a function of its parameters (``functional_call``): traced on the first mini-batch of
each shape, then replayed as a straight-line program. It computes the same operations in
the same order as the eager step, so the numbers are the same; it only skips the
bookkeeping. A model that jit cannot trace (Dropout or BatchNorm in training mode)
raises JitError when traced; the step then runs eagerly, and ``reason`` says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_core as ac

from .module import functional_call
from .regularization import penalty_of


class TrainStep:
    """``step(xb, yb)`` -> (cost as a float, {parameter name: gradient}), by jit or eagerly."""

    def __init__(self, model: Any, cost: Any, lmbda: float, n: int, use_jit: bool | None) -> None:
        self.model, self.cost, self.lmbda, self.n = model, cost, lmbda, n
        self.parameters = dict(model.named_parameters())
        # Frozen parameters (requires_grad False) are an argument that is not differentiated:
        # they get no gradient, and the optimizer skips them, as after an eager backward().
        self.trainable = [name for name, p in self.parameters.items() if p.requires_grad]
        self.frozen = [name for name in self.parameters if name not in self.trainable]
        self.decayed = [name for name, p in self.parameters.items() if getattr(p, "decay", False)]
        self.jitted = ac.jit(ac.value_and_grad(self.loss)) if use_jit is not False else None
        self.required = use_jit is True
        self.reason = "" if self.jitted else "jit=False"

    @property
    def uses_jit(self) -> bool:
        return self.jitted is not None

    def loss(self, trainable: dict, frozen: dict, xb: Any, yb: Any) -> Any:
        """The mini-batch's cost, with Nielsen's L2 term, as a function of the parameters."""
        params = {**trainable, **frozen}
        value = self.cost(functional_call(self.model, params, xb), yb)
        if self.lmbda:
            value = value + penalty_of([params[name] for name in self.decayed], self.lmbda, self.n)
        return value

    def __call__(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, dict]:
        if self.jitted is not None:
            trainable = {name: self.parameters[name].data for name in self.trainable}
            frozen = {name: self.parameters[name].data for name in self.frozen}
            try:
                value, grads = self.jitted(trainable, frozen, xb, yb)
                return float(value), {**grads, **dict.fromkeys(self.frozen)}
            except (ac.JitError, ac.BackwardError) as error:
                # BackwardError: a parameter the loss does not use (eager leaves its .grad None).
                if self.required:
                    raise
                self.jitted, self.reason = None, str(error)
        return self._eager(xb, yb)

    def _eager(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, dict]:
        loss = self.cost(self.model(xb), yb)
        if self.lmbda:
            loss = loss + penalty_of([self.parameters[name] for name in self.decayed], self.lmbda, self.n)
        value = loss.item()
        if not np.isfinite(value):
            return value, {}
        for p in self.parameters.values():
            p.grad = None
        loss.backward()
        return value, {name: p.grad for name, p in self.parameters.items()}
