"""A differential fuzzer: random programs run by the engine and by PyTorch must agree.

hypothesis builds expression graphs over every operation (``fuzz_graphs.OPS``: elementwise,
binary with broadcasting, reductions over any axes, matmul, shapes and indexing, softmax,
clip), in-place sequences through views and under ``no_grad``, float32 graphs near overflow
and underflow, and second derivatives. Each runs identically in both libraries; forward values
and the gradients of every leaf (for a random upstream gradient) must agree to 1e-10 in float64
(1e-4 in float32, where a value PyTorch finds finite must be finite here too), and where
PyTorch refuses an in-place sequence the engine must refuse it at the same statement.

The budget is hypothesis's profile (tests/conftest.py: 60 examples per test in CI). A longer
run: ``FUZZ_EXAMPLES=5000 python -m pytest -q -n 2 tests/test_fuzz_vs_torch.py``.
A failure prints the program (``Program`` / ``InplaceProgram``), shrunk by hypothesis.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import require
from fuzz_graphs import (
    ENGINE,
    EngineLib,
    Leaf,
    Op,
    Program,
    TorchLib,
    inplace_programs,
    programs,
    run,
    run_inplace,
    torch_ops,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_core as ag

RTOL, ATOL = 1e-10, 1e-12
# float32: rtol 1e-4, and an absolute tolerance of 8 ulps of the array's largest value (x − lse
# with |x| ≈ 10 is exact to float32's rounding of 10, not of its own size) or 10 × the smallest
# normal number, below which float32 has hardly any digits.
RTOL32, ULPS32, TINY32 = 1e-4, 8 * float(np.finfo(np.float32).eps), 1e-37


def budget(share: float = 1.0) -> settings:
    """The profile's number of examples, or ``share`` of ``FUZZ_EXAMPLES`` when that is set."""
    examples = os.environ.get("FUZZ_EXAMPLES")
    health = [HealthCheck.too_slow, HealthCheck.data_too_large]
    if examples:
        return settings(deadline=None, max_examples=max(1, int(int(examples) * share)),
                        suppress_health_check=health)
    return settings(deadline=None, suppress_health_check=health)


@pytest.fixture(scope="module")
def torch():
    return require("torch", "PyTorch is the fuzzer's oracle (pip install torch==2.13.0)")


def as_numpy(value) -> np.ndarray:
    if isinstance(value, ag.Tensor):
        return np.asarray(value.data)
    if hasattr(value, "detach"):                 # a torch tensor
        if value._is_zerotensor():
            # A second derivative that is zero by construction (abs, relu) comes back as an
            # "efficient zero tensor" without memory; .numpy(force=True) of one returns whatever
            # the memory held (values such as 1e141), so build the zeros here.
            return np.zeros(tuple(value.shape), dtype=str(value.dtype).removeprefix("torch."))
        return value.detach().numpy()
    return np.asarray(value)


def assert_agree(got, want, what, program, rtol=RTOL, atol=ATOL):
    got, want = as_numpy(got), as_numpy(want)
    context = f"{what}\n{program!r}"
    assert got.shape == want.shape, f"shape {got.shape} != PyTorch's {want.shape}: {context}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != PyTorch's {want.dtype}: {context}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=context)


def torch_grad(torch, outputs, inputs, **options):
    """``torch.autograd.grad``, with zeros for the inputs that no output reaches."""
    grads = torch.autograd.grad(outputs, inputs, allow_unused=True, **options)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


def upstream(program, shapes, dtype=np.float64):
    rng = np.random.default_rng(program.seed)
    return [rng.uniform(-1.0, 1.0, shape).astype(dtype) for shape in shapes]


