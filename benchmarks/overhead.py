"""Where the engine's time goes: ``python -m benchmarks.overhead``.

Two tables, measured on this machine with ``timeit`` (best of 5), that
docs/performance.md's "Why the last targets are blocked" reasons from:

1. what one recorded operation costs, piece by piece (ns per call): the budget that
   scenario 4's target (a scalar chain at most 2x the chain by hand) leaves per operation;
2. scenario 1's step in phases (µs): the numpy floor; the nn row's own rules called
   directly on numpy arrays, without the engine (the numerical work the engine cannot
   avoid, guarantees included); and the nn row itself. The difference between the last
   two is the engine's Python.
"""

from __future__ import annotations

import argparse
import timeit
from typing import Any

import numpy as np


def _ns(statement: Any, number: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e9


def measure(number: int = 200_000) -> list[tuple[str, float]]:
    from autograd_core import Tensor
    from autograd_core.node import NO_PARAMS, Node, NotSaved
    from autograd_core.primitive import record
    from autograd_core.rules.arithmetic import mul
    from autograd_core.tensor import result_tensor

    y = Tensor(np.asarray(0.5), requires_grad=True)
    w = Tensor(np.asarray(0.9), requires_grad=True)
    a, b = np.asarray(0.5), np.asarray(0.9)
    fa, fb = np.float64(0.5), np.float64(0.9)
    mul_rule = mul.vjps[0]
    return [
        ("a Python function call (lambda: None)", _ns(lambda: None, number)),
        ("multiply two numpy scalars (np.float64)", _ns(lambda: fa * fb, number)),
        ("multiply two 0-d arrays (what .data holds)", _ns(lambda: a * b, number)),
        ("np.asarray of a numpy scalar (keeps .data an array)", _ns(lambda: np.asarray(fa), number)),
        ("create a Node (the graph's record of one operation)",
         _ns(lambda: Node(mul, (None, None), (a, b), None, (), NO_PARAMS), number)),
        ("create a NotSaved (what stands in for a value no rule reads)", _ns(lambda: NotSaved(a), number)),
        ("create the output Tensor (result_tensor)", _ns(lambda: result_tensor(a, None), number)),
        ("call one VJP rule (mul's, 0-d)", _ns(lambda: mul_rule(a, a, a, b), number)),
        ("record(mul) on two 0-d tensors: all of the above and the checks",
         _ns(lambda: record(mul, (y, w), NO_PARAMS), number)),
        ("y * w through the operator", _ns(lambda: y * w, number)),
    ]


def _best_us(fn: Any, number: int) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def scenario_1_phases(number: int = 2_000) -> list[tuple[str, float, float, float]]:
    """(system, forward, backward, update) in µs for scenario 1 (784-30-10, batch 10)."""
    from autograd_core.rules.elementwise import sigmoid
    from nn.fused import dense, quadratic_cost

    from .nielsen import ETA, NnBlocks, NumpyFloor, make_problem

    problem = make_problem([784, 30, 10], 10)
    floor = NumpyFloor(problem)
    state = floor.forward()
    floor.backward(state)
    rows = [("numpy BP1–BP4 by hand (the floor)", _best_us(floor.forward, number),
             _best_us(lambda: floor.backward(state), number), _best_us(floor.update, number))]

    W1, W2 = (w.copy() for w in problem["weights"])
    b1, b2 = (b.copy() for b in problem["biases"])
    x, y = problem["x"], problem["y"]

    def rules_forward() -> tuple:
        z1 = dense.forward(x, W1, b1)
        a1 = sigmoid.forward(z1)
        z2 = dense.forward(a1, W2, b2)
        a2 = sigmoid.forward(z2)
        return z1, a1, z2, a2, quadratic_cost.forward(a2, y)

    saved = rules_forward()

    def rules_backward() -> tuple:
        z1, a1, z2, a2, cost = saved
        g2 = sigmoid.vjps[0](quadratic_cost.vjps[0](np.array(1.0), cost, a2, y), a2, z2)
        g1 = sigmoid.vjps[0](dense.vjps[0](g2, z2, a1, W2, b2), a1, z1)
        return (dense.vjps[1](g1, z1, x, W1, b1), dense.vjps[2](g1, z1, x, W1, b1),
                dense.vjps[1](g2, z2, a1, W2, b2), dense.vjps[2](g2, z2, a1, W2, b2))

    grads = rules_backward()

    def rules_update() -> None:
        # nn.SGD's numerical work: the inf/NaN check, then p -= lr·g leaving g as it was.
        for g in grads:
            flat = g.ravel()
            if not np.vdot(flat, flat) < np.inf:
                raise FloatingPointError("non-finite gradient")
        for p, g in zip((W1, b1, W2, b2), grads):
            np.subtract(p, ETA * g, out=p)

    rows.append(("the fused nn row's rules on numpy arrays, no engine", _best_us(rules_forward, number),
                 _best_us(rules_backward, number), _best_us(rules_update, number)))

    for label, fused in (("this project (nn blocks)", False), ("this project (nn blocks, fused=True)", True)):
        blocks = NnBlocks(problem, fused=fused)

        def forward_backward(blocks: NnBlocks = blocks) -> None:
            blocks.forward().backward()
            blocks.optimizer.zero_grad()

        forward = _best_us(blocks.forward, number)
        backward = _best_us(forward_backward, number) - forward
        blocks.forward().backward()
        rows.append((label, forward, backward, _best_us(blocks.optimizer.step, number)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per timing (pieces)")
    parser.add_argument("--steps", type=int, default=2_000, help="calls per timing (scenario 1)")
    options = parser.parse_args()
    print("| piece | ns per call |\n|---|---:|")
    for label, nanoseconds in measure(options.number):
        print(f"| {label} | {nanoseconds:,.0f} |")
    print("\n| scenario 1, 784-30-10, batch 10 | forward µs | backward µs | update µs | total µs |")
    print("|---|---:|---:|---:|---:|")
    for label, *phases in scenario_1_phases(options.steps):
        print(f"| {label} | " + " | ".join(f"{t:.1f}" for t in phases) + f" | {sum(phases):.1f} |")


if __name__ == "__main__":
    main()
