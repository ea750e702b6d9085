"""The eight scenarios of issue 5. Each function returns table rows (see ``harness.row``).

Each runs inside its own child process (``worker.py``). ``smoke`` shrinks every size
so the whole suite runs in seconds in CI; the real sizes are the issue's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from . import chain, finite_differences, nielsen
from .harness import (
    jax_cpu,
    median_seconds,
    optional,
    row,
    run_child,
    skipped,
    time_side_by_side,
    torch_single_thread,
    why_missing,
)

FLOOR = "numpy BP1–BP4 by hand"
ENGINE = "this project (engine)"
NN = "this project (nn blocks)"
NN_FUSED = "this project (nn blocks, fused=True)"
JIT = "this project (jit)"
JAX = "JAX jit (CPU)"
LOWER_BOUND = "lower bound: minimal Python tape (chain.py)"


def _nielsen_systems(problem: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every available system for the Nielsen step, and rows for the peers that are missing."""
    systems: dict[str, Any] = {FLOOR: nielsen.NumpyFloor(problem), ENGINE: nielsen.Engine(problem),
                               JIT: nielsen.Jit(problem)}
    missing = []
    jax = jax_cpu()
    if jax is not None:
        systems[JAX] = nielsen.JaxJit(problem, jax)
    else:
        missing.append((JAX, why_missing("pip install jax")))
    for name, fused in ((NN, False), (NN_FUSED, True)):
        try:
            systems[name] = nielsen.NnBlocks(problem, fused=fused)
            systems[name].step()
        except Exception as exc:  # nn/ is written concurrently; report, never fail the suite
            systems.pop(name, None)
            first_line = str(exc).splitlines()[0][:80] if str(exc) else ""
            missing.append((name, f"nn.Dense/nn.SGD not usable yet ({type(exc).__name__}: {first_line})"))
    torch = torch_single_thread()
    if torch is not None:
        systems["PyTorch eager (CPU)"] = nielsen.Torch(problem, torch)
    else:
        missing.append(("PyTorch eager (CPU)", why_missing("pip install torch==2.13.0")))
    autograd = optional("autograd")
    if autograd is not None:
        systems["HIPS autograd"] = nielsen.HipsAutograd(problem, autograd)
    else:
        missing.append(("HIPS autograd", why_missing("pip install autograd")))
    return systems, missing


def _sgd_step(label: str, sizes: list[int], batch: int, repeats: int, budget: float) -> list:
    problem = nielsen.make_problem(sizes, batch)
    systems, missing = _nielsen_systems(problem)
    medians = time_side_by_side({name: s.step for name, s in systems.items()}, repeats, budget)
    floor = medians[FLOOR]
    rows = [row(label, name, seconds * 1e6, "µs/step", floor * 1e6) for name, seconds in medians.items()]
    return rows + [skipped(label, name, why) for name, why in missing] + [_first_call(label, problem)]


def _first_call(label: str, problem: dict[str, Any]) -> dict[str, Any]:
    """jit's first call (the trace) and second (compiling the program), ÷ one eager step of
    the same grad (the jit row's function)."""
    from autograd_core import grad, jit

    params = [p.copy() for pair in zip(problem["weights"], problem["biases"]) for p in pair]
    args = (params, problem["x"], problem["y"])
    eager = grad(nielsen.nielsen_cost)
    eager(*args)
    step = median_seconds(lambda: eager(*args), 21)
    first, second = [], []
    for _ in range(7):
        jitted = jit(grad(nielsen.nielsen_cost))
        start = time.perf_counter()
        jitted(*args)
        middle = time.perf_counter()
        jitted(*args)
        first.append(middle - start)
        second.append(time.perf_counter() - middle)
    f, s = statistics.median(first), statistics.median(second)
    return row(label, f"{JIT}: first call ÷ eager step", f / step, "ratio",
               note=f"first call (trace) {f * 1e6:.0f} µs, second (compile) {s * 1e6:.0f} µs, "
                    f"eager step {step * 1e6:.0f} µs")


