"""``python -m benchmarks [--smoke] [--repeats N] [--only 1,4]``: run every scenario of issue 5,
each in its own single-threaded child process, and print one markdown table."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from .harness import run_child
from .scenarios import SCENARIOS
from .table import markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite runs")
    parser.add_argument("--repeats", type=int, default=None,
                        help="samples per system; the table shows their median (default 11, smoke 2)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenario numbers")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip PyTorch, HIPS autograd and micrograd (fast CI smoke run)")
    options = parser.parse_args(argv)
    if options.no_peers:
        os.environ["BENCHMARKS_NO_PEERS"] = "1"     # inherited by every child
    repeats = options.repeats or (2 if options.smoke else 11)
    # Short samples, many of them, interleaved: a burst of load on a shared machine then
    # spoils a few samples of every system rather than all the samples of one.
    budget = 0.002 if options.smoke else 0.05
    rows = []
    for number in options.only.split(","):
        start = time.perf_counter()
        args = [number, "--repeats", str(repeats), "--budget", str(budget)]
        rows += run_child(args + (["--smoke"] if options.smoke else []))
        print(f"scenario {number} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(f"Python {platform.python_version()}, float64, one BLAS thread, "
          f"median of {repeats} samples{' (smoke sizes)' if options.smoke else ''}\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
