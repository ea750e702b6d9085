"""The transforms on nested structures of arrays, and their refusal of unused arguments.

Every transform of ``autograd_core.functional`` differentiates with respect to dicts,
lists and tuples of arrays (pytrees) and returns gradients in the same structure; the
results are checked against the same transform on the flat list of leaves, and against
``torch.func.grad`` on a dict. Every transform raises when the output does not depend
on an argument it was asked to differentiate, as ``torch.autograd.grad`` does, and
``allow_unused=True`` gives the zeros instead.
"""

from collections import namedtuple

import numpy as np
import pytest
from conftest import require

import autograd_core as ag
from autograd_core import (
    BackwardError,
    Tensor,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    per_example_grads,
    value_and_grad,
    vjp,
)

RNG = np.random.default_rng(4)
TORCH_REASON = "PyTorch is the optional oracle for the transforms (pip install torch==2.13.0)"


def _tree():
    return {"W": RNG.standard_normal((3, 2)), "layers": [RNG.standard_normal(3), (RNG.standard_normal(()),)]}


def _f_tree(p, x):
    """A scalar using every leaf of ``_tree()``."""
    h = ag.tanh(x @ p["W"].T + p["layers"][0])
    return (h * h).sum() * ag.exp(p["layers"][1][0])


def _f_flat(W, b, s, x):
    return _f_tree({"W": W, "layers": [b, (s,)]}, x)


def _flat(tree):
    return [tree["W"], tree["layers"][0], tree["layers"][1][0]]


# ------------------------------------------------------------------ structures
def test_grad_of_a_nested_structure_has_its_structure():
    p, x = _tree(), RNG.standard_normal((4, 2))
    g = grad(_f_tree)(p, x)
    assert set(g) == {"W", "layers"} and isinstance(g["layers"], list) and isinstance(g["layers"][1], tuple)
    expected = grad(_f_flat, argnums=(0, 1, 2))(*_flat(p), x)
    for ours, flat in zip(_flat(g), expected):
        assert isinstance(ours, np.ndarray)
        np.testing.assert_allclose(ours, flat, rtol=1e-14)


def test_value_and_grad_of_a_dict_and_argnums_over_structures():
    p, x = _tree(), RNG.standard_normal((4, 2))
    value, (gp, gx) = value_and_grad(_f_tree, argnums=(0, 1))(p, x)
    np.testing.assert_allclose(value, _f_flat(*_flat(p), x).data, rtol=1e-14)
    expected = grad(_f_flat, argnums=(0, 1, 2, 3))(*_flat(p), x)
    for ours, flat in zip([*_flat(gp), gx], expected):
        np.testing.assert_allclose(ours, flat, rtol=1e-14)


def test_tensor_leaves_give_tensors_and_namedtuples_keep_their_type():
    Pair = namedtuple("Pair", "w b")
    params = Pair(Tensor(RNG.standard_normal(3)), Tensor(RNG.standard_normal(())))
    g = grad(lambda p: ((p.w * 2 + p.b) ** 2).sum())(params)
    assert type(g) is Pair and isinstance(g.w, Tensor) and isinstance(g.b, Tensor)
    np.testing.assert_allclose(g.w.data, 4 * (2 * params.w.data + params.b.data))


def test_a_list_of_plain_numbers_is_still_an_array():
    g = grad(lambda x: (x * x).sum())([1.0, 2.0, 3.0])
    assert isinstance(g, np.ndarray)
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0])
    nested = grad(lambda x: (x * x).sum())([[1.0, 2.0], [3.0, 4.0]])
    assert nested.shape == (2, 2)


def test_grad_of_model_parameters_as_a_dict():
    """What failed with a dtype message: grad of dict(model.named_parameters())."""
    import nn

    model = nn.Sequential(nn.Dense(3, 4, seed=0), nn.Sigmoid(), nn.Dense(4, 2, seed=1))
    x, y = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))
    cost = nn.QuadraticCost()
    g = grad(lambda p: cost(nn.functional_call(model, p, x), y))(dict(model.named_parameters()))
    model.zero_grad()
    cost(model(x), y).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(g[name].data, p.grad, rtol=1e-13, err_msg=name)


