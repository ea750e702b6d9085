"""In-place semantics checked against PyTorch: raise exactly where it raises, agree where it works.

PyTorch saves a value for the backward pass, and checks it for in-place changes, only when a
gradient that needs it will be computed (its derivatives.yaml codegen): in ``d * 3`` the value
of d would serve only the gradient of the constant 3, so d is not saved and ``d += d * 3`` is
fine. Each sequence below is written once against a small adapter, ``lib``, and run with both
libraries. The oracle is PyTorch at run time; ``TORCH_RAISES`` only documents what PyTorch
2.13 does, and a test of its own checks that documentation.
"""

from __future__ import annotations

from operator import iadd, imul, isub, setitem

import numpy as np
import pytest
from conftest import require

import autograd_core as ag

RTOL = 1e-12


@pytest.fixture(scope="module")
def torch():
    return require("torch", "PyTorch is the oracle of in-place semantics (pip install torch==2.13.0)")


class Lib:
    """What differs between the libraries: creating tensors and turning recording off.

    Everything else (operators, .exp(), .T, indexing, .backward(), .grad) is shared syntax.
    Both adapters draw from the same seed in the same order, so both see the same inputs.
    """

    def __init__(self, torch=None, seed=0):
        self.torch, self.rng, self.leaves = torch, np.random.default_rng(seed), []
        self.no_grad = torch.no_grad if torch is not None else ag.no_grad

    def tensor(self, values, grad=False):
        make = self.torch.tensor if self.torch is not None else ag.Tensor
        t = make(values, requires_grad=grad)     # float64 arrays in: float64 tensors in both
        if grad:
            self.leaves.append(t)
        return t

    def rand(self, *shape, grad=False):
        return self.tensor(self.rng.uniform(0.5, 2.0, shape), grad)   # positive: log, sqrt, pow


def numpy(t):
    return None if t is None else np.asarray(t.detach() if hasattr(t, "detach") else t).copy()


def run(case, lib):
    """The forward value, then the gradient of every leaf after out.sum().backward()."""
    out = case(lib)
    value = numpy(out)
    out.sum().backward()
    return [value, *(numpy(leaf.grad) for leaf in lib.leaves)]


# ------------------------------------------------------------------ micrograd's test_more_ops
def more_ops(lib, shape):
    a, b = lib.tensor(np.full(shape, -4.0), grad=True), lib.tensor(np.full(shape, 2.0), grad=True)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()      # d * 2 and 3 * d: d would serve only the constants' gradients,
    d += 3 * d + (b - a).relu()      # which are never computed, so PyTorch does not save it
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return [numpy(g), numpy(a.grad), numpy(b.grad)]


@pytest.mark.parametrize("shape", [(), (1,)], ids=["0-d", "shape (1,)"])
def test_micrograd_more_ops_with_inplace_updates_matches_torch(torch, shape):
    for got, want in zip(more_ops(Lib(), shape), more_ops(Lib(torch), shape), strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL)


# ------------------------------------------- families: one operation, then an in-place change
# The in-place change is a function: iadd(t, 1) is `t += 1`, setitem(t, 0, 0.0) is `t[0] = 0.0`.
plus_one, minus_one = (lambda t: iadd(t, 1)), (lambda t: isub(t, 1))
times_two, first_row_to_zero = (lambda t: imul(t, 2)), (lambda t: setitem(t, 0, 0.0))
UNARY = {  # name: (operation, how to modify its input or its output)
    "exp": (lambda t: t.exp(), plus_one),
    "sigmoid": (lambda t: t.sigmoid(), times_two),
    "tanh": (lambda t: t.tanh(), first_row_to_zero),
    "relu": (lambda t: t.relu(), minus_one),
    "sqrt": (lambda t: t.sqrt(), plus_one),
    "log": (lambda t: t.log(), plus_one),
    "square": (lambda t: t**2, plus_one),
    "two_to_the": (lambda t: 2.0**t, plus_one),
    "sum": (lambda t: t.sum(), plus_one),
    # Views of c: after `c *= 2` they hold the doubled values, and their gradient doubles too.
    "reshape": (lambda t: t.reshape(-1), plus_one),
    "transpose": (lambda t: t.T, times_two),
    "slice": (lambda t: t[0], times_two),
}
BINARY = {  # c is computed from a leaf; k is a leaf, a constant or requiring grad
    "add": lambda c, k: c + k,
    "mul": lambda c, k: c * k,
    "div": lambda c, k: c / k,
    "rdiv": lambda c, k: k / c,
    "matmul": lambda c, k: c @ k,
    "pow": lambda c, k: c**k,
    "view_mul": lambda c, k: c[0] * k,   # mul saves the view of c, which shares c's versions
}


def unary_case(op, modify, modified):
    def sequence(lib):
        c = lib.rand(2, 2, grad=True) * 1
        y = op(c)
        modify(y if modified == "output" else c)
        return y
    return sequence


