"""Fused primitives of ``nn``, registered in the engine's table: a dense layer and three costs.

Why primitives rather than compositions (house rule 2):

- ``dense``: z = x Wᵀ + b as one node whose rules are BP1–BP4's products directly
  (x̄ = g W, W̄ = gᵀ x, b̄ = Σ_rows g) instead of three nodes (transpose, matmul, add),
  a transposed view and an un-broadcasting sum; measured gain below, at the primitive.
- ``quadratic_cost``: C = (1/2n) Σ‖a − y‖² as one node whose rule is BP1's (a − y)/n,
  instead of sub, mul, sum and mul (four nodes, a broadcast of the sum's gradient).
- ``sigmoid_cross_entropy``: composed from primitives, the stable form
  relu(z) − y z + ln(1 + e^−|z|) gets the wrong gradient at z = 0 (relu'(0) = |·|'(0) = 0
  gives −y instead of ½ − y), and ln σ(z) composed directly overflows for z = −1000.
  Fused, the forward is stable for any z and the rule is exactly (σ(z) − y)/batch.
- ``softmax_cross_entropy``: the composition −Σ y ⊙ log_softmax(z) is already stable
  (logsumexp) and is tested against this primitive; fusing it records one node instead
  of six, which matters for the training-step benchmark, and its rule is the textbook
  (softmax(z) − y)/batch in one line.

The costs return the mean over the batch (axis 0) of the per-example cost summed over outputs.
Rules are plain numpy that also work on Tensors (create_graph=True): ``call`` re-enters
the table, and numpy functions on Tensors dispatch to recorded operations.
"""

import numpy as np

from autograd_core import PRIMITIVES, Primitive, call, primitive, rule

#: nn's own primitives, by name: not the engine's table (``autograd_core.PRIMITIVES``).
FUSED: dict[str, Primitive] = {}

sigmoid = PRIMITIVES["sigmoid"]
logsumexp = PRIMITIVES["logsumexp"]


def _rows(a):
    """``a`` with every leading axis folded into one: (..., n) -> (rows, n)."""
    return a if len(a.shape) == 2 else a.reshape(-1, a.shape[-1])


@primitive(
    "dense",
    "z = x Wᵀ + b;  x̄ = g W,  W̄ = gᵀ x (summed over rows),  b̄ = Σ_rows g",
    why="nn.Dense's layer as one node with BP2–BP4's products as its rules, instead of "
    "transpose, matmul and add: measured (issue 5, interleaved medians) on 784-30-10, "
    "forward+backward −22 µs per step at batch 10 (185 → 163 µs) and −19 µs at batch 100",
    table=FUSED,
)
def dense(x, W, b):
    z = x @ W.T
    if z.dtype == np.result_type(z, b):
        z += b          # z is a fresh product: add the bias in place, no second array
        return z
    return z + b


dense.defvjp(
    rule(lambda g, out, x, W, b: g @ W, saves="W"),                 # BP2's wᵀδ, rows as examples
    rule(lambda g, out, x, W, b: _rows(g).T @ _rows(x) if len(x.shape) > 1 else g[:, None] * x,
         saves="x"),                                                 # BP4
    rule(lambda g, out, x, W, b: _rows(g).sum(axis=0) if len(g.shape) > 1 else g),  # BP3
)


def _batch(z):
    return z.shape[0] if len(z.shape) else 1


@primitive(
    "sigmoid_cross_entropy",
    "C = (1/n) Σ [ln(1 + eᶻ) − y z];  z̄ = g (σ(z) − y)/n,  ȳ = −g z / n",
    why="stable for logits of ±1000 and exact at z = 0, which the composition is not",
    table=FUSED,
)
def sigmoid_cross_entropy(z, y):
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^−|z|): never overflows.
    per_element = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return np.sum(per_element) / _batch(z)


sigmoid_cross_entropy.defvjp(
    rule(lambda g, out, z, y: g * (call(sigmoid, z) - y) / _batch(z), saves=("z", "y")),
    rule(lambda g, out, z, y: -g * z / _batch(z), saves="z"),
)


@primitive(
    "quadratic_cost",
    "C = (1/2n) Σ ‖a − y‖²;  ā = g (a − y)/n,  ȳ = −g (a − y)/n",
    why="Nielsen's cost as one node instead of four (sub, mul, sum, mul) and BP1's ∇ₐC = "
    "(a − y)/n as its rule: measured (issue 5, interleaved medians of 21) on the nn row of "
    "scenario 1 (784-30-10, batch 10), a step went from 140 to 118 µs",
    table=FUSED,
)
def quadratic_cost(a, y):
    diff = a - y
    return np.vdot(diff, diff) / (2 * _batch(a))


quadratic_cost.defvjp(
    rule(lambda g, out, a, y: g * (a - y) / _batch(a), saves=("a", "y")),
    rule(lambda g, out, a, y: -g * (a - y) / _batch(a), saves=("a", "y")),
)


def _log_softmax(z):
    return z - call(logsumexp, z, axis=-1, keepdims=True)


@primitive(
    "softmax_cross_entropy",
    "C = −(1/n) Σ y ⊙ log softmax(z);  z̄ = g (softmax(z) Σⱼyⱼ − y)/n,  ȳ = −g log softmax(z)/n",
    why="one node instead of six for the most common classification cost (speed); its rule "
    "is exactly (softmax(z) − y)/n for one-hot targets",
    table=FUSED,
)
def softmax_cross_entropy(z, y):
    return -np.sum(y * _log_softmax(z)) / _batch(z)


softmax_cross_entropy.defvjp(
    rule(lambda g, out, z, y: g * (np.exp(_log_softmax(z)) * y.sum(axis=-1, keepdims=True) - y)
         / _batch(z), saves=("z", "y")),
    rule(lambda g, out, z, y: -g * _log_softmax(z) / _batch(z), saves="z"),
)