def scenario_1(smoke: bool, repeats: int, budget: float) -> list:
    sizes, batch = ([20, 5, 3], 4) if smoke else ([784, 30, 10], 10)
    return _sgd_step(f"1. SGD step {'-'.join(map(str, sizes))}, batch {batch}", sizes, batch,
                     repeats, budget)


def scenario_2(smoke: bool, repeats: int, budget: float) -> list:
    sizes, batch = ([20, 5, 3], 8) if smoke else ([784, 30, 10], 100)
    return _sgd_step(f"2. SGD step {'-'.join(map(str, sizes))}, batch {batch}", sizes, batch,
                     repeats, budget)


def scenario_3(smoke: bool, repeats: int, budget: float) -> list:
    sizes, batch = ([20, 16, 16, 3], 16) if smoke else ([784, 512, 512, 10], 1000)
    return _sgd_step(f"3. SGD step {'-'.join(map(str, sizes))}, batch {batch}", sizes, batch,
                     repeats, budget)


def scenario_4(smoke: bool, repeats: int, budget: float) -> list:
    links = 50 if smoke else 2000
    rows: list = []
    for size in (None, 10 if smoke else 1000):
        skips = []
        kind = "scalars" if size is None else f"arrays of {size}"
        label = f"4. chain of {links} relu(y·w+c), {kind}"
        problem = chain.make_chain(links, size)
        systems: dict[str, Callable[[], Any]] = {
            "numpy chain by hand": chain.numpy_chain(problem),
            ENGINE: chain.engine_chain(problem),
            JIT: chain.jit_chain(problem),
            LOWER_BOUND: chain.minimal_tape_chain(problem),
        }
        jax = jax_cpu()
        if jax is not None:
            systems[JAX] = chain.jax_chain(problem, jax)
        else:
            skips.append(skipped(label, JAX, why_missing("pip install jax")))
        torch = torch_single_thread()
        if torch is not None:
            systems["PyTorch eager (CPU)"] = chain.torch_chain(problem, torch)
        else:
            skips.append(skipped(label, "PyTorch eager (CPU)", why_missing("pip install torch==2.13.0")))
        autograd = optional("autograd")
        if autograd is not None:
            systems["HIPS autograd"] = chain.hips_chain(problem, autograd)
        else:
            skips.append(skipped(label, "HIPS autograd", why_missing("pip install autograd")))
        if size is None:
            micrograd = optional("micrograd.engine")
            if micrograd is not None:
                systems["micrograd"] = chain.micrograd_chain(problem, micrograd)
            else:
                skips.append(skipped(label, "micrograd", why_missing("pip install micrograd")))
        medians = time_side_by_side(systems, repeats, budget)
        floor = medians["numpy chain by hand"]
        rows += [row(label, name, seconds / links * 1e6, "µs/link", floor / links * 1e6)
                    for name, seconds in medians.items()] + skips
    return rows


def scenario_5(smoke: bool, repeats: int, budget: float) -> list:
    sizes, batch = ([20, 5, 3], 8) if smoke else ([784, 30, 10], 100)
    label = f"5. backward ÷ forward, scenario 2 ({'-'.join(map(str, sizes))}, batch {batch})"
    systems, missing = _nielsen_systems(nielsen.make_problem(sizes, batch))
    for one_call in ("HIPS autograd", JIT, JAX):
        if systems.pop(one_call, None) is not None:
            missing.append((one_call, "its grad() runs forward and backward as one call"))
    inner = 3 if smoke else 50
    rows = []
    for name, system in systems.items():
        for _ in range(3):
            system.step()
        forward, backward = [], []
        for _ in range(repeats):
            spent_forward = spent_backward = 0.0
            for _ in range(inner):
                start = time.perf_counter()
                state = system.forward()
                middle = time.perf_counter()
                system.backward(state)
                spent_forward += middle - start
                spent_backward += time.perf_counter() - middle
                system.update()
            forward.append(spent_forward / inner)
            backward.append(spent_backward / inner)
        f, b = statistics.median(forward), statistics.median(backward)
        rows.append(row(label, name, b / f, "ratio",
                        note=f"forward {f * 1e6:.0f} µs, backward {b * 1e6:.0f} µs"))
    return rows + [skipped(label, name, why) for name, why in missing]


