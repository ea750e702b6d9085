"""Nielsen's backpropagation for dense sigmoid networks, by hand, in numpy only.

This module is the independent second opinion: it imports numpy and nothing from
the engine (a test parses its imports), so agreement with ``autograd_core`` means
something. It follows *Neural Networks and Deep Learning*, chapter 2, and
network2.py (cross-entropy cost, L2 regularisation).

Conventions. Nielsen writes one example as a column: a^0 = x of shape (in, 1),
z^l = W^l a^{l-1} + b^l, a^l = σ(z^l), W^l of shape (out, in) and b^l of shape (out,).
The matrix-based form here stacks a mini-batch of m examples as columns, A of shape
(in, m). The engine's layers take the batch as *rows*, X of shape (m, in), and
compute Z = X Wᵀ + b. The two are transposes of each other, once and for all:

    Z_engine = (W A + b)ᵀ,   delta_engine^l = (delta^l)ᵀ,   W and b identical.

The mini-batch cost is the mean C = (1/m) Σₓ Cₓ. ``backprop_batch`` returns
delta^l = ∂C/∂z^l for that mean (column x is δₓ^l / m, Nielsen's per-example delta
divided by m), which is exactly what the engine's reverse pass finds at z^l.

    BP1  delta^L = ∇_a C ⊙ σ'(z^L)          (cross-entropy: delta^L = (a^L − y)/m)
    BP2  delta^l = ((W^{l+1})ᵀ delta^{l+1}) ⊙ σ'(z^l)
    BP3  ∂C/∂b^l = Σ_columns delta^l
    BP4  ∂C/∂W^l = delta^l (a^{l−1})ᵀ          (+ (λ/n) W^l with L2)
"""

from __future__ import annotations

import numpy as np

COSTS = ("quadratic", "cross-entropy")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)


def _check_cost(cost):
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; the reference knows {COSTS}")


def cost_value(a, y, cost):
    """Mean over columns of the per-example cost (Nielsen's QuadraticCost.fn / CrossEntropyCost.fn)."""
    _check_cost(cost)
    m = a.shape[1]
    if cost == "quadratic":
        return 0.5 * np.sum((a - y) ** 2) / m
    return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))) / m


def output_delta(z, a, y, cost):
    """BP1 for one example or a batch of columns, before dividing by m."""
    if cost == "quadratic":
        return (a - y) * sigmoid_prime(z)
    return a - y  # cross-entropy: σ'(z) cancels (Nielsen eq. 66)


def backprop_example(weights, biases, x, y, cost):
    """network.py's backprop(x, y) for ONE example: x of shape (in,), y of shape (out,).

    Returns (deltas, nabla_b, nabla_w) of the per-example cost Cₓ, layer by layer.
    """
    _check_cost(cost)
    activation = x.reshape(-1, 1)
    activations, zs = [activation], []
    for W, b in zip(weights, biases):
        z = W @ activation + b.reshape(-1, 1)
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = output_delta(zs[-1], activations[-1], y.reshape(-1, 1), cost)   # BP1
    deltas = [delta]
    for layer in range(len(weights) - 2, -1, -1):
        delta = (weights[layer + 1].T @ delta) * sigmoid_prime(zs[layer])  # BP2
        deltas.insert(0, delta)
    nabla_b = [d[:, 0] for d in deltas]                                   # BP3
    nabla_w = [d @ a.T for d, a in zip(deltas, activations[:-1])]         # BP4
    return [d[:, 0] for d in deltas], nabla_b, nabla_w


def backprop_batch(weights, biases, X, Y, cost, lmbda=0.0, n=1):
    """Fully matrix-based backprop over a mini-batch: X of shape (in, m), Y of shape (out, m).

    Returns (deltas, nabla_b, nabla_w) of the mean cost (1/m) Σₓ Cₓ + (λ/2n) Σ‖W‖²,
    deltas as (out, m) matrices.
    """
    _check_cost(cost)
    m = X.shape[1]
    activations, zs = [X], []
    for W, b in zip(weights, biases):
        zs.append(W @ activations[-1] + b[:, None])
        activations.append(sigmoid(zs[-1]))
    delta = output_delta(zs[-1], activations[-1], Y, cost) / m           # BP1, of the mean
    deltas = [delta]
    for layer in range(len(weights) - 2, -1, -1):
        delta = (weights[layer + 1].T @ delta) * sigmoid_prime(zs[layer])  # BP2
        deltas.insert(0, delta)
    nabla_b = [d.sum(axis=1) for d in deltas]                               # BP3
    nabla_w = [d @ a.T + (lmbda / n) * W                                    # BP4 (+ L2)
               for d, a, W in zip(deltas, activations[:-1], weights)]
    return deltas, nabla_b, nabla_w


def backprop_averaged(weights, biases, X, Y, cost, lmbda=0.0, n=1):
    """network.py's update_mini_batch way: per-example backprop, gradients averaged."""
    m = X.shape[1]
    sum_b = [np.zeros_like(b) for b in biases]
    sum_w = [np.zeros_like(W) for W in weights]
    for column in range(m):
        _, nb, nw = backprop_example(weights, biases, X[:, column], Y[:, column], cost)
        sum_b = [s + d for s, d in zip(sum_b, nb)]
        sum_w = [s + d for s, d in zip(sum_w, nw)]
    return [s / m for s in sum_b], [s / m + (lmbda / n) * W for s, W in zip(sum_w, weights)]


class Network:
    """network2.py's Network, reduced to what the comparison needs, batch as columns."""

    def __init__(self, weights, biases, cost="cross-entropy"):
        _check_cost(cost)
        self.weights = [np.array(W, dtype=np.float64) for W in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        self.cost = cost

    def feedforward(self, X):
        a = X
        for W, b in zip(self.weights, self.biases):
            a = sigmoid(W @ a + b[:, None])
        return a

    def update_mini_batch(self, X, Y, eta, lmbda=0.0, n=1):
        """w → (1 − ηλ/n) w − η ∂C/∂w,  b → b − η ∂C/∂b, with C the mini-batch mean."""
        _, nabla_b, nabla_w = backprop_batch(self.weights, self.biases, X, Y, self.cost, lmbda, n)
        self.weights = [W - eta * nw for W, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b)]

    def accuracy(self, X, labels):
        return float(np.mean(np.argmax(self.feedforward(X), axis=0) == labels))
