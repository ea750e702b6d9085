"""What one recorded operation costs, piece by piece: ``python -m benchmarks.overhead``.

Scenario 4's target (a scalar chain at most 2x the same chain by hand in numpy) leaves a
budget per operation; this prints the costs a general engine cannot avoid next to it,
measured on this machine with ``timeit`` (best of 5, nanoseconds per call). The numbers
are what docs/performance.md's "Why the last targets are blocked" reasons from.
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
    from autograd_core.rules.arithmetic import mul
    from autograd_core.tensor import NO_PARAMS, Node, _result, record

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
         _ns(lambda: Node(mul, (None, None), None, (a, b), None, a, NO_PARAMS), number)),
        ("create the output Tensor (_result)", _ns(lambda: _result(a, None), number)),
        ("call one VJP rule (mul's, 0-d)", _ns(lambda: mul_rule(a, a, a, b), number)),
        ("record(mul) on two 0-d tensors: all of the above and the checks",
         _ns(lambda: record(mul, (y, w), NO_PARAMS), number)),
        ("y * w through the operator", _ns(lambda: y * w, number)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per timing")
    options = parser.parse_args()
    print("| piece | ns per call |\n|---|---:|")
    for label, nanoseconds in measure(options.number):
        print(f"| {label} | {nanoseconds:,.0f} |")


if __name__ == "__main__":
    main()