def test_vjp_and_jvp_take_structured_primals():
    p, x = _tree(), RNG.standard_normal((4, 2))
    f = lambda p: ag.tanh(x @ p["W"].T + p["layers"][0]) * ag.exp(p["layers"][1][0])  # noqa: E731
    flat = lambda W, b, s: f({"W": W, "layers": [b, (s,)]})  # noqa: E731
    out, vjp_fn = vjp(f, p)
    u = RNG.standard_normal(out.shape)
    (pulled,) = vjp_fn(u)
    for ours, expected in zip(_flat(pulled), vjp(flat, *_flat(p))[1](u)):
        np.testing.assert_allclose(ours, expected, rtol=1e-14)
    t = {"W": RNG.standard_normal((3, 2)), "layers": [RNG.standard_normal(3), (RNG.standard_normal(()),)]}
    _, pushed = jvp(f, (p,), (t,))
    _, expected = jvp(flat, _flat(p), _flat(t))
    np.testing.assert_allclose(pushed, expected, rtol=1e-13)


def test_jvp_and_hvp_check_the_tangents_structure():
    with pytest.raises(ValueError, match=r"tangent 0 has the leaves \['a'\] but its primal has one array"):
        jvp(lambda x: x * 2, (np.ones(2),), ({"a": np.ones(2)},))
    p = {"a": np.ones(2), "b": np.ones(3)}
    f = lambda p: (p["a"].sum() * p["b"]).sum()  # noqa: E731
    with pytest.raises(ValueError, match=r"tangent 0 has the leaves \['a'\] but its primal has "
                                         r"\['a'\] \['b'\]"):
        jvp(f, (p,), ({"a": np.ones(2)},))
    with pytest.raises(ValueError, match=r"tangent 0\['b'\] has shape \(2,\) but its primal has "
                                         r"shape \(3,\)"):
        jvp(f, (p,), ({"a": np.ones(2), "b": np.ones(2)},))
    with pytest.raises(ValueError, match=r"vector 0\['b'\] has shape \(2,\)"):
        hvp(f, p, {"a": np.ones(2), "b": np.ones(2)})


def test_jacobian_hessian_and_hvp_of_a_dict():
    p = {"a": RNG.standard_normal(2), "b": RNG.standard_normal(3)}
    f = lambda p: (p["a"] ** 2).sum() * (ag.sin(p["b"])).sum()  # noqa: E731
    flat = lambda a, b: f({"a": a, "b": b})  # noqa: E731

    J = jacobian(lambda p: ag.sin(p["b"]) * p["a"].sum())(p)
    assert J["a"].shape == (3, 2) and J["b"].shape == (3, 3)
    Ja, Jb = jacobian(lambda a, b: ag.sin(b) * a.sum(), argnums=(0, 1))(p["a"], p["b"])
    np.testing.assert_allclose(J["a"], Ja, rtol=1e-14)
    np.testing.assert_allclose(J["b"], Jb, rtol=1e-14)

    H = hessian(f)(p)
    blocks = hessian(flat, argnums=(0, 1))(p["a"], p["b"])
    for i, key_i in enumerate("ab"):
        for j, key_j in enumerate("ab"):
            np.testing.assert_allclose(H[key_i][key_j], blocks[i][j], rtol=1e-13, atol=1e-15)

    v = {"a": RNG.standard_normal(2), "b": RNG.standard_normal(3)}
    Hv = hvp(f, p, v)
    expected = hvp(flat, (p["a"], p["b"]), (v["a"], v["b"]))
    np.testing.assert_allclose(Hv["a"], expected[0], rtol=1e-13)
    np.testing.assert_allclose(Hv["b"], expected[1], rtol=1e-13)


