"""One SGD step of Nielsen's network (sigmoid layers, quadratic cost), once per system.

Every system starts from the same weights and sees the same mini-batch. The cost is
C = 1/(2n) Σ‖a − y‖² over a batch of n rows, so one step is w ← w − η ∂C/∂w, which is
Nielsen's update w ← w − (η/n) Σ ∇C_x. Each system exposes ``forward()`` (returns
what ``backward`` needs), ``backward(state)`` (computes the gradients) and ``update()``;
``step()`` does all three.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ETA = 0.5


def make_problem(sizes: list[int], batch: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    x = rng.random((batch, sizes[0]))
    y = np.zeros((batch, sizes[-1]))
    y[np.arange(batch), rng.integers(0, sizes[-1], batch)] = 1.0
    return {"weights": weights, "biases": biases, "x": x, "y": y}


class System:
    def step(self) -> None:
        self.backward(self.forward())
        self.update()


class NumpyFloor(System):
    """BP1–BP4 by hand, as tight as a careful person writes them.

    Rows are examples (a is n × features). σ'(z) comes from the stored activation as
    a(1 − a); the sigmoid and the updates are computed in place.
    """

    def __init__(self, problem: dict[str, Any]) -> None:
        self.W = [w.copy() for w in problem["weights"]]
        self.b = [b.copy() for b in problem["biases"]]
        self.x, self.y = problem["x"], problem["y"]
        self.scale = 1.0 / len(self.x)

    def forward(self) -> list[np.ndarray]:
        activations = [self.x]
        a = self.x
        for W, b in zip(self.W, self.b):
            z = a @ W.T
            z += b
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1.0
            a = np.reciprocal(z, out=z)      # σ(z) = 1 / (1 + e^(−z)), in place
            activations.append(a)
        return activations

    def backward(self, activations: list[np.ndarray]) -> None:
        a = activations[-1]
        delta = (a - self.y) * self.scale
        delta *= a * (1.0 - a)                               # BP1: δ^L = ∇_a C ⊙ σ'(z^L)
        self.gW, self.gb = [None] * len(self.W), [None] * len(self.W)
        for layer in range(len(self.W) - 1, -1, -1):
            a_in = activations[layer]
            self.gW[layer] = delta.T @ a_in                  # BP4: ∂C/∂w = δ aᵀ
            self.gb[layer] = delta.sum(axis=0)               # BP3: ∂C/∂b = δ
            if layer:
                delta = delta @ self.W[layer]                # BP2: δ^l = (wᵀ δ^(l+1)) ⊙ σ'(z^l)
                delta *= a_in * (1.0 - a_in)

    def update(self) -> None:
        for W, b, gW, gb in zip(self.W, self.b, self.gW, self.gb):
            gW *= ETA
            W -= gW
            gb *= ETA
            b -= gb


class Engine(System):
    """This project's engine used directly: x @ W.T + b, sigmoid, quadratic cost, SGD in no_grad."""

    def __init__(self, problem: dict[str, Any]) -> None:
        from autograd_core import Tensor

        self.W = [Tensor(w.copy(), requires_grad=True) for w in problem["weights"]]
        self.b = [Tensor(b.copy(), requires_grad=True) for b in problem["biases"]]
        self.x, self.y = Tensor(problem["x"]), Tensor(problem["y"])
        self.scale = 0.5 / len(problem["x"])

    def forward(self) -> Any:
        a = self.x
        for W, b in zip(self.W, self.b):
            a = (a @ W.T + b).sigmoid()
        diff = a - self.y
        return (diff * diff).sum() * self.scale

    def backward(self, cost: Any) -> None:
        cost.backward()

    def update(self) -> None:
        from autograd_core import no_grad

        with no_grad():
            for p in (*self.W, *self.b):
                grad = p.grad
                grad *= ETA
                p.data -= grad
                p.grad = None


def nielsen_cost(params: list, x: Any, y: Any) -> Any:
    """The Engine row's cost as a function of its parameters, [W1, b1, W2, b2, ...] (for jit)."""
    a = x
    for W, b in zip(params[0::2], params[1::2]):
        a = (a @ W.T + b).sigmoid()
    diff = a - y
    return (diff * diff).sum() * (0.5 / len(x))


class Jit(System):
    """The same cost, ``jit(grad(cost))``: traced once, then a straight-line program. ``grad``,
    not ``value_and_grad``: the floor computes no cost value either, and the program then
    drops the steps that only the value needs. The update is the floor's (in place, in numpy)."""

    def __init__(self, problem: dict[str, Any]) -> None:
        from autograd_core import grad, jit

        self.params = [p.copy() for pair in zip(problem["weights"], problem["biases"]) for p in pair]
        self.x, self.y = problem["x"], problem["y"]
        self.step_fn = jit(grad(nielsen_cost))

    def forward(self) -> Any:
        return None          # one call runs forward and backward

    def backward(self, state: Any) -> None:
        self.grads = self.step_fn(self.params, self.x, self.y)

    def update(self) -> None:
        for p, g in zip(self.params, self.grads):
            g *= ETA
            p -= g