def binary_case(op, k_requires_grad, modified):
    def sequence(lib):
        c, k = lib.rand(2, 2, grad=True) * 1, lib.rand(2, 2, grad=k_requires_grad)
        y = op(c, k)
        if modified == "c":
            c += 1                   # recorded: c is computed
        else:
            with lib.no_grad():      # k is a leaf: it may change in place only outside recording
                k += 1
        return y
    return sequence


CASES = {}
for _name, (_op, _modify) in UNARY.items():
    for _modified in ("output", "input"):
        CASES[f"{_name}-{_modified}_modified"] = unary_case(_op, _modify, _modified)
for _name, _op in BINARY.items():
    for _k_grad in (False, True):
        for _modified in ("c", "k"):
            CASES[f"{_name}-k_{'grad' if _k_grad else 'const'}-{_modified}_modified"] = \
                binary_case(_op, _k_grad, _modified)


# ------------------------------------------------------------- single sequences, by hand
def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def d_plus_equals_d_times_3(lib):
    d = lib.rand(3, grad=True) * lib.rand(3, grad=True)
    d += d * 3
    return d


@case
def optimizer_step_between_forward_and_backward(lib):
    x, W = lib.rand(4, 3), lib.rand(3, 2, grad=True)
    loss = ((x @ W) ** 2).sum()      # x @ W would need W only for x's gradient: x is a constant
    with lib.no_grad():
        W -= 0.1
    return loss


@case
def setitem_on_a_saved_value(lib):
    x = lib.rand(3, grad=True)
    y = x * 1
    z = x.tanh() * y
    y[0] = 5.0
    return z


@case
def c_times_equals_c(lib):
    c = lib.rand(3, grad=True) * 1
    c *= c                           # PyTorch saves c as the right operand, then overwrites it
    return c


@case
def inplace_chain(lib):
    a, b = lib.rand(3, grad=True), lib.rand(3, grad=True)
    c = a * 1
    c += c + b
    c *= a                           # PyTorch keeps the value c had before the write
    c -= b.tanh()
    c /= b
    return c


@case
def plus_equals_on_a_leaf(lib):
    w = lib.rand(3, grad=True)
    w += 1
    return w


@case
def setitem_records_the_written_value(lib):
    a, v = lib.rand(3, grad=True), lib.rand(grad=True)
    c = a * 1
    c[1:] = v * 2
    buffer = lib.tensor(np.zeros(4))
    buffer[1:3] = a[0:2].exp()       # a constant buffer starts requiring grad
    return c.sum() + buffer.sum()


@case
def detached_alias_written_under_no_grad(lib):
    c = lib.rand(4, grad=True) * 1
    z, alias = c * c, c.detach()     # the alias shares c's memory and version counter
    with lib.no_grad():
        alias += 1
    return z


@case
def augmented_assignment_into_a_slice_of_the_base(lib):
    c = lib.rand(4, grad=True) * 1
    c[1:3] *= 3                      # a view of c multiplied, then c[1:3] = view
    return c * c


@case
def recorded_write_through_a_view(lib):
    c = lib.rand(4, grad=True) * 1
    z, v = c * c, c[0:2]
    v += 1                           # PyTorch writes into c (saved by mul); the engine copies
    return z


TORCH_RAISES = {
    # The operation's rule reads its output (exp: g * out) or its input (log: g / x). 2.0 ** c
    # reads both: PyTorch's exponent rule looks at c as well, to give 0 where the base is 0.
    *(f"{op}-output_modified" for op in ["exp", "sigmoid", "tanh", "relu", "sqrt", "two_to_the"]),
    *(f"{op}-input_modified" for op in ["log", "square", "two_to_the"]),
    # mul, div, matmul: c is saved only when k requires grad; k is saved because c requires grad.
    *(f"{op}-{k}_modified" for op in ["mul", "div", "matmul", "view_mul"]
      for k in ["k_const-k", "k_grad-c", "k_grad-k"]),
    # k / c and c ** k: c's own gradient needs both operands.
    *(f"{op}-{k}_modified" for op in ["rdiv", "pow"]
      for k in ["k_const-c", "k_const-k", "k_grad-c", "k_grad-k"]),
    # Single sequences.
    "setitem_on_a_saved_value", "c_times_equals_c", "plus_equals_on_a_leaf",
    "detached_alias_written_under_no_grad", "recorded_write_through_a_view",
}


@pytest.mark.parametrize("name", CASES)
def test_inplace_sequence_matches_torch(torch, name):
    try:
        expected, refusal = run(CASES[name], Lib(torch)), None
    except RuntimeError as error:
        expected, refusal = None, str(error)
    if refusal is not None:
        assert "in-place" in refusal or "inplace" in refusal, refusal   # refused for this reason
        with pytest.raises(ag.InplaceError):
            run(CASES[name], Lib())
        return
    for got, want in zip(run(CASES[name], Lib()), expected, strict=True):   # value, then grads
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=RTOL)


def test_torch_raises_in_exactly_the_documented_cases(torch):
    raised = set()
    for name, sequence in CASES.items():
        try:
            run(sequence, Lib(torch))
        except RuntimeError:
            raised.add(name)
    assert raised == TORCH_RAISES
