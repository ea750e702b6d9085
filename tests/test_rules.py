"""Every primitive of the table, alone, against central finite differences (float64).

The cases live in ``gradient_cases.py`` (one entry per primitive name); each gradient
is taken with a random upstream gradient, never all ones, so a rule that ignores
``g``'s values or its shape cannot pass.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
from gradient_cases import CASES, all_cases, case_id, numerical_vjp, tape_vjp, upstream

import autograd_core
from autograd_core import (
    PRIMITIVES,
    GradcheckError,
    NotSaved,
    Primitive,
    Tensor,
    gradcheck,
    gradgradcheck,
    gradients,
    primitive,
    rule,
    trace_backward,
)
from autograd_core.node import OUTPUT_NOT_SAVED

CASE_LIST = all_cases()
CASE_IDS = [case_id(name, case) for name, case in CASE_LIST]


def _engine_primitives() -> dict[str, Primitive]:
    """Every primitive of the engine's table and of nn's own (``nn.fused.FUSED``), after
    importing all their modules.

    Primitives that a test or a documentation example registers for itself (defined in a
    test module, or in a docs page run by test_docs.py as module ``docs_<page>``) are left out.
    """
    for module in pkgutil.walk_packages(autograd_core.__path__, "autograd_core."):
        importlib.import_module(module.name)
    from nn.fused import FUSED

    return {name: prim for name, prim in {**PRIMITIVES, **FUSED}.items()
            if not prim.forward.__module__.startswith(("test_", "tests.", "gradient_cases", "docs_"))}


def test_every_registered_primitive_has_gradient_cases():
    missing = sorted(set(_engine_primitives()) - set(CASES))
    assert not missing, (
        f"primitives without a gradient test: {missing}. Add cases for them to "
        "tests/gradient_cases.py (CASES)."
    )


def test_every_case_names_a_registered_primitive():
    unknown = sorted(set(CASES) - set(_engine_primitives()))
    assert not unknown, f"gradient cases for primitives that do not exist: {unknown}"


def test_nn_fused_primitives_stay_out_of_the_engine_table():
    from nn.fused import FUSED

    assert FUSED and not set(FUSED) & set(PRIMITIVES)


def test_every_primitive_documents_its_formula():
    for name, prim in _engine_primitives().items():
        assert prim.name == name
        assert prim.formula.strip(), f"primitive {name!r} has no formula"


@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=CASE_IDS)
def test_vjp_matches_central_differences(name, case):
    rng = np.random.default_rng(len(case.label) * 7919 + len(name))
    with np.errstate(all="raise"):
        out_shape = case.fn(*[Tensor(a) for a in case.inputs]).shape
    g = upstream(out_shape, rng)
    analytical = tape_vjp(case.fn, case.inputs, g)
    numerical = numerical_vjp(case.fn, case.inputs, g, eps=case.eps)
    for index, (a, n, x) in enumerate(zip(analytical, numerical, case.inputs)):
        assert isinstance(a, np.ndarray) and a.shape == x.shape and a.dtype == np.float64, (
            f"{name}: gradient of input {index} has shape {np.shape(a)}, dtype "
            f"{getattr(a, 'dtype', None)}; expected {x.shape} float64"
        )
        np.testing.assert_allclose(a, n, rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{name} ({case.label}): input {index}")


@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=CASE_IDS)
def test_vjp_with_one_input_requiring_grad_at_a_time(name, case):
    # The others are constants, so the node keeps only what that input's rule declared and
    # the rest reach the rules as NotSaved: the engine's real path when data x needs no grad.
    rng = np.random.default_rng(len(case.label) * 31 + len(name))
    out_shape = case.fn(*[Tensor(a) for a in case.inputs]).shape
    g = upstream(out_shape, rng)
    every = tape_vjp(case.fn, case.inputs, g)
    for which in range(len(case.inputs)):
        xs = [Tensor(a.copy(), requires_grad=(i == which)) for i, a in enumerate(case.inputs)]
        out = case.fn(*xs)
        if not out.requires_grad:
            continue                          # a non-differentiable input (where's condition)
        alone = gradients(out, xs[which], grad_outputs=g)
        np.testing.assert_allclose(alone, every[which], rtol=1e-14, atol=1e-300,
                                   err_msg=f"{name} ({case.label}): input {which} alone")


# ------------------------------------------------ each rule reads only what it declares
def _guarded(value, declared: bool):
    """The value itself where the rule declared it, else a guard allowing only metadata."""
    return value if declared or isinstance(value, NotSaved) else NotSaved(value)


def rules_read_only_what_they_declare(out: Tensor, name: str, rng) -> int:
    """Call every rule of every ``name`` node in ``out``'s graph with each value it did not
    declare replaced by a guard (shape, ndim, dtype and size only): a rule that reads an
    undeclared value raises, and the result must equal the rule's result on the values
    the node kept. Returns how many rules were called."""
    with trace_backward() as trace:             # gives each node its real upstream gradient
        out.backward(upstream(out.shape, rng), retain_graph=True)
    called = 0
    for step in trace:
        node, g = step.node, step.grad
        if node.op is None or node.op.name != name:
            continue
        op = node.op
        names = op.input_names * len(node.saved) if op.variadic else op.input_names
        kept_out = node.out if node.out is not None else OUTPUT_NOT_SAVED   # as the engine does
        for index, parent in enumerate(node.parents):
            if parent is None:
                continue
            declared = op.rules[0 if op.variadic else index].saves
            args = [_guarded(value, n in declared) for value, n in zip(node.saved, names)]
            guarded = op.vjps[index](g, _guarded(kept_out, "out" in declared), *args, **node.params)
            unguarded = op.vjps[index](g, kept_out, *node.saved, **node.params)
            np.testing.assert_array_equal(guarded, unguarded)
            called += 1
    return called


@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=CASE_IDS)
def test_every_rule_reads_only_the_values_it_declares(name, case):
    xs = [Tensor(a.copy(), requires_grad=True) for a in case.inputs]
    assert rules_read_only_what_they_declare(case.fn(*xs), name, np.random.default_rng(3)) >= 1


def test_the_declaration_check_catches_a_rule_reading_an_undeclared_value():
    # x̄ = g ⊙ y reads y without declaring it; ȳ's rule declares both, so with both inputs
    # requiring grad the node keeps y anyway and backward works: only the guard sees the lie.
    lying = Primitive(lambda x, y: x * y, "mul_undeclared", "z = x ⊙ y;  x̄ = g ⊙ y (y undeclared)")
    lying.defvjp(rule(lambda g, out, x, y: g * y), rule(lambda g, out, x, y: g * x, saves=("x", "y")))
    x, y = Tensor(np.ones(3), requires_grad=True), Tensor(np.full(3, 2.0), requires_grad=True)
    lying(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)
    with pytest.raises(TypeError, match="did not declare"):
        rules_read_only_what_they_declare(lying(x, y).sum(), "mul_undeclared", np.random.default_rng(0))
    # With only x requiring grad, y is not kept at all, and the engine itself refuses.
    with pytest.raises(TypeError, match="did not declare"):
        lying(x, Tensor(np.full(3, 2.0))).sum().backward()


SMOOTH = [(name, case) for name, case in CASE_LIST if case.smooth]


@pytest.mark.parametrize(("name", "case"), SMOOTH, ids=[case_id(n, c) for n, c in SMOOTH])
def test_second_derivatives_match_finite_differences(name, case):
    # gradgradcheck differentiates the gradient (recorded with create_graph=True), taken
    # with a random upstream gradient, against central differences.
    inputs = [Tensor(a.copy(), requires_grad=True) for a in case.inputs]
    assert gradgradcheck(case.fn, inputs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("name", "case"), CASE_LIST, ids=CASE_IDS)
def test_float32_gradients_keep_dtype_and_shape(name, case):
    rng = np.random.default_rng(1)
    out = case.fn(*[Tensor(a.astype(np.float32)) for a in case.inputs])
    grads = tape_vjp(case.fn, case.inputs, upstream(out.shape, rng), dtype=np.float32)
    for index, (grad, x) in enumerate(zip(grads, case.inputs)):
        assert grad.dtype == np.float32, f"{name}: input {index} gradient is {grad.dtype}"
        assert grad.shape == x.shape, f"{name}: input {index} gradient has shape {grad.shape}"


def test_float32_backward_fills_float32_grad():
    W = Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    loss = ((x @ W + b).sigmoid() * np.array([1.0, -2.0])).sum()   # float64 constant
    loss.backward()
    assert W.grad.dtype == np.float32 and W.grad.shape == (3, 2)
    assert b.grad.dtype == np.float32 and b.grad.shape == (2,)


# ------------------------------------------------------------------ a wrong rule is caught
def _square_forward(x):
    return x * x


def test_gradcheck_catches_a_wrong_vjp_outside_the_table():
    # d(x²)/dx is 2x; this rule forgets the 2. Built without registering it in PRIMITIVES.
    wrong = Primitive(_square_forward, "square_missing_factor", "z = x²;  x̄ = g ⊙ x  (wrong)")
    wrong.defvjp(rule(lambda g, out, x: g * x, saves="x"))
    assert "square_missing_factor" not in PRIMITIVES
    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: wrong(t), [x])
    message = str(info.value)
    assert "input 0" in message and "backward gives" in message and "finite differences give" in message
    # The worst element is x = 2.0: backward gives 2.0, the truth is 4.0.
    assert "input(2,)" in message and "4" in message
    assert gradcheck(lambda t: wrong(t), [x], raise_exception=False) is False
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: wrong(t), [x], fast_mode=True)

    right = Primitive(_square_forward, "square", "z = x²;  x̄ = 2 g ⊙ x")
    right.defvjp(rule(lambda g, out, x: 2 * g * x, saves="x"))
    assert gradcheck(lambda t: right(t), [x])


def test_gradcheck_catches_a_wrong_vjp_registered_in_the_table():
    name = "test_wrong_sin"
    try:
        @primitive(name, "z = sin x;  x̄ = g ⊙ sin x  (wrong: should be cos)")
        def wrong_sin(x):
            return np.sin(x)

        wrong_sin.defvjp(rule(lambda g, out, x: g * np.sin(x), saves="x"))
        assert PRIMITIVES[name] is wrong_sin
        with pytest.raises(GradcheckError, match="input 0"):
            gradcheck(lambda t: wrong_sin(t), [np.array([[0.3, 1.0], [-0.7, 2.0]])])
    finally:
        PRIMITIVES.pop(name, None)
    assert name not in PRIMITIVES


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # The first derivative is right (2x), but the rule is written on x's raw values, so under
    # create_graph it records nothing that depends on x: the second derivative comes out 0.
    detached = Primitive(_square_forward, "square_detached_rule", "z = x²;  x̄ = 2 g ⊙ x (not recorded)")
    detached.defvjp(rule(lambda g, out, x: 2 * g * np.asarray(x.data if isinstance(x, Tensor) else x),
                         saves="x"))
    x = np.array([0.5, -1.5])
    assert gradcheck(lambda t: detached(t), [x])
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda t: detached(t), [x])


# --------------------------------------------------------- documented subgradient choices
def _grad(fn, value, g=None):
    x = Tensor(np.array(value, dtype=np.float64), requires_grad=True)
    out = fn(x)
    seed = np.full(out.shape, 3.0) if g is None else g
    return gradients(out, x, grad_outputs=seed)


def test_relu_and_abs_have_gradient_zero_at_zero():
    np.testing.assert_array_equal(_grad(lambda x: x.relu(), [-1.0, 0.0, 2.0]), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(_grad(lambda x: x.abs(), [-1.0, 0.0, 2.0]), [-3.0, 0.0, 3.0])


def test_max_and_min_share_the_gradient_among_ties():
    np.testing.assert_allclose(_grad(lambda x: x.max(), [1.0, 3.0, 3.0, 2.0]), [0, 1.5, 1.5, 0])
    np.testing.assert_allclose(_grad(lambda x: x.min(), [1.0, 3.0, 1.0, 1.0]), [1, 0, 1, 1])
    # Along an axis, ties are shared within each row only.
    grad = _grad(lambda x: x.max(axis=1), [[2.0, 2.0, 0.0], [1.0, 5.0, 4.0]], g=np.array([4.0, -2.0]))
    np.testing.assert_allclose(grad, [[2.0, 2.0, 0.0], [0.0, -2.0, 0.0]])


def test_maximum_and_minimum_split_ties_equally():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = Tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    g = np.array([2.0, -4.0, 6.0])
    for op, x_expected, y_expected in [
        (autograd_core.maximum, [1.0, 0.0, 6.0], [1.0, -4.0, 0.0]),
        (autograd_core.minimum, [1.0, -4.0, 0.0], [1.0, 0.0, 6.0]),
    ]:
        gx, gy = gradients(op(x, y), [x, y], grad_outputs=g)
        np.testing.assert_allclose(gx, x_expected)
        np.testing.assert_allclose(gy, y_expected)


def test_clip_passes_the_gradient_at_its_boundaries():
    grad = _grad(lambda x: x.clip(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(grad, [0.0, 3.0, 3.0, 3.0, 0.0])
    np.testing.assert_array_equal(_grad(lambda x: x.clip(a_min=0.0), [-1.0, 0.0, 1.0]), [0, 3, 3])
    np.testing.assert_array_equal(_grad(lambda x: x.clip(a_max=0.0), [-1.0, 0.0, 1.0]), [3, 3, 0])


def test_the_subgradient_choices_are_stated_in_the_formulas():
    assert "0 at x = 0" in PRIMITIVES["relu"].formula
    assert "0 at x = 0" in PRIMITIVES["abs"].formula
    assert "ties" in PRIMITIVES["max"].formula and "ties" in PRIMITIVES["min"].formula
    assert "½[x = y]" in PRIMITIVES["maximum"].formula
    assert "a_min ≤ x ≤ a_max" in PRIMITIVES["clip"].formula