def scenario_6(smoke: bool, repeats: int, budget: float) -> list:
    many, few = (200, 20) if smoke else (10_000, 100)
    label = f"6. peak RSS, {many:,} steps vs {few:,} (scenario 1)"
    rows = []
    for system in ("numpy", "engine", "torch"):
        if system == "torch" and optional("torch") is None:  # checked here, imported in the child
            rows.append(skipped(label, "PyTorch eager (CPU)", why_missing("pip install torch==2.13.0")))
            continue
        peaks = {}
        for steps in (few, many):   # separate processes: ru_maxrss only ever grows
            peaks[steps] = run_child(["memory", system, str(steps), "--smoke" if smoke else "--full"])
        growth = (peaks[many] / peaks[few] - 1) * 100
        name = {"numpy": FLOOR, "engine": ENGINE, "torch": "PyTorch eager (CPU)"}[system]
        rows.append(row(label, name, growth, "% growth",
                        note=f"{peaks[few]:.1f} MB after {few:,} steps, {peaks[many]:.1f} MB after {many:,}"))
    return rows


def memory_child(system: str, steps: int, smoke: bool) -> float:
    """Run ``steps`` SGD steps of scenario 1; return this process's peak RSS in MB."""
    import resource

    sizes, batch = ([20, 5, 3], 4) if smoke else ([784, 30, 10], 10)
    problem = nielsen.make_problem(sizes, batch)
    if system == "numpy":
        runner = nielsen.NumpyFloor(problem)
    elif system == "engine":
        runner = nielsen.Engine(problem)
    else:
        runner = nielsen.Torch(problem, torch_single_thread())
    for _ in range(steps):
        runner.step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scenario_7(smoke: bool, repeats: int, budget: float) -> list:
    from autograd_core import Tensor

    long, short = (3_000, 600) if smoke else (1_000_000, 200_000)
    label = f"7. chain of {long:,} ops vs {short:,} (engine)"
    seconds = {}
    for operations in (short, long):
        problem = chain.make_chain(operations // 3, None)   # three operations per link
        ws = [Tensor(w, requires_grad=True) for w in problem["ws"]]
        x = Tensor(problem["x"])
        forward, backward = [], []
        for _ in range(max(1, min(repeats, 3))):
            start = time.perf_counter()
            y = x
            for w in ws:
                y = (y * w + chain.C).relu()
            middle = time.perf_counter()
            y.backward()
            forward.append(middle - start)
            backward.append(time.perf_counter() - middle)
            del y
            for w in ws:
                w.grad = None
        seconds[operations] = (statistics.median(forward), statistics.median(backward))
    rows = [row(label, f"{ENGINE}, {n:,} ops", (f + b), "s",
                note=f"forward {f:.2f} s, backward {b:.2f} s") for n, (f, b) in seconds.items()]
    ratio = sum(seconds[long]) / sum(seconds[short])
    rows.append(row(label, f"{ENGINE}, time ratio", ratio, "ratio",
                    note=f"linear growth gives {long / short:.0f}"))
    return rows


def scenario_8(smoke: bool, repeats: int, budget: float) -> list:
    rows = []
    for parameters in ((10, 100) if smoke else (10, 100, 1_000, 10_000)):
        label = f"8. gradient of {parameters:,} parameters"
        problem = finite_differences.make_layer(parameters)
        systems = {
            FLOOR: finite_differences.numpy_backprop(problem),
            ENGINE: finite_differences.engine_backprop(problem),
            "finite differences, eq. (46)": finite_differences.finite_difference_gradient(problem),
        }
        medians = time_side_by_side(systems, repeats, budget)
        floor = medians[FLOOR]
        rows += [row(label, name, s * 1e6, "µs", floor * 1e6) for name, s in medians.items()]
    return rows


SCENARIOS = {str(n): f for n, f in enumerate(
    [scenario_1, scenario_2, scenario_3, scenario_4, scenario_5, scenario_6, scenario_7, scenario_8],
    start=1)}
