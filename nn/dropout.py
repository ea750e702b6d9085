"""Dropout (Nielsen, chapter 3): in training, each activation is dropped with probability p.

Inverted dropout, as PyTorch does: the kept activations are scaled by 1/(1 − p) during
training, so that their expected value is unchanged and evaluation needs no rescaling;
Nielsen halves the outgoing weights at test time instead, which gives the same network.
In eval mode (``model.eval()``) the layer is the identity.

The mask is a constant of the graph (``x * mask``, the engine's ``mul``): the gradient of
a dropped activation is 0 and a kept one's is scaled by 1/(1 − p), by mul's rule.

Masks are repeatable and part of the checkpoint: the k-th mask drawn in training comes
from ``np.random.default_rng((seed, k))``, and ``seed`` and the count ``calls`` are the
layer's buffers, saved by ``Module.save``. A model loaded from a checkpoint therefore
draws the masks the uninterrupted run would have drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_core as ac

from .module import Module


class Dropout(Module):
    """Training: x ⊙ m / (1 − p), each mᵢ = 0 with probability p and 1 otherwise; eval: x.

    ``seed`` (a non-negative integer) makes the masks repeatable; None draws one from the
    operating system. ``p`` in [0, 1): with p = 1 nothing would pass (and 1/(1 − p) is
    infinite).
    """

    _buffer_names = ("seed", "calls")

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        if not (0 <= p < 1):                    # NaN fails this comparison
            raise ValueError(f"Dropout: p is the probability of dropping an entry, in [0, 1); got p={p}.")
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        if int(seed) < 0:
            raise ValueError(f"Dropout: seed must be a non-negative integer, got {seed}.")
        self.p = float(p)
        # 0-d arrays, not ints: buffers are loaded in place (Module.load_state_dict).
        self.seed = np.array(int(seed), dtype=np.int64)
        self.calls = np.array(0, dtype=np.int64)   # masks drawn so far

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0:
            return x
        if ac.is_tracing():
            raise ac.JitError(
                "Dropout: a jitted function would reuse the mask drawn when it was traced on every "
                "call. Jit the evaluation (model.eval()), or train this model without jit."
            )
        data = x.data if isinstance(x, ac.Tensor) else np.asarray(x)
        rng = np.random.default_rng((int(self.seed), int(self.calls)))
        self.calls += 1
        dtype = data.dtype if data.dtype.kind == "f" else np.float64
        # keep with probability 1 − p; kept entries scaled by 1/(1 − p) (inverted dropout)
        mask = (rng.random(data.shape) >= self.p).astype(dtype) / dtype.type(1 - self.p)
        return ac.mul(x, mask)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
