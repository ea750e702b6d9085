"""Every primitive's VJPs against PyTorch's, in float64, to 1e-12.

Finite differences catch a wrong rule only above their own error (about 1e-6 relative
here); a rule that is wrong by less (a slightly wrong constant, a batched matmul off by
1e-6) would pass them. PyTorch computes the same vector-Jacobian products in float64, so
the two must agree to rounding. Each case of ``gradient_cases.py`` is run on the engine
with a random upstream gradient; the primitive's node in the recorded graph gives the
keyword parameters (axis, shape, index...), and ``TORCH`` below writes the same
operation in PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from gradient_cases import CASES, all_cases, case_id, tape_vjp, upstream

from autograd_core import Tensor

CASE_LIST = all_cases()
RTOL, ATOL = 1e-12, 1e-14


@pytest.fixture(scope="module")
def torch():
    return require("torch", "PyTorch is the oracle of every rule to 1e-12 (pip install torch==2.13.0)")


def _dims(axis, ndim):
    """numpy's axis (None, int, tuple) as PyTorch's dim list."""
    if axis is None:
        return list(range(ndim))
    return list(axis) if isinstance(axis, tuple) else [axis]


def _reduce(torch_function):
    def reduce(torch, xs, params, node):
        x = xs[0]
        if x.ndim == 0:                  # a reduction of one number is that number
            return x * 1
        return torch_function(torch)(x, dim=_dims(params["axis"], x.ndim), keepdim=params["keepdims"])
    return reduce


def _index(torch, index):
    """A numpy index with numpy arrays in it, for PyTorch."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(torch.as_tensor(p) if isinstance(p, np.ndarray) else p for p in parts)
    return converted if isinstance(index, tuple) else converted[0]


def _scatter_add(torch, xs, params, node):
    # The adjoint of indexing: d/d(dummy) of <dummy[index], v> is v added at index, with
    # repeated indices accumulated; create_graph keeps it differentiable in v.
    (values,) = xs
    dummy = torch.zeros(params["shape"], dtype=values.dtype, requires_grad=True)
    picked = dummy[_index(torch, params["index"])]
    (result,) = torch.autograd.grad((picked * values).sum(), dummy, create_graph=True)
    return result


def _setitem(torch, xs, params, node):
    x, v = xs
    result = x.clone()
    result[_index(torch, params["index"])] = v
    return result


def _batch(z):
    return z.shape[0] if z.ndim else 1


# name -> function(torch, input tensors, the node's params, the node) giving the output.
TORCH = {
    "add": lambda torch, xs, p, n: xs[0] + xs[1],
    "sub": lambda torch, xs, p, n: xs[0] - xs[1],
    "mul": lambda torch, xs, p, n: xs[0] * xs[1],
    "div": lambda torch, xs, p, n: xs[0] / xs[1],
    "pow": lambda torch, xs, p, n: xs[0] ** xs[1],
    "neg": lambda torch, xs, p, n: -xs[0],
    "exp": lambda torch, xs, p, n: torch.exp(xs[0]),
    "log": lambda torch, xs, p, n: torch.log(xs[0]),
    "sqrt": lambda torch, xs, p, n: torch.sqrt(xs[0]),
    "sin": lambda torch, xs, p, n: torch.sin(xs[0]),
    "cos": lambda torch, xs, p, n: torch.cos(xs[0]),
    "tanh": lambda torch, xs, p, n: torch.tanh(xs[0]),
    "sigmoid": lambda torch, xs, p, n: torch.sigmoid(xs[0]),
    "relu": lambda torch, xs, p, n: torch.relu(xs[0]),
    "abs": lambda torch, xs, p, n: torch.abs(xs[0]),
    "clip": lambda torch, xs, p, n: torch.clamp(xs[0], min=p["a_min"], max=p["a_max"]),
    "maximum": lambda torch, xs, p, n: torch.maximum(xs[0], xs[1]),
    "minimum": lambda torch, xs, p, n: torch.minimum(xs[0], xs[1]),
    # where's condition is the node's first input, kept because its rules read it.
    "where": lambda torch, xs, p, n: torch.where(torch.as_tensor(n.saved[0]), xs[0], xs[1]),
    "matmul": lambda torch, xs, p, n: torch.matmul(xs[0], xs[1]),
    "sum": _reduce(lambda torch: torch.sum),
    "max": _reduce(lambda torch: torch.amax),
    "min": _reduce(lambda torch: torch.amin),
    "logsumexp": _reduce(lambda torch: torch.logsumexp),
    "reshape": lambda torch, xs, p, n: xs[0].reshape(p["shape"]),
    "transpose": lambda torch, xs, p, n: xs[0].permute(
        p["axes"] if p["axes"] is not None else tuple(reversed(range(xs[0].ndim)))),
    "broadcast_to": lambda torch, xs, p, n: torch.broadcast_to(xs[0], p["shape"]),
    "getitem": lambda torch, xs, p, n: xs[0][_index(torch, p["index"])],
    "scatter_add": _scatter_add,
    "setitem": _setitem,
    "concatenate": lambda torch, xs, p, n: torch.cat(xs, dim=p["axis"]),
    "astype": lambda torch, xs, p, n: xs[0].to(getattr(torch, np.dtype(p["dtype"]).name)),
    # nn's fused primitives (nn.fused.FUSED), written as the formulas they fuse.
    "dense": lambda torch, xs, p, n: xs[0] @ xs[1].T + xs[2],
    "quadratic_cost": lambda torch, xs, p, n: 0.5 * ((xs[0] - xs[1]) ** 2).sum() / _batch(xs[0]),
    "sigmoid_cross_entropy": lambda torch, xs, p, n: torch.nn.functional.binary_cross_entropy_with_logits(
        xs[0], xs[1], reduction="sum") / _batch(xs[0]),
    "softmax_cross_entropy": lambda torch, xs, p, n: -(xs[1] * torch.log_softmax(xs[0], dim=-1)).sum()
        / _batch(xs[0]),
}


