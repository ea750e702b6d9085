"""Batch normalisation: each example's output now depends on the whole batch.

The cost is no longer an average of independent per-example costs, so the per-example
reasoning of BP1–BP4 does not apply as such, while the engine differentiates it like
any other expression (tests check it against finite differences).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_core as ac

from .module import Module, Parameter


class BatchNorm(Module):
    """y = γ ⊙ (x − μ_B)/√(σ²_B + ε) + β over the batch axis (training), or with running statistics (eval).

    Running statistics are updated in training as r ← (1 − momentum) r + momentum·stat,
    with the unbiased batch variance (as PyTorch does); they are saved in checkpoints.
    """

    _buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        if int(num_features) < 1:
            raise ValueError(f"BatchNorm: num_features must be positive, got {num_features}")
        self.num_features = int(num_features)
        self.momentum = momentum
        self.eps = eps
        self.gamma = Parameter(np.ones(num_features), name="gamma")
        self.beta = Parameter(np.zeros(num_features), name="beta")
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)

    def forward(self, x: Any) -> ac.Tensor:
        shape = np.shape(x.data if isinstance(x, ac.Tensor) else x)
        if len(shape) != 2 or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}): input has shape {shape}; "
                f"expected (batch, {self.num_features})."
            )
        if not self.training:
            scale = 1.0 / np.sqrt(self.running_var + self.eps)
            return ac.add(ac.mul(ac.mul(ac.sub(x, self.running_mean), scale), self.gamma), self.beta)
        if shape[0] < 2:
            raise ValueError(
                f"BatchNorm({self.num_features}): training needs a batch of at least 2 rows to estimate "
                f"a variance, got shape {shape}. Use eval() for single examples."
            )
        if ac.is_tracing():
            raise ac.JitError(
                f"BatchNorm({self.num_features}): training updates the running mean and variance, "
                "which a jitted function would do only when traced. Jit the evaluation "
                "(model.eval()), or train this model without jit."
            )
        mu = ac.mean(x, axis=0)
        centred = ac.sub(x, mu)
        var = ac.mean(ac.mul(centred, centred), axis=0)
        x_hat = ac.div(centred, ac.sqrt(ac.add(var, self.eps)))
        m = self.momentum
        n = shape[0]
        self.running_mean = (1 - m) * self.running_mean + m * mu.data
        self.running_var = (1 - m) * self.running_var + m * var.data * n / (n - 1)
        return ac.add(ac.mul(x_hat, self.gamma), self.beta)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"
