"""L2 weight penalty, as in Nielsen's network2.py."""

from __future__ import annotations

from typing import Any

import autograd_core as ac


def l2_penalty(model: Any, lmbda: float, n: int) -> ac.Tensor:
    """(λ / 2n) Σ_W ‖W‖², over weights only (parameters with ``decay``; biases excluded).

    ``n`` is the size of the whole training set, not of the mini-batch: SGD with rate η
    on cost + penalty then updates w → (1 − ηλ/n) w − η ∂C/∂w, network2.py's rule.
    """
    if n <= 0:
        raise ValueError(f"l2_penalty: n is the training-set size and must be positive, got {n}")
    weights = [p for p in model.parameters() if getattr(p, "decay", False)]
    if not weights:
        raise ValueError(f"l2_penalty: {type(model).__name__} has no weights to penalise")
    return penalty_of(weights, lmbda, n)


def penalty_of(weights: list, lmbda: float, n: int) -> ac.Tensor:
    """(λ / 2n) Σ ‖W‖² of the given weights (l2_penalty's sum, for weights passed in)."""
    total = ac.sum(ac.mul(weights[0], weights[0]))
    for w in weights[1:]:
        total = ac.add(total, ac.sum(ac.mul(w, w)))
    return ac.mul(total, lmbda / (2.0 * n))