# ============================================================== first derivatives, float64
def check_graph(torch, program, via="gradients"):
    """Every node's value, then every leaf's gradient: the engine against PyTorch.

    The absolute tolerance scales with the program: ``ATOL`` times the largest value, or
    gradient with respect to any node, that PyTorch computes. A gradient summed from terms of
    that size (softmax near saturation: p (g - <g, p>)) is exact only to rounding of that size,
    while a wrong rule is wrong by the size of the terms themselves.
    """
    theirs = run(program, torch_ops(torch))
    ours = run(program, ENGINE)
    scale = max([1.0] + [float(np.abs(as_numpy(t)).max()) for t in theirs])
    for i, (got, want) in enumerate(zip(ours, theirs)):
        assert_agree(got, want, f"value of n{i}", program, atol=ATOL * scale)
        assert got.requires_grad == want.requires_grad, f"requires_grad of n{i}\n{program!r}"
    outputs = [i for i in program.sinks() if theirs[i].requires_grad]
    leaves = program.grad_leaves()
    if not outputs:
        return
    seeds = upstream(program, [theirs[i].shape for i in outputs])
    inner = [i for i, t in enumerate(theirs) if t.requires_grad and i not in leaves]
    want = torch_grad(torch, [theirs[i] for i in outputs], [theirs[i] for i in leaves + inner],
                      grad_outputs=[torch.tensor(s) for s in seeds])
    scale = max([scale] + [float(np.abs(as_numpy(g)).max()) for g in want])
    if via == "gradients":
        got = ag.gradients([ours[i] for i in outputs], [ours[i] for i in leaves], grad_outputs=seeds)
    else:                                        # one scalar, .backward(), .grad
        total = sum((ours[i] * seed).sum() for i, seed in zip(outputs, seeds))
        total.backward()
        got = [ours[i].grad if ours[i].grad is not None else np.zeros_like(ours[i].data) for i in leaves]
    for leaf, g, w in zip(leaves, got, want):
        assert_agree(g, w, f"gradient of leaf n{leaf} (via {via})", program, atol=ATOL * scale)


@budget()
@given(program=programs("smooth"), via=st.sampled_from(["gradients", "backward"]))
def test_random_graphs_agree_with_torch(torch, program, via):
    check_graph(torch, program, via)


@budget()
@given(program=programs("ties"))
def test_ties_kinks_and_bounds_agree_with_torch(torch, program):
    # Values on a grid of quarters: relu and abs at 0, clip on its bounds, max/min and
    # maximum/minimum with ties. Both libraries share the gradient equally among ties
    # (torch.amax, torch.maximum) and give relu'(0) = |x|'(0) = 0.
    check_graph(torch, program)


def test_the_fuzzer_catches_a_wrong_rule(torch, monkeypatch):
    program = Program([Leaf(np.array([0.3, -1.2]), True), Op("sin", (0,), {}, 0)], seed=1)
    check_graph(torch, program)
    sin = ag.PRIMITIVES["sin"]
    monkeypatch.setattr(sin, "vjps", (lambda g, out, x: g * np.cos(x) * (1 + 1e-9),))
    with pytest.raises(AssertionError, match="gradient of leaf n0"):
        check_graph(torch, program)


# ============================================================== second derivatives
@budget(0.5)
@given(program=programs("smooth", max_ops=6), via=st.sampled_from(["hvp", "gradients"]))
def test_hessian_vector_products_agree_with_torch(torch, program, via):
    leaves = program.grad_leaves()
    theirs = run(program, torch_ops(torch))
    outputs = [i for i in program.sinks() if theirs[i].requires_grad]
    if not outputs:
        return
    seeds = upstream(program, [theirs[i].shape for i in outputs])
    vs = upstream(Program(seed=program.seed + 1), [theirs[i].shape for i in leaves])

    total = sum((theirs[i] * torch.tensor(s)).sum() for i, s in zip(outputs, seeds))
    first = torch_grad(torch, total, [theirs[i] for i in leaves], create_graph=True)
    directional = sum((g * torch.tensor(v)).sum() for g, v in zip(first, vs))
    if directional.requires_grad:
        want = torch_grad(torch, directional, [theirs[i] for i in leaves])
    else:                                        # the gradient does not depend on the leaves
        want = [torch.zeros_like(theirs[i]) for i in leaves]

    def f(*xs):
        values = run(program, ENGINE, leaves=xs)
        return sum((values[i] * s).sum() for i, s in zip(outputs, seeds))

    if via == "hvp":
        got = ag.hvp(f, tuple(program.nodes[i].value for i in leaves), tuple(vs), allow_unused=True)
    else:
        xs = [ag.Tensor(program.nodes[i].value.copy(), requires_grad=True) for i in leaves]
        ours = ag.gradients(f(*xs), xs, create_graph=True)
        directional = sum((g * v).sum() for g, v in zip(ours, vs))
        if isinstance(directional, ag.Tensor) and directional.requires_grad:
            got = ag.gradients(directional, xs)
        else:
            got = [np.zeros_like(x.data) for x in xs]
    # As in check_graph, the absolute tolerance scales with the largest value or derivative.
    scale = max(float(np.abs(as_numpy(t)).max()) for t in [*theirs, *first, *want, torch.ones(1)])
    for leaf, g, w in zip(leaves, got, want):
        assert_agree(g, w, f"Hessian-vector product, leaf n{leaf} (via {via})", program,
                     rtol=1e-9, atol=1e-11 * scale)


