"""``nn.gradcheck``: the engine's gradients of a model's parameters against finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import autograd_core as ac

from .module import Module, functional_call


def gradcheck(model: Module, cost: Callable[[Any, Any], Any], x: Any, y: Any, eps: float = 1e-6,
              atol: float = 1e-7, rtol: float = 1e-5, fast_mode: bool = False,
              raise_exception: bool = True, seed: int = 0) -> bool:
    """True when backward's ∂C/∂p agrees with central differences for every parameter p of
    ``model`` that requires grad, C = ``cost(model(x), y)``.

    ``autograd_core.gradcheck`` of ``lambda *p: cost(functional_call(model, p, x), y)`` on
    float64 copies of the parameters: the model itself is never changed, and an error
    names the parameter by its path (``'layers.0.W'``) and the worst entry. The model's
    buffers (Dropout's mask count, BatchNorm's running statistics) are put back before
    every evaluation and at the end, so each evaluation draws the same dropout masks.

    Each parameter entry costs two forward passes and one backward: check a small model,
    or pass ``fast_mode=True`` (one random direction per parameter). The tolerances are
    ``autograd_core.gradcheck``'s.
    """
    if not isinstance(model, Module):
        raise TypeError(f"nn.gradcheck: the first argument is a {type(model).__name__}, not a Module.")
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise ac.GradcheckError(f"nn.gradcheck: {type(model).__name__} has no parameter that requires grad, "
                                "so there is nothing to check.")
    own = dict(model.named_parameters())
    values = [ac.Tensor(own[name].data.astype(np.float64), requires_grad=True, name=name) for name in names]
    buffers = {name: np.array(b, copy=True) for name, b in model.named_buffers()}

    def restore_buffers() -> None:
        for name, b in model.named_buffers():
            np.copyto(b, buffers[name], casting="unsafe")

    def cost_of(*params: ac.Tensor) -> Any:
        restore_buffers()
        return cost(functional_call(model, dict(zip(names, params)), x), y)

    try:
        return ac.gradcheck(cost_of, values, eps=eps, atol=atol, rtol=rtol, fast_mode=fast_mode,
                            raise_exception=raise_exception, seed=seed)
    finally:
        restore_buffers()