def test_jacobian_keeps_the_structure_of_the_outputs():
    x = RNG.standard_normal(3)
    J = jacobian(lambda x: {"sin": ag.sin(x), "parts": [x * 2, x.sum()]})(x)
    np.testing.assert_allclose(J["sin"], np.diag(np.cos(x)), rtol=1e-14)
    assert isinstance(J["parts"], list)
    np.testing.assert_allclose(J["parts"][0], 2 * np.eye(3))
    np.testing.assert_allclose(J["parts"][1], np.ones(3))


def test_per_example_grads_of_nested_params():
    params = {"layer": (RNG.standard_normal(2), RNG.standard_normal(())), "scale": [RNG.standard_normal(())]}
    X, Y = RNG.standard_normal((4, 2)), RNG.standard_normal(4)

    def loss(p, X, Y):
        w, b = p["layer"]
        return (((X @ w + b) * p["scale"][0] - Y) ** 2).mean()

    per = per_example_grads(loss, params, X, Y)
    assert per["layer"][0].shape == (4, 2) and per["layer"][1].shape == (4,) and per["scale"][0].shape == (4,)
    for n in range(4):
        one = grad(loss)(params, X[n : n + 1], Y[n : n + 1])
        np.testing.assert_allclose(per["layer"][0][n], one["layer"][0], rtol=1e-14)
        np.testing.assert_allclose(per["scale"][0][n], one["scale"][0], rtol=1e-14)


def test_a_leaf_that_is_not_a_float_array_is_named():
    with pytest.raises(TypeError, match=r"grad\(f\): .* but argument 0\['name'\] has dtype <U4 \(a str\)"):
        grad(lambda p: (p["w"] ** 2).sum())({"w": np.ones(2), "name": "relu"})


def test_grad_of_a_dict_matches_torch_func_grad():
    torch = require("torch", TORCH_REASON)
    p, x = _tree(), RNG.standard_normal((4, 2))
    ours = grad(_f_tree)(p, x)

    def theirs_f(p, x):
        h = torch.tanh(x @ p["W"].T + p["layers"][0])
        return (h * h).sum() * torch.exp(p["layers"][1][0])

    torch_p = {"W": torch.tensor(p["W"]), "layers": [torch.tensor(p["layers"][0]),
                                                   (torch.tensor(p["layers"][1][0]),)]}
    theirs = torch.func.grad(theirs_f)(torch_p, torch.tensor(x))
    for a, b in zip(_flat(ours), _flat(theirs)):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-13)


# -------------------------------------------------------------- unused arguments
UNUSED = "does not depend on {}.*allow_unused=True"
X, Y = RNG.standard_normal(3), RNG.standard_normal(2)


def _ignores_y(x, y):
    return (ag.sin(x) * 2).sum()


@pytest.mark.parametrize(("name", "call", "zeros"), [
    ("grad", lambda **kw: grad(_ignores_y, argnums=(0, 1), **kw)(X, Y)[1], np.zeros(2)),
    ("value_and_grad", lambda **kw: value_and_grad(_ignores_y, 1, **kw)(X, Y)[1], np.zeros(2)),
    ("vjp", lambda **kw: vjp(lambda x, y: ag.sin(x), X, Y, **kw)[1](np.ones(3))[1], np.zeros(2)),
    ("jvp", lambda **kw: jvp(lambda x, y: ag.sin(x), (X, Y), (np.zeros(3), np.ones(2)), **kw)[1],
     np.zeros(3)),
    ("jacobian", lambda **kw: jacobian(lambda x, y: ag.sin(x), argnums=1, **kw)(X, Y), np.zeros((3, 2))),
    ("hessian", lambda **kw: hessian(_ignores_y, argnums=1, **kw)(X, Y), np.zeros((2, 2))),
    ("hvp", lambda **kw: hvp(_ignores_y, (X, Y), (np.ones(3), np.ones(2)), **kw)[1], np.zeros(2)),
    ("per_example_grads", lambda **kw: per_example_grads(
        lambda p, X, Y: ((X @ p["w"] - Y) ** 2).mean(), {"w": np.ones(3), "unused": np.ones(2)},
        RNG.standard_normal((4, 3)), RNG.standard_normal(4), **kw)["unused"], np.zeros((4, 2))),
])
def test_every_transform_refuses_an_unused_argument_unless_allowed(name, call, zeros):
    label = r"params\['unused'\]" if name == "per_example_grads" else "argument 1"
    with pytest.raises(BackwardError, match=UNUSED.format(label)):
        call()
    np.testing.assert_array_equal(call(allow_unused=True), zeros)