def test_every_primitive_with_cases_has_a_pytorch_counterpart():
    assert sorted(set(CASES) - set(TORCH)) == []


def _node_of(out: Tensor, name: str):
    """The node of primitive ``name`` in the graph of a case (the case calls it once)."""
    stack, seen = [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op is not None and node.op.name == name:
            return node
        stack.extend(node.parents)
    raise AssertionError(f"no {name} node in the case's graph")


@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=[case_id(n, c) for n, c in CASE_LIST])
def test_vjp_agrees_with_pytorch_to_1e_12(torch, name, case):
    engine_out = case.fn(*[Tensor(a.copy(), requires_grad=True) for a in case.inputs])
    node = _node_of(engine_out, name)
    g = upstream(engine_out.shape, np.random.default_rng(len(case.label) * 13 + len(name)))
    ours = tape_vjp(case.fn, case.inputs, g)

    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in case.inputs]
    theirs_out = TORCH[name](torch, xs, node.params, node)
    np.testing.assert_allclose(engine_out.data, theirs_out.detach().numpy(), rtol=RTOL, atol=ATOL,
                               err_msg=f"{name} ({case.label}): forward")
    theirs = torch.autograd.grad(theirs_out, xs, grad_outputs=torch.as_tensor(g, dtype=theirs_out.dtype),
                                 allow_unused=True)
    for index, (mine, reference) in enumerate(zip(ours, theirs)):
        reference = np.zeros_like(case.inputs[index]) if reference is None else reference.numpy()
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name} ({case.label}): input {index}")


def test_a_rule_wrong_by_one_part_in_a_million_is_caught(torch, monkeypatch):
    # Below finite differences' resolution, well above rounding: the comparison must see it.
    from autograd_core import PRIMITIVES

    matmul = PRIMITIVES["matmul"]
    right = matmul.vjps
    monkeypatch.setattr(matmul, "vjps", (lambda g, out, x, y: right[0](g, out, x, y) * (1 + 1e-6), right[1]))
    name, case = next((n, c) for n, c in CASE_LIST if n == "matmul" and c.label == "(2, 3, 4) (2, 4, 2)")
    with pytest.raises(AssertionError, match="input 0"):
        test_vjp_agrees_with_pytorch_to_1e_12(torch, name, case)


# Inputs scaled far from 1, in float32: where PyTorch's gradient is finite, the engine's
# must be finite too and agree (an intermediate that overflows or underflows, such as y²
# in the quotient rule, shows up here first).
SCALES = (1e-25, 1e25)


@pytest.mark.parametrize("scale", SCALES, ids=[f"scale {s:g}" for s in SCALES])
@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=[case_id(n, c) for n, c in CASE_LIST])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_float32_at_extreme_magnitudes_is_finite_where_pytorch_is(torch, name, case, scale):
    if name == "astype":
        return                                   # the case itself converts to float32
    arrays = [(a * scale).astype(np.float32) for a in case.inputs]
    with np.errstate(all="ignore"):
        engine_out = case.fn(*[Tensor(a.copy(), requires_grad=True) for a in arrays])
        node = _node_of(engine_out, name)
        g = upstream(engine_out.shape, np.random.default_rng(7)).astype(np.float32)
        ours = tape_vjp(case.fn, arrays, g, dtype=np.float32)
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    theirs_out = TORCH[name](torch, xs, node.params, node)
    theirs = torch.autograd.grad(theirs_out, xs, grad_outputs=torch.as_tensor(g, dtype=theirs_out.dtype),
                                 allow_unused=True)
    for index, (mine, reference) in enumerate(zip(ours, theirs)):
        if reference is None:
            continue
        reference = reference.numpy()
        finite = np.isfinite(reference)
        assert np.all(np.isfinite(mine[finite])), (
            f"{name} ({case.label}) ×{scale:g}: input {index} has non-finite gradients where "
            f"PyTorch's are finite: ours {mine[finite]}, PyTorch {reference[finite]}")
        np.testing.assert_allclose(mine[finite], reference[finite], rtol=1e-3,
                                   atol=1e-6 * float(np.max(np.abs(reference[finite]), initial=0.0)),
                                   err_msg=f"{name} ({case.label}) ×{scale:g}: input {index}")