# ============================================================== in-place sequences
@budget()
@given(program=inplace_programs())
def test_inplace_sequences_agree_with_torch(torch, program):
    with np.errstate(all="ignore"):              # repeated *= and exp may overflow, in both
        theirs = run_inplace(program, TorchLib(torch))
        ours = run_inplace(program, EngineLib())
    if theirs[0] == "raised":
        assert ours[0] == "raised", (
            f"PyTorch raised at statement {theirs[1]} ({theirs[2]}), the engine did not\n{program!r}")
        assert ours[1] == theirs[1], (
            f"PyTorch raised at statement {theirs[1]} ({theirs[2]}), the engine at {ours[1]} "
            f"({ours[2]})\n{program!r}")
        return
    assert ours[0] == "ok", f"the engine raised at statement {ours[1]}: {ours[2]}\n{program!r}"
    _, values, flags, grads = ours
    _, want_values, want_flags, want_grads = theirs
    assert flags == want_flags, f"requires_grad of the reads and variables\n{program!r}"
    for i, (got, want) in enumerate(zip(values, want_values)):
        assert_agree(got, want, f"value {i} (the reads, then v0, v1, ...)", program)
    for i, (got, want) in enumerate(zip(grads, want_grads)):
        assert (got is None) == (want is None), f"v{i}.grad: {got} vs PyTorch's {want}\n{program!r}"
        if want is not None:
            assert_agree(got, want, f"v{i}.grad", program)


# ============================================================== float32 near the limits
def _f32(rng, shape, low, high, decades=(0, 0), signed=False):
    """Uniform in [low, high] times 10**k, k uniform in ``decades``, as float32."""
    values = rng.uniform(low, high, shape) * 10.0 ** rng.integers(decades[0], decades[1] + 1, shape)
    if signed:
        values *= rng.choice([-1.0, 1.0], shape)
    return values.astype(np.float32)


def _leaf(value):
    return Leaf(value, True)


# name: (template, the range of k, floor): template(rng, shape, k) gives the nodes, for a
# magnitude k drawn in the range; a gradient's absolute tolerance is ULPS32 times the larger of
# its largest element and floor(leaves):
# - "seed" (1): a gradient computed as a difference of terms of the upstream gradient's size
#   (1 − tanh², p (g − <g, p>) for softmax) is exact only to the rounding of that size, in both
#   libraries (the seeds lie in [−1, 1]);
# - "logits" (their largest magnitude): the engine's log_softmax is x − logsumexp(x), and the
#   rules use exp(x − logsumexp(x)), both rounded at the scale of x: in float32 with logits near
#   1000, log_softmax([1000, 990]) is [-6.1e-05, -10.000006] (PyTorch, which subtracts the
#   maximum first: [-4.54e-05, -10.000046]). Less accurate than PyTorch, reported, not wrong.
FLOORS = {"": lambda leaves: 0.0, "seed": lambda leaves: 1.0,
          "logits": lambda leaves: max(float(np.abs(leaf.value).max()) for leaf in leaves)}
