"""One child process of the suite: ``python -m benchmarks.worker SCENARIO [--smoke] [--repeats N]``
prints the scenario's rows as JSON (last line). ``worker memory SYSTEM STEPS`` prints a peak RSS."""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--budget", type=float, default=0.05)
    options = parser.parse_args()

    from .scenarios import SCENARIOS, memory_child

    if options.scenario == "memory":
        system, steps = options.args
        print(json.dumps(memory_child(system, int(steps), options.smoke)))
        return
    rows = SCENARIOS[options.scenario](options.smoke, options.repeats, options.budget)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