def test_the_error_names_the_transform_the_function_and_every_unused_leaf():
    def loss(p):
        return (p["used"] ** 2).sum()

    with pytest.raises(BackwardError, match=r"^grad\(f\): the output of loss does not depend on "
                                            r"argument 0\['a'\], argument 0\['b'\]\[0\], so"):
        grad(loss)({"used": np.ones(2), "a": np.ones(1), "b": [np.ones(3)]})
    with pytest.raises(BackwardError, match=r"output of <lambda> for example 0 does not depend"):
        per_example_grads(lambda p, X, Y: Tensor(1.0) * X.sum(), np.ones(2), np.ones((2, 1)), np.ones(2))


def test_a_constant_output_is_refused_too():
    with pytest.raises(BackwardError, match="does not depend on argument 0"):
        grad(lambda x: Tensor(3.0))(np.ones(2))
    np.testing.assert_array_equal(grad(lambda x: 3.0, allow_unused=True)(np.ones(2)), np.zeros(2))


def test_dependence_is_the_graph_not_the_values():
    np.testing.assert_array_equal(grad(lambda x: (x * 0).sum())(np.ones(2)), np.zeros(2))
    J = jacobian(lambda x, y: (ag.sin(x), y * 2), argnums=(0, 1))(X, Y)   # each output uses one argument
    np.testing.assert_array_equal(J[0][1], np.zeros((3, 2)))
    np.testing.assert_array_equal(J[1][0], np.zeros((2, 3)))


def test_second_derivatives_of_a_linear_function_are_zero_without_allow_unused():
    """``allow_unused`` in hessian and hvp is about f: f(x) = b·x uses x, its gradient b does not."""
    b = RNG.standard_normal(3)
    linear = lambda x: (Tensor(b) * x).sum()  # noqa: E731
    np.testing.assert_array_equal(hessian(linear)(X), np.zeros((3, 3)))
    np.testing.assert_array_equal(hvp(linear, X, np.ones(3)), np.zeros(3))
    with pytest.raises(BackwardError, match="argument 0"):
        hessian(lambda x: Tensor(b).sum())(X)


def test_nested_grad_of_a_linear_function_raises_as_torch_does():
    """grad(grad(f)) with f linear: the inner gradient is a constant, and differentiating it
    again is refused, as torch.autograd.grad refuses it; allow_unused gives 0."""
    with pytest.raises(BackwardError, match="does not depend on argument 0"):
        grad(grad(lambda x: 3 * x))(2.0)
    assert grad(grad(lambda x: 3 * x), allow_unused=True)(2.0) == 0.0
    assert grad(grad(lambda x: x * x * x))(2.0) == 12.0


def test_unused_arguments_behave_as_torch_autograd_grad():
    torch = require("torch", TORCH_REASON)
    x = torch.tensor(X, requires_grad=True)
    y = torch.tensor(Y, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph.*allow_unused=True"):
        torch.autograd.grad((torch.sin(x) * 2).sum(), (x, y))
    theirs = torch.autograd.grad((torch.sin(x) * 2).sum(), (x, y), allow_unused=True, materialize_grads=True)
    with pytest.raises(BackwardError, match="allow_unused=True"):
        grad(_ignores_y, argnums=(0, 1))(X, Y)
    ours = grad(_ignores_y, argnums=(0, 1), allow_unused=True)(X, Y)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-14)