class JaxJit(System):
    """``jax.jit`` of a step of ``jax.grad(cost)`` on the CPU, float64; the update inside the
    jitted step, as JAX code is written (arrays are immutable)."""

    def __init__(self, problem: dict[str, Any], jax: Any) -> None:
        import jax.numpy as jnp

        def cost(params, x, y):
            a = x
            for W, b in zip(params[0::2], params[1::2]):
                a = jax.nn.sigmoid(a @ W.T + b)
            diff = a - y
            return jnp.sum(diff * diff) * (0.5 / x.shape[0])

        def train_step(params, x, y):
            return [p - ETA * g for p, g in zip(params, jax.grad(cost)(params, x, y))]

        self.params = [jnp.asarray(p) for pair in zip(problem["weights"], problem["biases"]) for p in pair]
        self.x, self.y = jnp.asarray(problem["x"]), jnp.asarray(problem["y"])
        self.train_step = jax.jit(train_step)

    def forward(self) -> Any:
        return None

    def backward(self, state: Any) -> None:
        self.params = self.train_step(self.params, self.x, self.y)
        self.params[0].block_until_ready()

    def update(self) -> None:
        pass                 # done inside the jitted step


class NnBlocks(System):
    """The same network from ``nn`` blocks (nn.Dense, nn.Sigmoid, nn.QuadraticCost, nn.SGD):
    composed from the engine's primitives, or with ``fused=True`` the fused dense layer and
    quadratic cost of ``nn.fused``."""

    def __init__(self, problem: dict[str, Any], fused: bool = False) -> None:
        import nn
        from autograd_core import Tensor

        self.layers = []
        for w, b in zip(problem["weights"], problem["biases"]):
            dense = nn.Dense(w.shape[1], w.shape[0], fused=fused)
            dense.W.data[...] = w
            dense.b.data[...] = b
            self.layers += [dense, nn.Sigmoid()]
        params = [p for layer in self.layers for p in layer.parameters()]
        self.optimizer = nn.SGD(params, lr=ETA)
        self.x, self.y = Tensor(problem["x"]), Tensor(problem["y"])
        self.cost = nn.QuadraticCost(fused=fused)   # C = (1/2n) Σ‖a − y‖², as the engine row writes it

    def forward(self) -> Any:
        a = self.x
        for layer in self.layers:
            a = layer(a)
        return self.cost(a, self.y)

    def backward(self, cost: Any) -> None:
        cost.backward()

    def update(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad()


class Torch(System):
    """PyTorch eager on the CPU, float64, one thread, the idiomatic loop."""

    def __init__(self, problem: dict[str, Any], torch: Any) -> None:
        self.torch = torch
        self.W = [torch.tensor(w, requires_grad=True) for w in problem["weights"]]
        self.b = [torch.tensor(b, requires_grad=True) for b in problem["biases"]]
        self.x, self.y = torch.tensor(problem["x"]), torch.tensor(problem["y"])
        self.scale = 0.5 / len(problem["x"])

    def forward(self) -> Any:
        a = self.x
        for W, b in zip(self.W, self.b):
            a = self.torch.sigmoid(a @ W.T + b)
        diff = a - self.y
        return (diff * diff).sum() * self.scale

    def backward(self, cost: Any) -> None:
        cost.backward()

    def update(self) -> None:
        with self.torch.no_grad():
            for p in (*self.W, *self.b):
                p.sub_(p.grad, alpha=ETA)
                p.grad = None


class HipsAutograd(System):
    """HIPS autograd: ``grad`` of a cost written in autograd.numpy, updates in place."""

    def __init__(self, problem: dict[str, Any], autograd: Any) -> None:
        import autograd.numpy as anp

        def cost(params, x, y):
            a = x
            for W, b in params:
                a = 1.0 / (1.0 + anp.exp(-(anp.dot(a, W.T) + b)))
            diff = a - y
            return anp.sum(diff * diff) * (0.5 / len(x))

        self.params = [(w.copy(), b.copy()) for w, b in zip(problem["weights"], problem["biases"])]
        self.x, self.y = problem["x"], problem["y"]
        self.grad = autograd.grad(cost)

    def forward(self) -> Any:
        return None          # autograd's grad() runs forward and backward as one call

    def backward(self, state: Any) -> None:
        self.grads = self.grad(self.params, self.x, self.y)

    def update(self) -> None:
        for (W, b), (gW, gb) in zip(self.params, self.grads):
            W -= ETA * gW
            b -= ETA * gb
