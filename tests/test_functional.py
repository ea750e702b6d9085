"""Function transforms against central finite differences, closed forms, each other, and
(when installed) PyTorch's ``torch.autograd.grad(..., create_graph=True)``."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import require

import autograd_core as ag
from autograd_core import (
    Tensor,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    no_grad,
    per_example_grads,
    value_and_grad,
    vjp,
)

rng = np.random.default_rng(7)


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of a scalar numpy function."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        out[i] = (f(plus) - f(minus)) / (2 * eps)
    return out


def numerical_jacobian(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    out_shape = np.shape(f(x))
    J = np.zeros(out_shape + x.shape)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        J[(...,) + i] = (np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * eps)
    return J


def as_numpy(f):
    """Evaluate an autograd_core function on numpy input, numpy out (for finite differences)."""
    return lambda *xs: np.asarray(f(*[Tensor(x) for x in xs]).data)


W1 = rng.standard_normal((4, 3))
W2 = rng.standard_normal((2, 4))


def mlp_loss(x):
    """A matmul chain: Σ tanh(W2 · sigmoid(W1 x))²."""
    h = ag.sigmoid(Tensor(W1) @ x)
    return (ag.tanh(Tensor(W2) @ h) ** 2).sum()


# ------------------------------------------------------------------ grad / value_and_grad
def test_grad_matches_finite_differences_and_returns_numpy_for_numpy():
    x = rng.standard_normal(3)
    g = grad(mlp_loss)(x)
    assert isinstance(g, np.ndarray) and g.shape == x.shape
    np.testing.assert_allclose(g, numerical_gradient(as_numpy(mlp_loss), x), rtol=1e-6, atol=1e-9)


def test_grad_of_quadratic_is_closed_form():
    A = rng.standard_normal((4, 4))
    b = rng.standard_normal(4)
    x = rng.standard_normal(4)
    g = grad(lambda x: x @ (Tensor(A) @ x) / 2 + (Tensor(b) * x).sum())(x)
    np.testing.assert_allclose(g, (A + A.T) @ x / 2 + b, rtol=1e-12)


def test_value_and_grad_returns_both_and_several_argnums():
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    value, (ga, gb) = value_and_grad(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(value, np.sum(a * a * b))
    np.testing.assert_allclose(ga, 2 * a * b)
    np.testing.assert_allclose(gb, a * a)


def test_argnums_selects_an_argument_and_others_are_constants():
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    gb = grad(lambda a, b: (ag.sin(a) * b).sum(), argnums=1)(a, b)
    np.testing.assert_allclose(gb, np.sin(a))
    g_last = grad(lambda a, b: (ag.sin(a) * b).sum(), argnums=-1)(a, b)
    np.testing.assert_allclose(g_last, np.sin(a))


def test_tensor_in_tensor_out_and_the_input_is_left_alone():
    x = Tensor(rng.standard_normal(3))
    g = grad(lambda x: (x ** 3).sum())(x)
    assert isinstance(g, Tensor) and not g.requires_grad
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    assert x.grad is None and not x.requires_grad


def test_output_independent_of_the_argument_gives_zeros():
    g = grad(lambda x, y: (y * 2).sum(), allow_unused=True)(np.ones(3), Tensor(np.ones(2)))
    np.testing.assert_array_equal(g.data, np.zeros(3))


def test_works_inside_no_grad():
    x = rng.standard_normal(3)
    with no_grad():
        g = grad(lambda x: (ag.exp(x)).sum())(x)
    np.testing.assert_allclose(g, np.exp(x))


def test_captured_graph_is_not_freed_by_a_transform():
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    h = ag.tanh(w)                            # the user's own graph, backwarded later
    grad(lambda x: (x * h).sum())(np.ones(3))
    h.sum().backward()
    np.testing.assert_allclose(w.grad, 1 - np.tanh(w.data) ** 2)


# -------------------------------------------------------------------- nesting: grad(grad)
SCALAR_CASES = {
    "tanh": (ag.tanh, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (ag.sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s)),
    "exp": (ag.exp, np.exp),
    "log": (ag.log, lambda x: -1 / x ** 2),
    "sin": (ag.sin, lambda x: -np.sin(x)),
}


@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_grad_of_grad_is_the_closed_form_second_derivative(name):
    f, second = SCALAR_CASES[name]
    for x in (0.3, 0.8, 1.7):
        d2 = grad(grad(f))(x)
        assert isinstance(d2, np.ndarray)
        np.testing.assert_allclose(d2, second(x), rtol=1e-10)


@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_grad_of_grad_matches_finite_differences_of_grad(name):
    f, _ = SCALAR_CASES[name]
    first = grad(f)
    for x in (0.4, 1.3):
        numerical = (first(x + 1e-6) - first(x - 1e-6)) / 2e-6
        np.testing.assert_allclose(grad(first)(x), numerical, rtol=1e-6)


def test_third_derivative():
    np.testing.assert_allclose(grad(grad(grad(ag.sin)))(0.7), -np.cos(0.7), rtol=1e-12)


def test_grad_of_grad_through_a_matmul_chain():
    """d²/ds² Σ tanh(W2 · sigmoid(W1 (s·u))) against finite differences of the first derivative."""
    u = rng.standard_normal(3)

    def f(s):
        return mlp_loss(s * Tensor(u))

    first = grad(f)
    for s in (0.2, -0.9):
        numerical = (first(s + 1e-6) - first(s - 1e-6)) / 2e-6
        np.testing.assert_allclose(grad(first)(s), numerical, rtol=1e-5)


def test_nesting_through_a_captured_variable_gives_the_mixed_partial():
    # ∂/∂y [∂/∂x Σ (x y)²] = ∂/∂y 2 x y² = 4 x y
    x0, y0 = rng.standard_normal(3), rng.standard_normal(3)
    mixed = grad(lambda y: (grad(lambda x: ((x * y) ** 2).sum())(x0)).sum())(y0)
    np.testing.assert_allclose(mixed, 4 * x0 * y0, rtol=1e-12)


def test_inner_transform_under_outer_returns_a_tensor_with_graph():
    seen = []

    def outer(x):
        g = grad(lambda z: (z ** 3).sum())(x)
        seen.append(g)
        return g.sum()

    grad(outer)(np.ones(2))
    assert isinstance(seen[0], Tensor) and seen[0].requires_grad


def test_no_perturbation_confusion():
    # Siskind & Pearlmutter: d/dx [x · (d/dy (x + y))] = d/dx [x · 1] = 1, not 2.
    np.testing.assert_allclose(grad(lambda x: x * grad(lambda y: x + y)(1.0))(2.0), 1.0)


def test_result_for_a_tensor_that_requires_grad_can_be_backwarded_again():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    g = grad(lambda z: (z ** 3).sum())(x)          # 3x², tied to x's graph
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * x.data)


def test_the_same_tensor_passed_twice_gets_a_gradient_per_position():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    ga, gb = grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_allclose(ga.data, x.data ** 2)
    np.testing.assert_allclose(gb.data, 2 * x.data ** 2)


# ------------------------------------------------------------------------------ vjp / jvp
def test_vjp_is_u_transpose_jacobian_and_can_be_called_twice():
    x = rng.standard_normal(3)
    f = lambda x: ag.tanh(Tensor(W1) @ x)  # noqa: E731
    out, vjp_fn = vjp(f, x)
    J = numerical_jacobian(as_numpy(f), x)
    np.testing.assert_allclose(out, np.tanh(W1 @ x))
    for _ in range(2):
        u = rng.standard_normal(4)
        (g,) = vjp_fn(u)
        np.testing.assert_allclose(g, u @ J, rtol=1e-6, atol=1e-9)


def test_vjp_with_several_primals():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    out, vjp_fn = vjp(lambda a, b: a @ b, a, b)
    u = rng.standard_normal((2, 2))
    ga, gb = vjp_fn(u)
    np.testing.assert_allclose(ga, u @ b.T)
    np.testing.assert_allclose(gb, a.T @ u)


def test_vjp_refuses_a_cotangent_of_the_wrong_shape():
    _, vjp_fn = vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\).*\(3,\)"):
        vjp_fn(np.ones(2))


def test_jvp_matches_finite_differences_along_the_tangent():
    x, t = rng.standard_normal(3), rng.standard_normal(3)
    f = lambda x: ag.tanh(Tensor(W1) @ ag.sin(x)) * 3  # noqa: E731
    out, tangent_out = jvp(f, (x,), (t,))
    eps = 1e-6
    numerical = (as_numpy(f)(x + eps * t) - as_numpy(f)(x - eps * t)) / (2 * eps)
    np.testing.assert_allclose(out, as_numpy(f)(x))
    np.testing.assert_allclose(tangent_out, numerical, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(tangent_out, numerical_jacobian(as_numpy(f), x) @ t, rtol=1e-6, atol=1e-9)


def test_jvp_with_two_primals_adds_the_directional_derivatives():
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    ta, tb = rng.standard_normal(3), rng.standard_normal(3)
    _, tangent = jvp(lambda a, b: a * ag.exp(b), (a, b), (ta, tb))
    np.testing.assert_allclose(tangent, ta * np.exp(b) + a * np.exp(b) * tb, rtol=1e-12)


def test_jvp_refuses_mismatched_tangents():
    with pytest.raises(ValueError, match="tangent 0 has shape"):
        jvp(lambda x: x, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        jvp(lambda x: x, (np.ones(3),), (np.ones(3), np.ones(3)))


def test_grad_of_jvp_composes():
    # d/dx [J(x) t] for f = x³ elementwise: J t = 3x² t, its gradient (summed) 6 x t
    x, t = rng.standard_normal(3), rng.standard_normal(3)
    g = grad(lambda x: jvp(lambda z: z ** 3, (x,), (t,))[1].sum())(x)
    np.testing.assert_allclose(g, 6 * x * t, rtol=1e-12)


# --------------------------------------------------------------- jacobian / hessian / hvp
def test_jacobian_of_a_linear_map_is_the_matrix_and_matches_finite_differences():
    x = rng.standard_normal(3)
    np.testing.assert_allclose(jacobian(lambda x: Tensor(W1) @ x)(x), W1)
    f = lambda x: ag.sigmoid(Tensor(W1) @ x) * x.sum()  # noqa: E731
    np.testing.assert_allclose(jacobian(f)(x), numerical_jacobian(as_numpy(f), x), rtol=1e-6, atol=1e-9)


def test_jacobian_of_matrix_input_and_several_argnums():
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    JA, JB = jacobian(lambda A, B: A @ B, argnums=(0, 1))(A, B)
    assert JA.shape == (2, 4, 2, 3) and JB.shape == (2, 4, 3, 4)
    np.testing.assert_allclose(JA, numerical_jacobian(lambda a: a @ B, A), atol=1e-8)
    np.testing.assert_allclose(JB, numerical_jacobian(lambda b: A @ b, B), atol=1e-8)


def test_hessian_of_quadratic_is_the_symmetrized_matrix():
    A = rng.standard_normal((4, 4))            # not symmetric: H = (A + Aᵀ)/2
    b = rng.standard_normal(4)
    f = lambda x: x @ (Tensor(A) @ x) / 2 + (Tensor(b) * x).sum()  # noqa: E731
    for _ in range(2):
        H = hessian(f)(rng.standard_normal(4))
        np.testing.assert_allclose(H, (A + A.T) / 2, rtol=1e-12, atol=1e-14)


def test_hessian_matches_finite_differences_of_the_gradient():
    x = rng.standard_normal(3)
    H = hessian(mlp_loss)(x)
    numerical = numerical_jacobian(lambda z: grad(mlp_loss)(z), x)
    np.testing.assert_allclose(H, numerical, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hessian_with_several_argnums_gives_the_blocks():
    a, b = rng.standard_normal(2), rng.standard_normal(2)
    (Haa, Hab), (Hba, Hbb) = hessian(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(Haa, np.diag(2 * b))
    np.testing.assert_allclose(Hab, np.diag(2 * a))
    np.testing.assert_allclose(Hba, np.diag(2 * a))
    np.testing.assert_allclose(Hbb, np.zeros((2, 2)))


@pytest.mark.parametrize("f", [mlp_loss, lambda x: (ag.exp(x) * ag.log(x * x + 1)).sum()])
def test_hvp_equals_hessian_times_v(f):
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    np.testing.assert_allclose(hvp(f, x, v), hessian(f)(x) @ v, rtol=1e-10, atol=1e-12)


def test_hvp_of_quadratic_is_closed_form_and_accepts_tuples():
    A = rng.standard_normal((3, 3))
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    np.testing.assert_allclose(hvp(lambda x: x @ (Tensor(A) @ x), x, v), (A + A.T) @ v, rtol=1e-12)
    ha, hb = hvp(lambda a, b: (a * b).sum(), (x, x), (v, 2 * v))
    np.testing.assert_allclose(ha, 2 * v)
    np.testing.assert_allclose(hb, v)


# --------------------------------------------------------------------------------- errors
def test_grad_of_non_scalar_output_names_the_function_and_shape():
    def spread(x):
        return x * 2

    with pytest.raises(ValueError, match=r"spread to return a scalar.*shape \(3,\)"):
        grad(spread)(np.ones(3))


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums=2.*2 positional"):
        grad(lambda a, b: (a * b).sum(), argnums=2)(np.ones(2), np.ones(2))


def test_non_float_argument_is_refused():
    with pytest.raises(TypeError, match="floating-point"):
        grad(lambda s: s)(np.array("a"))


# ------------------------------------------------------------------------ per-example grads
def _mlp_params():
    return {"W": rng.standard_normal((3, 5)), "b": rng.standard_normal(5), "V": rng.standard_normal((5, 2))}


def _mlp_batch_loss(params, X, Y):
    h = ag.tanh(Tensor(X) @ params["W"] + params["b"])
    return ((h @ params["V"] - Tensor(Y)) ** 2).sum(axis=1).mean()


def test_per_example_grads_each_row_is_that_examples_gradient_and_their_mean_the_batch_gradient():
    params = _mlp_params()
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    per = per_example_grads(_mlp_batch_loss, params, X, Y)
    names = list(params)
    batch = grad(lambda *vals: _mlp_batch_loss(dict(zip(names, vals)), X, Y), argnums=(0, 1, 2))(
        *params.values())
    for name, g in zip(names, batch):
        assert per[name].shape == (6, *params[name].shape)
        np.testing.assert_allclose(per[name].mean(axis=0), g, rtol=1e-10, atol=1e-12)
    for n in (0, 4):
        single = grad(lambda W: _mlp_batch_loss({**params, "W": W}, X[n:n + 1], Y[n:n + 1]))(params["W"])
        np.testing.assert_allclose(per["W"][n], single, rtol=1e-12)
    assert len({per["W"][n].tobytes() for n in range(6)}) == 6   # genuinely different rows


def test_per_example_grads_accepts_a_list_and_a_single_array():
    w = rng.standard_normal(3)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal(4)
    loss = lambda w, x, y: ((x @ w - y) ** 2).sum()  # noqa: E731
    single = per_example_grads(loss, w, X, Y)
    expected = 2 * (X @ w - Y)[:, None] * X
    np.testing.assert_allclose(single, expected, rtol=1e-12)
    (listed,) = per_example_grads(lambda ps, x, y: loss(ps[0], x, y), [w], X, Y)
    np.testing.assert_allclose(listed, expected, rtol=1e-12)


def test_per_example_grads_cost_is_reported(capsys):
    """Measures (and prints; no timing assertion) the cost stated in the docstring."""
    params = _mlp_params()
    X, Y = rng.standard_normal((64, 3)), rng.standard_normal((64, 2))
    names = list(params)
    batch_grad = grad(lambda *vals: _mlp_batch_loss(dict(zip(names, vals)), X, Y), argnums=(0, 1, 2))
    start = time.perf_counter()
    batch_grad(*params.values())
    batched = time.perf_counter() - start
    start = time.perf_counter()
    per = per_example_grads(_mlp_batch_loss, params, X, Y)
    looped = time.perf_counter() - start
    print(f"per_example_grads N=64: {looped / batched:.1f}x one batched gradient")
    assert per["V"].shape == (64, 5, 2)


# ------------------------------------------------------------------------- PyTorch oracle
UNARY = ["tanh", "sigmoid", "sin", "exp_small", "square", "softplus_log"]


def random_expression(seed):
    """A random smooth scalar function, written once for both libraries (``ns`` = namespace)."""
    r = np.random.default_rng(seed)
    ops = list(r.choice(UNARY, size=4))
    W = r.standard_normal((3, 3)) / 2
    mix = r.standard_normal(3)

    def f(ns, x):
        h = x
        for k, op in enumerate(ops):
            if op == "tanh":
                h = ns.tanh(h)
            elif op == "sigmoid":
                h = ns.sigmoid(h)
            elif op == "sin":
                h = ns.sin(h)
            elif op == "exp_small":
                h = ns.exp(h * 0.3)
            elif op == "square":
                h = h * h
            else:
                h = ns.log(1 + ns.exp(h))
            if k == 1:
                h = ns.const(W) @ h + x
        return (h * ns.const(mix)).sum() + (h * x).sum()

    return f, ops


class _AgNamespace:
    tanh, sigmoid, sin, exp, log = ag.tanh, ag.sigmoid, ag.sin, ag.exp, ag.log
    const = staticmethod(Tensor)


def _torch_namespace(torch):
    class TorchNamespace:
        tanh, sigmoid, sin, exp, log = torch.tanh, torch.sigmoid, torch.sin, torch.exp, torch.log
        const = staticmethod(lambda a: torch.tensor(a, dtype=torch.float64))

    return TorchNamespace


@pytest.mark.parametrize("seed", range(6))
def test_second_derivatives_and_hvp_match_pytorch(seed):
    torch = require("torch", "PyTorch is the optional second-derivative oracle (pip install torch==2.13.0)")
    f, ops = random_expression(seed)
    x = np.random.default_rng(100 + seed).standard_normal(3)
    v = np.random.default_rng(200 + seed).standard_normal(3)
    tns = _torch_namespace(torch)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(f(tns, xt), xt, create_graph=True)
    H_torch = np.stack([torch.autograd.grad(gt[i], xt, retain_graph=True)[0].numpy() for i in range(3)])
    (hv_torch,) = torch.autograd.grad(gt, xt, grad_outputs=torch.tensor(v))
    f_ag = lambda x: f(_AgNamespace, x)  # noqa: E731
    np.testing.assert_allclose(grad(f_ag)(x), gt.detach().numpy(), rtol=1e-10, err_msg=str(ops))
    np.testing.assert_allclose(hessian(f_ag)(x), H_torch, rtol=1e-9, atol=1e-12, err_msg=str(ops))
    np.testing.assert_allclose(hvp(f_ag, x, v), hv_torch.numpy(), rtol=1e-9, atol=1e-12, err_msg=str(ops))


def test_linear_function_has_zero_hessian_and_hvp():
    b = rng.standard_normal(3)
    f = lambda x: (Tensor(b) * x).sum()  # noqa: E731
    np.testing.assert_array_equal(hessian(f)(np.ones(3)), np.zeros((3, 3)))
    np.testing.assert_array_equal(hvp(f, np.ones(3), rng.standard_normal(3)), np.zeros(3))
