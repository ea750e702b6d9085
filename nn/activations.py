"""Activations as modules, each one call into the engine's table (no rules of their own).

Their repr, ``Sigmoid()``, comes from ``Module.__repr__``.
"""

from __future__ import annotations

from typing import Any

import autograd_core as ac

from .module import Module


class Sigmoid(Module):
    """σ(z) = 1 / (1 + e⁻ᶻ); its rule σ' = σ(1 − σ) is the σ'(z^l) of BP1 and BP2."""

    def forward(self, z: Any) -> ac.Tensor:
        return ac.sigmoid(z)


class Tanh(Module):
    """tanh(z)."""

    def forward(self, z: Any) -> ac.Tensor:
        return ac.tanh(z)


class ReLU(Module):
    """max(z, 0), with relu'(0) = 0."""

    def forward(self, z: Any) -> ac.Tensor:
        return ac.relu(z)


class Softmax(Module):
    """e^{z_j} / Σ_k e^{z_k} along ``axis`` (stable: built on logsumexp)."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, z: Any) -> ac.Tensor:
        return ac.softmax(z, axis=self.axis)

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"


class Identity(Module):
    """z unchanged (a linear output layer)."""

    def forward(self, z: Any) -> Any:
        return z
