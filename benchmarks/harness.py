"""Timing, child processes and optional peers: what every scenario shares."""

from __future__ import annotations

import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

# One BLAS thread for every system: set in the child's environment, before numpy loads.
SINGLE_THREAD = {name: "1" for name in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)}


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SINGLE_THREAD)
    return env


def run_child(args: list[str], timeout: float = 1800) -> Any:
    """Run ``python -m benchmarks.worker *args`` single-threaded; return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", *args],
        env=child_env(), capture_output=True, text=True, timeout=timeout,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark child {' '.join(args)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def optional(module: str) -> Any | None:
    """The peer module if it is installed, else None (reported as skipped, not failed).

    ``--no-peers`` (environment BENCHMARKS_NO_PEERS=1 in the child) treats every peer as
    missing: the CI smoke test checks the suite itself in a few seconds.
    """
    if os.environ.get("BENCHMARKS_NO_PEERS") == "1":
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def why_missing(install: str) -> str:
    if os.environ.get("BENCHMARKS_NO_PEERS") == "1":
        return "peers disabled by --no-peers"
    return f"not installed ({install})"


def torch_single_thread() -> Any | None:
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return torch


def jax_cpu() -> Any | None:
    """JAX on the CPU in float64 (the peer of ``jit``), if installed."""
    if os.environ.get("BENCHMARKS_NO_PEERS") == "1":
        return None
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    return jax


def time_side_by_side(systems: dict[str, Callable[[], Any]], repeats: int,
                      budget: float) -> dict[str, float]:
    """Median over ``repeats`` of the mean seconds per call, systems interleaved per repeat.

    Each sample runs a system enough times to last about ``budget`` seconds (at least
    once). Interleaving puts every system under the same background noise of a shared
    machine. The garbage collector stays on (it is part of what a system costs), but
    objects from before the timing are frozen out of its traversals (see below).
    """
    inner = {}
    for name, fn in systems.items():
        fn()                                   # warm up (first-call allocations, caches)
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        inner[name] = max(1, int(budget / max(once, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in systems}
    # Freeze what exists now (the imported libraries, the problem): Python's full garbage
    # collections then traverse only the objects the measured systems create. Otherwise a
    # collection costs ~90 ms with PyTorch imported (180,000 objects) and a few ms without,
    # so every system's time would depend on which peers are installed, and on whether a
    # collection happened to land inside its samples.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            for name, fn in systems.items():
                gc.collect()
                start = time.perf_counter()
                for _ in range(inner[name]):
                    fn()
                samples[name].append((time.perf_counter() - start) / inner[name])
    finally:
        gc.unfreeze()
    return {name: statistics.median(values) for name, values in samples.items()}


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of single calls (for calls long enough to time alone)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(scenario: str, system: str, value: float | None, unit: str, floor: float | None = None,
        note: str = "") -> dict[str, Any]:
    """One line of the table; ``floor`` is the hand-written numpy value to divide by."""
    ratio = value / floor if value is not None and floor else None
    return {"scenario": scenario, "system": system, "value": value, "unit": unit,
            "ratio": ratio, "note": note}


def skipped(scenario: str, system: str, why: str) -> dict[str, Any]:
    return row(scenario, system, None, "", note=f"skipped: {why}")
