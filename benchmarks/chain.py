"""The chain of scenarios 4 and 7: y ← relu(y ⊙ w_i + c), each w_i its own leaf.

Forward then backward through every link, per system. The loss is Σ y (just y on
scalars), so the seed is ones. ``c`` is a constant; only the w_i require grad.
Each ``run()`` returns nothing and leaves no gradient behind for the next run.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

C = 0.01


def make_chain(links: int, size: int | None, seed: int = 0) -> dict[str, Any]:
    """``size`` None: 0-d (scalar) values; otherwise 1-D arrays of ``size`` elements."""
    rng = np.random.default_rng(seed)
    shape = () if size is None else (size,)
    ws = [np.asarray(rng.uniform(0.8, 1.2, shape)) for _ in range(links)]
    x = np.asarray(rng.uniform(0.5, 1.5, shape))
    return {"ws": ws, "x": x}


def numpy_chain(problem: dict[str, Any]):
    """The same chain by hand: keep every y for the backward pass, gradients in a list."""
    ws, x = problem["ws"], problem["x"]

    def run() -> list:
        ys = [x]
        y = x
        for w in ws:
            y = np.maximum(y * w + C, 0.0)
            ys.append(y)
        g = np.ones_like(x)
        grads = [None] * len(ws)
        for i in range(len(ws) - 1, -1, -1):
            g = g * (ys[i + 1] > 0)          # relu'
            grads[i] = g * ys[i]             # ∂/∂w_i
            g = g * ws[i]                    # ∂/∂y_(i−1)
        return grads

    return run


class _Value:
    """One value of the minimal tape below: its data and, during backward, its gradient."""

    __slots__ = ("data", "grad")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.grad = None


def minimal_tape_chain(problem: dict[str, Any]):
    """A lower bound for any engine written in Python: the least define-by-run can do.

    Each operation creates one output object and appends one entry to a flat tape (a
    Wengert list); backward reads the tape in reverse and applies hard-coded rules for
    exactly these three operations. No rule table, no graph walk, no version counters,
    no shape checks, no grad mode, no hooks. What remains is the interpreter's cost of an
    object and a tape entry per operation, which a general engine pays on top of its own.
    Returns the gradients (tested against ``numpy_chain``).
    """
    ws = [_Value(w) for w in problem["ws"]]
    x = _Value(problem["x"])
    MUL, ADD_CONSTANT, RELU = 0, 1, 2

    def run() -> list:
        tape = []
        y = x
        for w in ws:
            product = _Value(y.data * w.data)
            tape.append((MUL, y, w, product))
            shifted = _Value(product.data + C)
            tape.append((ADD_CONSTANT, product, None, shifted))
            y_next = _Value(np.maximum(shifted.data, 0.0))
            tape.append((RELU, shifted, None, y_next))
            y = y_next
        y.grad = np.ones_like(y.data)
        for op, a, b, out in reversed(tape):
            g = out.grad
            if op == RELU:
                a.grad = g * (out.data > 0)
            elif op == ADD_CONSTANT:
                a.grad = g
            else:
                b.grad = g * a.data         # each w_i is used once: no accumulation needed
                a.grad = g * b.data
        grads = [w.grad for w in ws]
        for w in ws:
            w.grad = None
        return grads

    return run


def engine_chain(problem: dict[str, Any]):
    from autograd_core import Tensor

    ws = [Tensor(w.copy(), requires_grad=True) for w in problem["ws"]]
    x = Tensor(problem["x"].copy())
    scalar = problem["x"].ndim == 0

    def run() -> None:
        y = x
        for w in ws:
            y = (y * w + C).relu()
        (y if scalar else y.sum()).backward()
        for w in ws:
            w.grad = None

    return run


def chain_loss(ws: list, x: Any) -> Any:
    """The engine row's chain as a function of the w_i (for jit): Σ y, or y on scalars."""
    y = x
    for w in ws:
        y = (y * w + C).relu()
    return y if y.ndim == 0 else y.sum()


def jit_chain(problem: dict[str, Any]):
    """``jit(grad(chain_loss))``: traced once, then the straight-line program."""
    from autograd_core import grad, jit

    gradient = jit(grad(chain_loss))
    ws, x = [w.copy() for w in problem["ws"]], problem["x"]

    def run() -> list:
        return gradient(ws, x)

    return run


def jax_chain(problem: dict[str, Any], jax: Any):
    """``jax.jit(jax.grad(...))`` of the same chain, on the CPU in float64, written as JAX code
    is: the links as one stacked array and ``lax.scan`` over them (a Python loop of 2,000
    links would be unrolled into a program that takes XLA minutes to compile)."""
    import jax.numpy as jnp

    def link(y, w):
        return jnp.maximum(y * w + C, 0.0), None

    def loss(ws, x):
        y, _ = jax.lax.scan(link, x, ws)
        return jnp.sum(y)

    gradient = jax.jit(jax.grad(loss))
    ws, x = jnp.asarray(np.stack(problem["ws"])), jnp.asarray(problem["x"])

    def run() -> Any:
        return jax.block_until_ready(gradient(ws, x))

    return run


def torch_chain(problem: dict[str, Any], torch: Any):
    ws = [torch.tensor(w, requires_grad=True) for w in problem["ws"]]
    x = torch.tensor(problem["x"])
    scalar = problem["x"].ndim == 0

    def run() -> None:
        y = x
        for w in ws:
            y = torch.relu(y * w + C)
        (y if scalar else y.sum()).backward()
        for w in ws:
            w.grad = None

    return run


def hips_chain(problem: dict[str, Any], autograd: Any):
    import autograd.numpy as anp

    def loss(ws, x):
        y = x
        for w in ws:
            y = anp.maximum(y * w + C, 0.0)
        return anp.sum(y)

    gradient = autograd.grad(loss)
    ws = [w.copy() for w in problem["ws"]]
    x = problem["x"]

    def run() -> None:
        gradient(ws, x)

    return run


def micrograd_chain(problem: dict[str, Any], engine: Any):
    """micrograd (scalars only). Its topological sort is recursive: allow the depth."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(problem["ws"]) + 1000))
    ws = [engine.Value(float(w)) for w in problem["ws"]]
    x = engine.Value(float(problem["x"]))

    def run() -> None:
        y = x
        for w in ws:
            y = (y * w + C).relu()
        y.backward()
        for w in ws:
            w.grad = 0.0

    return run
