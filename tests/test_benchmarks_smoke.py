"""The benchmark command keeps working: a smoke run at tiny sizes prints a row for every scenario.

No timing is asserted (the machine is shared and noisy); only that the suite runs,
that every scenario of issue 5 appears, and that the engine was measured in each.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_run_prints_every_scenario():
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-peers", "--repeats", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    scenarios = {int(m.group(1)) for line in table if (m := re.match(r"\| (\d)\. ", line))}
    assert scenarios == set(range(1, 9)), f"scenarios in the table: {sorted(scenarios)}\n{done.stdout}"
    for number in range(1, 9):
        engine_rows = [line for line in table
                       if line.startswith(f"| {number}. ") and "this project" in line
                       and "skipped" not in line]
        assert engine_rows, f"scenario {number} has no measured row for this project:\n{done.stdout}"
    peers = [line for line in table if "PyTorch" in line]
    assert peers and all("skipped: peers disabled" in line for line in peers)


def test_overhead_command_prints_every_piece_and_phase():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.overhead", "--number", "200", "--steps", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pieces, phases = done.stdout.strip().split("\n\n")
    piece_rows = [line for line in pieces.splitlines()[2:] if line.startswith("| ")]
    assert len(piece_rows) == 10, done.stdout
    for line in piece_rows:
        assert float(line.rsplit("|", 2)[1].replace(",", "")) > 0, line
    phase_rows = [line for line in phases.splitlines()[2:] if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in phase_rows] == [
        "| numpy BP1–BP4 by hand (the floor)",
        "| the fused nn row's rules on numpy arrays, no engine",
        "| this project (nn blocks)",
        "| this project (nn blocks, fused=True)",
    ]
    for line in phase_rows:
        forward, backward, update, total = (float(v) for v in line.strip(" |").split(" | ")[1:])
        assert min(forward, backward, update) > 0
        assert abs(forward + backward + update - total) < 0.2, line
