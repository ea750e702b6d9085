"""In-place operations: every hazard raises (naming the operation and the versions); the
safe cases differentiate correctly (checked against finite differences and closed forms)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import InplaceError, ShapeError, Tensor, gradcheck, gradients, no_grad

rng = np.random.default_rng(5)


def leaf(shape, name=None):
    return Tensor(rng.standard_normal(shape), requires_grad=True, name=name)


# -------------------------------------------------------------------------------- hazards
def test_saved_input_modified_by_a_recorded_inplace_op_names_the_op_and_versions():
    x, w = leaf(3), leaf(3)
    y = x * 1
    y.name = "y"
    z = y * w                                    # mul saves y for ∂z/∂w
    y += 1
    with pytest.raises(InplaceError, match=r"input 0 'y' of 'mul' \(shape \(3,\)\) is at version 1; "
                                           r"expected version 0"):
        z.sum().backward()
    assert x.grad is None and w.grad is None


def test_saved_constant_modified_under_no_grad_is_detected():
    c = Tensor(rng.standard_normal(3))           # requires no grad, but mul saved its value
    w = leaf(3)
    z = c * w
    with no_grad():
        c *= 2
        c *= 2
    with pytest.raises(InplaceError, match=r"input 0 of 'mul'.*version 2; expected version 0"):
        z.sum().backward()


def test_setitem_on_a_saved_value_is_detected():
    x = leaf(3)
    y = x * 1
    z = ag.tanh(x) * y
    y[0] = 5.0
    with pytest.raises(InplaceError, match=r"input 1 of 'mul'.*version 1"):
        z.sum().backward()


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt"])
def test_output_saved_by_its_rule_modified_in_place_is_detected(op):
    x = Tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    y = getattr(ag, op)(x)                       # the rule reuses out (exp: g * out)
    y += 1
    with pytest.raises(InplaceError, match=rf"output of '{op}' is at version 1; expected version 0"):
        y.sum().backward()


def test_output_of_exp_modified_under_no_grad_is_detected_too():
    x = leaf(3)
    y = ag.exp(x)
    with no_grad():
        y -= 1
    with pytest.raises(InplaceError, match=r"output of 'exp'"):
        (y * 2).sum().backward()


@pytest.mark.parametrize("statement", ["w += 1", "w -= 1", "w *= 2", "w /= 2", "w[0] = 1.0"])
def test_inplace_on_a_leaf_requiring_grad_is_refused_and_leaves_it_untouched(statement):
    w = leaf(3, name="w")
    before = w.data.copy()
    with pytest.raises(InplaceError, match=r"leaf tensor 'w' of shape \(3,\) that requires grad.*no_grad"):
        exec(statement)
    np.testing.assert_array_equal(w.data, before)
    assert w.version == 0


def test_inplace_that_would_change_the_shape_is_refused_and_changes_nothing():
    c = leaf(3) * 1
    before, version = c.data.copy(), c.version
    with pytest.raises(ShapeError, match="cannot change the shape"):
        c += np.ones((2, 3))
    np.testing.assert_array_equal(c.data, before)
    assert c.version == version


def test_optimizer_step_before_backward_is_caught():
    """The classic mistake: updating W (under no_grad) between forward and backward."""
    W1, W = leaf((3, 2)), leaf((2, 2), name="W")
    x = Tensor(rng.standard_normal((4, 3)))
    h = (x @ W1).sigmoid()          # h needs a gradient, so h @ W keeps W to compute it (BP2)
    loss = ((h @ W) ** 2).sum()
    with no_grad():
        W -= 0.1 * np.ones((2, 2))
    assert W.version == 1
    with pytest.raises(InplaceError, match=r"input 1 'W' of 'matmul'.*version 1; expected version 0"):
        loss.backward()


def test_updating_a_weight_that_no_rule_reads_is_allowed_as_in_pytorch():
    """x @ W with constant data x: W's rule reads x, and x needs no gradient, so W is not
    saved and changing it before backward() changes nothing the backward pass uses."""
    W = leaf((3, 2), name="W")
    x = Tensor(rng.standard_normal((4, 3)))
    out = x @ W
    loss = (out * out).sum()
    expected = 2 * x.data.T @ out.data
    with no_grad():
        W -= 0.1 * np.ones((3, 2))
    loss.backward()
    np.testing.assert_allclose(W.grad, expected, rtol=1e-13)


# ----------------------------------------------------------------------------- safe cases
def test_c_plus_equals_c_plus_one_on_a_non_leaf():
    a, b = leaf(3), leaf(3)
    c = a + b
    c += c + 1                                   # c₁ = c₀ + (c₀ + 1) = 2a + 2b + 1
    np.testing.assert_allclose(c.data, 2 * (a.data + b.data) + 1)
    g = rng.standard_normal(3)
    c.backward(g)
    np.testing.assert_allclose(a.grad, 2 * g)
    np.testing.assert_allclose(b.grad, 2 * g)
    assert c.version == 1 and c.grad_fn.label == "add"


def test_c_times_w_keeps_the_value_from_before_the_write_and_c_times_c_raises():
    # c *= w: w̄ = g ⊙ c needs c's old value, which the node gets as a copy (PyTorch too).
    a, w = leaf(3), leaf(3)
    c = a * 1
    c *= w
    g = rng.standard_normal(3)
    c.backward(g)
    np.testing.assert_allclose(w.grad, a.data * g)
    np.testing.assert_allclose(a.grad, w.data * g)
    # c *= c: the right operand is c itself, saved and then overwritten: PyTorch raises too.
    c = a * 1
    c *= c
    with pytest.raises(InplaceError, match="input 1 of 'mul'"):
        c.backward(g)


def test_inplace_chains_match_finite_differences():
    def f(a, b):
        c = a * 1
        c += b
        c *= a
        c -= ag.tanh(b)
        c /= b
        return c

    gradcheck(f, [rng.standard_normal(3), rng.uniform(0.5, 1.5, 3)])


def test_inplace_add_leaves_rules_that_do_not_read_the_value_valid():
    # add's rule does not read its inputs, so changing one afterwards is harmless (no false alarm).
    x = leaf(3)
    c = Tensor(rng.standard_normal(3))
    z = x + c
    with no_grad():
        c += 1
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(3))


@pytest.mark.parametrize("index", [slice(1, None), 2, np.array([0, 2]), np.array([True, False, True])])
def test_setitem_is_recorded(index):
    a, v = leaf(3), leaf(())
    c = a * 1
    c[index] = v * 2
    written = np.zeros(3, dtype=bool)
    written[index] = True
    g = rng.standard_normal(3)
    ga, gv = gradients(c, [a, v], grad_outputs=g)
    np.testing.assert_allclose(ga, np.where(written, 0.0, g))
    np.testing.assert_allclose(gv, 2 * g[written].sum())


def test_setitem_into_a_constant_buffer_makes_it_require_grad():
    w = leaf(2)
    buffer = Tensor(np.zeros(4))
    buffer[1:3] = ag.exp(w)
    assert buffer.requires_grad and buffer.version == 1
    g = rng.standard_normal(4)
    buffer.backward(g)
    np.testing.assert_allclose(w.grad, g[1:3] * np.exp(w.data))


def test_inplace_update_of_parameters_under_no_grad_bumps_versions_and_keeps_them_leaves():
    W, b = leaf((2, 2)), leaf(2)
    W.grad, b.grad = np.ones((2, 2)), np.ones(2)
    with no_grad():
        W -= 0.5 * W.grad
        b *= 0.9
        b[0] = 0.0
    assert (W.version, b.version) == (1, 2)
    assert W.is_leaf and W.requires_grad and b.is_leaf and b.requires_grad
    # The next forward and backward use the new values and work normally.
    loss = (W @ b).sum()
    loss.backward()
    np.testing.assert_allclose(b.grad, 1 + W.data.sum(axis=0))


# ---------------------------------------------------------------------------------- views
def test_a_recorded_write_into_a_view_goes_into_the_base_and_values_saved_from_it_raise():
    x = leaf(4)
    c = x * 1
    z = c * c                                    # keeps c
    view = c[0:2]                                # numpy basic slicing: shares c's memory
    view += 1
    np.testing.assert_allclose(view.data, x.data[:2] + 1)
    np.testing.assert_allclose(c.data, x.data + [1, 1, 0, 0])   # numpy's semantics, and PyTorch's
    with pytest.raises(InplaceError, match="input 0 of 'mul'"):
        z.backward(rng.standard_normal(4))       # c, kept by z, was changed


@pytest.mark.parametrize("make_view", [lambda c: c.T, lambda c: c.reshape(-1), lambda c: c[1]])
def test_a_write_into_a_view_of_every_kind_is_followed_by_the_base_graph(make_view):
    # c = x·1, then view *= 2 through a view: c is x with that part doubled, and
    # d/dx of Σ c² is 2 c ⊙ (the factor each element got).
    x = leaf((2, 3))
    c = x * 1
    view = make_view(c)
    view *= 2
    factor = np.ones((2, 3))
    make_view(Tensor(factor)).data[...] *= 2      # the same elements, doubled, on plain numbers
    np.testing.assert_allclose(c.data, x.data * factor)
    (c * c).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (x.data * factor) * factor)


def test_a_view_read_after_its_base_changed_differentiates_the_new_base():
    a = leaf(3)
    c = a * 1
    v = c[1:3]
    c *= 2                                       # v's values change with c's memory
    np.testing.assert_allclose(v.data, 2 * a.data[1:3])
    (v * np.array([1.0, 10.0])).sum().backward()
    np.testing.assert_allclose(a.grad, [0.0, 2.0, 20.0])


def test_writing_through_a_view_of_a_view_reaches_the_outer_tensor():
    a = leaf((2, 3))
    c = a * 1
    c[0][1] = 9.0                                # c[0] is a view; its [1] is written
    assert c.data[0, 1] == 9.0
    (c * c).sum().backward()
    expected = 2 * a.data
    expected[0, 1] = 0.0                         # that element no longer depends on a
    np.testing.assert_allclose(a.grad, expected)
    rows = a * 1
    for row in rows:                             # each row a view: every one doubled in rows
        row *= 2
    np.testing.assert_allclose(rows.data, 2 * a.data)


def test_retain_grad_follows_the_tensor_through_an_in_place_write():
    a = leaf(2)
    c = a * 1
    c.retain_grad()
    c *= 3
    (c * 2).sum().backward()
    np.testing.assert_array_equal(c.grad, [2.0, 2.0])      # d/d(the new c), as in PyTorch


def test_augmented_assignment_into_a_slice_of_the_base_is_recorded():
    x = leaf(4)
    c = x * 1
    c[1:3] *= 3                                  # view *= 3, then c[1:3] = view (setitem)
    np.testing.assert_allclose(c.data, x.data * [1, 3, 3, 1])
    (c * c).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data * np.array([1, 9, 9, 1]))


def test_write_through_a_view_under_no_grad_bumps_the_base_version():
    x = leaf(4)
    c = x * 1
    z = c * c
    view = c[0:2]
    with no_grad():
        view += 1                                # numpy semantics: c changes too
    np.testing.assert_allclose(c.data[:2], x.data[:2] + 1)
    assert c.version == 1
    with pytest.raises(InplaceError, match=r"input 0 of 'mul'.*version 1; expected version 0"):
        z.sum().backward()


# ------------------------------------------------ tensors sharing memory share versions
# Views taken under no_grad, detach() and Tensor(t) alias a tensor's memory without being
# recorded from it; writes through any of them, or into the base after a view's value
# was saved, used to go unnoticed and give silently wrong gradients.
def _alias_under_no_grad(c):
    with no_grad():
        return c[0:2]


@pytest.mark.parametrize("make_alias", [
    _alias_under_no_grad,
    lambda c: c.detach(),
    lambda c: Tensor(c),
    lambda c: c.reshape(2, 2)[1:],              # a view of a view
], ids=["view under no_grad", "detach", "Tensor(t)", "view of a view"])
def test_a_write_through_any_alias_makes_backward_raise(make_alias):
    x = leaf(4)
    c = x * 1
    z = (c * c).sum()                            # mul saved c
    alias = make_alias(c)
    with no_grad():
        alias += 1.0
    assert c.version == 1
    with pytest.raises(InplaceError, match=r"input 0 of 'mul'.*version 1; expected version 0"):
        z.backward()
    assert x.grad is None


def test_a_write_into_the_base_after_a_view_was_saved_makes_backward_raise():
    x = leaf(4)
    c = x * 1
    view = c[1:3]
    z = (view * view).sum()                      # mul saved the view's values
    with no_grad():
        c += 1.0                                 # ... which this changes
    assert view.version == 1
    with pytest.raises(InplaceError, match=r"input 0 of 'mul' \(shape \(2,\)\)"):
        z.backward()


def test_aliases_without_writes_differentiate_normally():
    x = leaf(4)
    c = x * 1
    detached, view = c.detach(), c[0:2]
    z = (c * c).sum() + (view * 3.0).sum() + float(detached.data.sum())
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + np.array([3.0, 3.0, 0.0, 0.0]))


def test_transient_views_do_not_accumulate_in_the_base_group():
    W = leaf((3, 5))
    for _ in range(1000):
        _ = W.T                                  # a view each time, dropped at once
    assert len(W._aliases) < 40


def test_modifying_the_output_of_logsumexp_is_caught_on_every_python():
    # Its rule reads `out` (x̄ = g ⊙ e^(x − out)). Python 3.13's fused opcodes once hid that
    # read from a bytecode scan, and a wrong gradient came out; the declaration cannot hide.
    for keepdims in (False, True):
        x = leaf((2, 3))
        y = x.logsumexp(axis=1, keepdims=keepdims)
        y += 1.0
        with pytest.raises(InplaceError, match="output of 'logsumexp'"):
            y.sum().backward()


def test_a_view_made_inside_no_grad_cannot_be_written_with_recording_on():
    a = leaf(4)
    c = a * 1
    with no_grad():
        v = c[0:2]                                # a constant that shares c's memory
    with pytest.raises(InplaceError, match="made inside no_grad"):
        v *= 3                                    # PyTorch refuses it too
    with no_grad():
        v *= 3                                    # allowed where nothing is recorded
    assert c.version == 1


def test_a_long_chain_of_views_follows_its_base_without_recursion():
    a = leaf(3)
    c = a * 1
    v = c
    for _ in range(3000):
        v = v[0:]                                 # each a view of the previous one
    c *= 2
    (v * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(a.grad, [2.0, 20.0, 200.0])


def test_a_function_returning_a_view_is_not_run_again_when_its_input_changes():
    calls = []

    class FirstTwo(ag.Function):
        @staticmethod
        def forward(ctx, x):
            calls.append(1)
            return x[0:2]

        @staticmethod
        def backward(ctx, g):
            grad = np.zeros(3)
            grad[0:2] = g
            return grad

    a = leaf(3)
    c = a * 1
    y = FirstTwo.apply(c)
    c *= 4
    with pytest.raises(ag.AutogradError, match="custom Function"):
        (y * 2).sum()
    assert len(calls) == 1


def test_gradients_with_respect_to_a_view_used_before_its_base_changed():
    a = leaf(3)
    c = a * 1
    v = c[0:2]
    y = (v * np.array([1.0, 10.0])).sum()
    c *= 5                                        # v would be made again if read now
    np.testing.assert_allclose(gradients(y, [v])[0], [1.0, 10.0])
