"""Fused forms of ``nn``'s dense layer and costs: an opt-in for speed, kept in nn's own table.

By default ``nn.Dense`` is the expression ``x @ W.T + b`` and every cost is composed
from the engine's primitives, so BP1–BP4 come out of the engine's general rules (that
is what ``nn.reference.compare`` checks). ``Dense(..., fused=True)``,
``QuadraticCost(fused=True)``, ``CrossEntropyCost(from_logits=True, fused=True)`` and
``SoftmaxCrossEntropy(fused=True)`` record one node of this module instead, whose rules
are the same gradients written by hand. Tests check each against its composition on
random shapes (values and every input's gradient), so the opt-in changes speed only.

Why each exists (house rule 2: a primitive says why it is not a composition):

- ``dense``: z = x Wᵀ + b as one node, x̄ = g W, W̄ = gᵀ x, b̄ = Σ_rows g (BP2–BP4's
  products), instead of transpose, matmul and add, a transposed view and an
  un-broadcasting sum.
- ``quadratic_cost``: C = (1/2n) Σ‖a − y‖² as one node whose rule is BP1's ∇ₐC =
  (a − y)/n, instead of sub, mul, sum and mul.
- ``sigmoid_cross_entropy`` and ``softmax_cross_entropy``: one node each instead of
  seven and six; the compositions (``nn/costs.py``) are as stable and as exact.

Measured (medians of interleaved runs, one BLAS thread), forward+backward of
Nielsen's 784-30-10 sigmoid network with the quadratic cost, all composed: 130 µs at
batch 10, 353 µs at batch 100. Both layers fused: 106 and 322 µs; the cost fused: 103
and 320 µs; everything fused: 79 and 289 µs. The two cross-entropies alone on a
(10, 10) batch, forward+backward: 103 → 23 µs (sigmoid) and 70 → 38 µs (softmax).

Each cost is the mean over the batch (axis 0) of the per-example cost summed over
outputs, n = shape[0] as in ``nn/costs.py``; with the keyword ``n=1`` it is their sum
(``reduction="sum"``). ``reduction="none"`` has no fused form. The rules are plain numpy that also works on
Tensors (create_graph=True): ``call`` records when given Tensors, and numpy functions
on Tensors dispatch to recorded operations. Only the engine's public API is used.
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
    why="speed, for Dense(..., fused=True): one node with BP2–BP4's products as its rules "
    "instead of transpose, matmul and add; forward+backward of 784-30-10, both layers "
    "fused: 130 → 106 µs at batch 10, 353 → 322 µs at batch 100",
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


def _batch(z, n=None):
    """The cost's divisor: ``n`` when given (1 for reduction="sum"), else the batch size, the
    mean's (a 1-D output is one example)."""
    if n is not None:
        return n
    return z.shape[0] if len(z.shape) > 1 else 1


@primitive(
    "sigmoid_cross_entropy",
    "C = (1/n) Σ [ln(1 + eᶻ) − y z];  z̄ = g (σ(z) − y)/n,  ȳ = −g z / n  (n: the batch, or 1 for a sum)",
    why="speed, for CrossEntropyCost(from_logits=True, fused=True): one node instead of the "
    "seven of the composition through logsumexp, which is as stable and as exact; "
    "forward+backward on a (10, 10) batch 103 → 23 µs",
    table=FUSED,
)
def sigmoid_cross_entropy(z, y, n=None):
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^−|z|): never overflows.
    per_element = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return np.sum(per_element) / _batch(z, n)


sigmoid_cross_entropy.defvjp(
    rule(lambda g, out, z, y, n=None: g * (call(sigmoid, z) - y) / _batch(z, n), saves=("z", "y")),
    rule(lambda g, out, z, y, n=None: -g * z / _batch(z, n), saves="z"),
)


@primitive(
    "quadratic_cost",
    "C = (1/2n) Σ ‖a − y‖²;  ā = g (a − y)/n,  ȳ = −g (a − y)/n  (n: the batch, or 1 for a sum)",
    why="speed, for QuadraticCost(fused=True): one node instead of four (sub, mul, sum, mul), "
    "BP1's ∇ₐC = (a − y)/n as its rule; forward+backward of 784-30-10 130 → 103 µs at "
    "batch 10, 353 → 320 µs at batch 100",
    table=FUSED,
)
def quadratic_cost(a, y, n=None):
    diff = a - y
    return np.vdot(diff, diff) / (2 * _batch(a, n))


quadratic_cost.defvjp(
    rule(lambda g, out, a, y, n=None: g * (a - y) / _batch(a, n), saves=("a", "y")),
    rule(lambda g, out, a, y, n=None: -g * (a - y) / _batch(a, n), saves=("a", "y")),
)


def _log_softmax(z):
    return z - call(logsumexp, z, axis=-1, keepdims=True)


@primitive(
    "softmax_cross_entropy",
    "C = −(1/n) Σ y ⊙ log softmax(z);  z̄ = g (softmax(z) Σⱼyⱼ − y)/n,  ȳ = −g log softmax(z)/n  "
    "(n: the batch, or 1 for a sum)",
    why="speed, for SoftmaxCrossEntropy(fused=True): one node instead of six for the most "
    "common classification cost, forward+backward on a (10, 10) batch 70 → 38 µs; its rule "
    "is exactly (softmax(z) − y)/n for one-hot targets",
    table=FUSED,
)
def softmax_cross_entropy(z, y, n=None):
    return -np.sum(y * _log_softmax(z)) / _batch(z, n)


softmax_cross_entropy.defvjp(
    rule(lambda g, out, z, y, n=None: g * (np.exp(_log_softmax(z)) * y.sum(axis=-1, keepdims=True) - y)
         / _batch(z, n), saves=("z", "y")),
    rule(lambda g, out, z, y, n=None: -g * _log_softmax(z) / _batch(z, n), saves="z"),
)