FLOAT32_TEMPLATES = {
    "exp near overflow": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, k, 88.5)), _leaf(_f32(rng, shape, -1, 1)),
        Op("exp", (0,), {}, 0), Op("mul", (2, 1), {}, 0), Op("sum", (3,), {"axis": -1, "keepdims": False}, 0),
    ], (60, 88), ""),
    "softmax as e / sum(e), exp near underflow": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, -k - 15, -k)),
        Op("exp", (0,), {}, 0), Op("sum", (1,), {"axis": -1, "keepdims": True}, 0), Op("div", (1, 2), {}, 0),
    ], (40, 70), "seed"),
    "division of tiny numbers": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 10, (k, k + 3), signed=True)), _leaf(_f32(rng, shape, 1, 10, (k, k + 3))),
        Op("div", (0, 1), {}, 0),
    ], (-37, -25), ""),
    "division of huge numbers": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 3, (k, k + 3), signed=True)), _leaf(_f32(rng, shape, 1, 3, (k, k + 3))),
        Op("div", (0, 1), {}, 0),
    ], (15, 35), ""),
    "logsumexp, softmax, log_softmax of large logits": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, -1, 1, (k, k))),
        Op("logsumexp", (0,), {"axis": -1, "keepdims": False}, 0), Op("softmax", (0,), {"axis": -1}, 0),
        Op("log_softmax", (0,), {"axis": 0}, 0),
    ], (1, 4), "logits"),
    "saturating sigmoid and tanh": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 0.5 * k, k, signed=True)),
        Op("sigmoid", (0,), {}, 0), Op("tanh", (0,), {}, 0),
    ], (5, 100), "seed"),
    "log and sqrt of tiny numbers": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 10, (k, k + 2))), Op("log", (0,), {}, 0), Op("sqrt", (0,), {}, 0),
    ], (-37, -20), ""),
    "powers near overflow": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 5, (k, k))), Op("pow", (0, 2.0), {}, 0), Op("pow", (0, -1.0), {}, 0),
        Op("pow", (0, 0.5), {}, 0), Op("pow", (0, 3.0), {}, 0),
    ], (-19, 18), ""),
    "mean and sum of huge numbers": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 3.4, (k, k))), Op("mean", (0,), {"axis": None, "keepdims": False}, 0),
        Op("sum", (0,), {"axis": 0, "keepdims": True}, 0),
    ], (33, 38), ""),
    "matmul of huge numbers": (lambda rng, shape, k: [
        _leaf(_f32(rng, shape, 1, 3, (k, k), signed=True)),
        _leaf(_f32(rng, shape[::-1], 1, 3, (k, k), signed=True)), Op("matmul", (0, 1), {}, 0),
    ], (12, 19), ""),
}


@st.composite
def float32_programs(draw):
    name = draw(st.sampled_from(sorted(FLOAT32_TEMPLATES)))
    template, (low, high), _ = FLOAT32_TEMPLATES[name]
    shape = draw(st.sampled_from([(3,), (2, 3), (4, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return name, Program(template(rng, shape, draw(st.integers(low, high))), seed=draw(st.integers(0, 2**16)))


def assert_finite_where_torch_is(got, want, what, program, floor=0.0):
    got, want = as_numpy(got), as_numpy(want)
    context = f"{what}\n{program!r}"
    assert got.dtype == want.dtype == np.float32, f"dtype {got.dtype}, PyTorch's {want.dtype}: {context}"
    finite = np.isfinite(want)
    assert np.all(np.isfinite(got[finite])), (
        f"not finite where PyTorch is: engine {got[finite]}, PyTorch {want[finite]}: {context}")
    atol = max(TINY32, ULPS32 * max(floor, float(np.abs(want[finite]).max(initial=0.0))))
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL32, atol=atol, err_msg=context)


@budget(0.5)
@given(case=float32_programs())
def test_float32_near_overflow_and_underflow_agrees_with_torch(torch, case):
    name, program = case
    with np.errstate(all="ignore"):
        theirs = run(program, torch_ops(torch))
        ours = run(program, ENGINE)
        kind = FLOAT32_TEMPLATES[name][2]
        floor = FLOORS[kind]([n for n in program.nodes if isinstance(n, Leaf)])
        for i, (got, want) in enumerate(zip(ours, theirs)):     # "seed" is about gradients only
            assert_finite_where_torch_is(got, want, f"{name}: value of n{i}", program,
                                         floor if kind == "logits" else 0.0)
        outputs, leaves = program.sinks(), program.grad_leaves()
        seeds = upstream(program, [theirs[i].shape for i in outputs], np.float32)
        want = torch_grad(torch, [theirs[i] for i in outputs], [theirs[i] for i in leaves],
                          grad_outputs=[torch.tensor(s) for s in seeds])
        got = ag.gradients([ours[i] for i in outputs], [ours[i] for i in leaves], grad_outputs=seeds)
        for leaf, g, w in zip(leaves, got, want):
            assert_finite_where_torch_is(g, w, f"{name}: gradient of leaf n{leaf}", program, floor)
