"""Checking the tape against central finite differences.

``gradcheck`` compares, for every input that requires grad, the Jacobian the
backward pass computes with the one central differences estimate,
``(f(x + ε e_j) − f(x − ε e_j)) / 2ε``; ``fast_mode`` compares a single random
projection ``uᵀ J v`` instead, at the cost of one backward and two forwards.
``gradgradcheck`` does the same for the gradient itself (second derivatives).
Inputs are never modified: every evaluation runs on fresh copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .backward import gradients
from .composites import concatenate
from .errors import AutogradError
from .tensor import Tensor


class GradcheckError(AutogradError):
    """The backward pass and finite differences disagree."""


def gradcheck(fn: Callable[..., Tensor], inputs: Any, eps: float = 1e-6, atol: float = 1e-7,
              rtol: float = 1e-5, fast_mode: bool = False, raise_exception: bool = True,
              seed: int = 0) -> bool:
    """True when backward agrees with central differences for every input requiring grad.

    ``fn(*inputs)`` returns a Tensor of any shape. ``inputs`` are Tensors (those with
    requires_grad=True are checked; the others are constants) or numpy arrays (all
    checked). On disagreement, raises ``GradcheckError`` naming the input, the worst
    element and both values (or returns False when ``raise_exception=False``). Where the
    finite differences themselves are NaN or infinite it raises too: nothing can be checked.

    The tolerances (an element passes when |backward − numerical| ≤ atol + rtol·|numerical|)
    are tight enough to catch a rule wrong by 0.1% (central differences in float64 are
    accurate to about 1e-9 here); loosen them for badly conditioned functions.
    """
    tensors = _as_inputs(inputs)
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not checked:
        raise GradcheckError("gradcheck: no input requires grad, so there is nothing to check.")
    for i in checked:
        if tensors[i].dtype != np.float64:
            raise GradcheckError(
                f"gradcheck: input {i} has dtype {tensors[i].dtype}; finite differences need "
                "float64 to be accurate. Convert it with dtype=np.float64."
            )
    rng = np.random.default_rng(seed)
    try:
        if fast_mode:
            _check_projection(fn, tensors, checked, eps, atol, rtol, rng)
        else:
            _check_jacobians(fn, tensors, checked, eps, atol, rtol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(fn: Callable[..., Tensor], inputs: Any, grad_outputs: Any | None = None,
                  eps: float = 1e-6, atol: float = 1e-7, rtol: float = 1e-5,
                  fast_mode: bool = False, raise_exception: bool = True, seed: int = 0) -> bool:
    """gradcheck of the gradient: checks the second derivatives that create_graph=True records.

    The gradient is taken with a fixed random upstream gradient ``grad_outputs`` (never all
    ones, so that a rule's dependence on it is exercised).
    """
    tensors = _as_inputs(inputs)
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    out_shape = _evaluate(fn, _fresh(tensors, True)).shape
    if grad_outputs is None:
        grad_outputs = np.random.default_rng(seed + 1).standard_normal(out_shape)

    def first_derivatives(*xs: Tensor) -> Tensor:
        grads = gradients(fn(*xs), [xs[i] for i in checked], grad_outputs=np.asarray(grad_outputs),
                          create_graph=True)
        return concatenate([g.reshape(-1) for g in grads])

    return gradcheck(first_derivatives, tensors, eps=eps, atol=atol, rtol=rtol,
                     fast_mode=fast_mode, raise_exception=raise_exception, seed=seed)


def _as_inputs(inputs: Any) -> list[Tensor]:
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = [inputs]
    tensors = []
    for value in inputs:
        if isinstance(value, Tensor):
            tensors.append(value)
        else:
            tensors.append(Tensor(np.asarray(value, dtype=np.float64), requires_grad=True))
    return tensors


def _fresh(tensors: Sequence[Tensor], requires_grad: bool) -> list[Tensor]:
    return [Tensor(t.data.copy(), requires_grad=requires_grad and t.requires_grad, name=t.name)
            for t in tensors]


def _evaluate(fn: Callable[..., Tensor], tensors: Sequence[Tensor]) -> np.ndarray:
    # Not under no_grad: fn may itself differentiate (gradgradcheck checks a gradient).
    out = fn(*tensors)
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def _numerical_column(fn: Callable[..., Tensor], tensors: Sequence[Tensor], which: int,
                      direction: np.ndarray, eps: float) -> np.ndarray:
    plus, minus = _fresh(tensors, True), _fresh(tensors, True)
    plus[which].data += eps * direction
    minus[which].data -= eps * direction
    return (_evaluate(fn, plus) - _evaluate(fn, minus)) / (2 * eps)


def _tape_gradients(out: Any, inputs: list[Tensor], seed: np.ndarray) -> Sequence[Any]:
    # An output that depends on no input (in gradgradcheck, the first derivative of a linear
    # function such as x + y) was recorded by nothing: its Jacobian is zero, not an error.
    if not isinstance(out, Tensor) or out._node is None:
        return [np.zeros_like(t.data) for t in inputs]
    return gradients(out, inputs, grad_outputs=seed)


def _check_jacobians(fn, tensors, checked, eps, atol, rtol) -> None:
    out_shape = _evaluate(fn, tensors).shape
    n_out = int(np.prod(out_shape))
    for which in checked:
        x = tensors[which]
        numerical = np.zeros((n_out, x.size))
        for j in range(x.size):
            direction = np.zeros(x.size)
            direction[j] = 1.0
            numerical[:, j] = _numerical_column(fn, tensors, which, direction.reshape(x.shape),
                                                eps).reshape(-1)
        analytical = np.zeros((n_out, x.size))
        for i in range(n_out):
            seed = np.zeros(n_out)
            seed[i] = 1.0
            copies = _fresh(tensors, True)
            (grad,) = _tape_gradients(fn(*copies), [copies[which]], seed.reshape(out_shape))
            analytical[i, :] = np.asarray(grad).reshape(-1)
        _compare(analytical, numerical, which, x, out_shape, atol, rtol)


def _check_projection(fn, tensors, checked, eps, atol, rtol, rng) -> None:
    out_shape = _evaluate(fn, tensors).shape
    u = rng.standard_normal(out_shape)
    copies = _fresh(tensors, True)
    grads = _tape_gradients(fn(*copies), [copies[i] for i in checked], u)
    for which, grad in zip(checked, grads):
        v = rng.standard_normal(tensors[which].shape)
        numerical = float(np.sum(u * _numerical_column(fn, tensors, which, v, eps)))
        analytical = float(np.sum(np.asarray(grad) * v))
        _compare(np.array([[analytical]]), np.array([[numerical]]), which, tensors[which], None,
                 atol, rtol)


def _compare(analytical, numerical, which, x, out_shape, atol, rtol) -> None:
    if not np.all(np.isfinite(numerical)):
        # NaN against NaN would "agree": refuse to check where there is nothing to check.
        name = f" '{x.name}'" if x.name else ""
        raise GradcheckError(
            f"gradcheck: finite differences for input {which}{name} (shape {x.shape}) are NaN or "
            "infinite: the function is not finite, or not differentiable, near these inputs, so "
            "its gradient cannot be checked there. Choose inputs inside its domain (log and sqrt "
            "of positive numbers, no division by zero)."
        )
    excess = np.abs(analytical - numerical) - (atol + rtol * np.abs(numerical))
    excess = np.where(np.isnan(analytical) != np.isnan(numerical), np.inf, excess)
    if not np.any(excess > 0):
        return
    row, col = np.unravel_index(int(np.nanargmax(excess)), excess.shape)
    name = f" '{x.name}'" if x.name else ""
    if out_shape is None:
        where = "along a random projection uᵀJv (fast mode)"
    else:
        out_index = np.unravel_index(row, out_shape) if out_shape else ()
        in_index = np.unravel_index(col, x.shape) if x.shape else ()
        where = f"at d output{tuple(int(k) for k in out_index)} / d input{tuple(int(k) for k in in_index)}"
    raise GradcheckError(
        f"gradcheck failed for input {which}{name} (shape {x.shape}) {where}: backward gives "
        f"{analytical[row, col]:.10g}, finite differences give {numerical[row, col]:.10g} "
        f"(difference {abs(analytical[row, col] - numerical[row, col]):.3g}, allowed "
        f"atol + rtol·|numerical| = {atol + rtol * abs(numerical[row, col]):.3g})."
    )
