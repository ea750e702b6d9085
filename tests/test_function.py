"""Custom operations (``autograd_core.Function``), the straight-through estimator, and hooks."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_core as ag
from autograd_core import (
    PRIMITIVES,
    AutogradError,
    Function,
    InplaceError,
    ShapeError,
    Tensor,
    gradcheck,
    gradgradcheck,
    gradients,
    no_grad,
    trace_backward,
)
from autograd_core.examples.straight_through import RoundSTE, SignSTE, train_binary_network, xor_data

rng = np.random.default_rng(11)


class Cube(Function):
    """z = x³, x̄ = 3 x² g."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return 3 * x * x * g


class ScaledProduct(Function):
    """z = s · x ⊙ y with a constant s; saves its output to show that it can."""

    @staticmethod
    def forward(ctx, x, y, s):
        ctx.scale = s
        ctx.save_for_backward(x, y)
        return s * x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return ctx.scale * g * y, ctx.scale * g * x, None


class MyExp(Function):
    """z = eˣ; the rule reuses the saved output, as ``exp`` does."""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out


def test_function_gradient_matches_finite_differences():
    gradcheck(lambda x: Cube.apply(x), [rng.standard_normal((2, 3))])
    gradcheck(lambda x, y: ScaledProduct.apply(x, y, 2.5), [rng.standard_normal(3), rng.standard_normal(3)])
    gradcheck(lambda x: MyExp.apply(x), [rng.standard_normal(4)])


def test_second_derivatives_flow_through_saved_inputs_and_outputs():
    # The saved x and out reach backward as graph-connected Tensors under create_graph.
    gradgradcheck(lambda x: Cube.apply(x), [rng.standard_normal(3)])
    gradgradcheck(lambda x: MyExp.apply(x), [rng.standard_normal(3)])
    np.testing.assert_allclose(ag.grad(ag.grad(lambda x: Cube.apply(x)))(0.7), 6 * 0.7)


def test_function_appears_on_the_tape_under_its_own_name_and_is_not_registered():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.label == "Cube" and y.grad_fn.op is Cube.primitive()
    assert "Cube" not in PRIMITIVES
    with trace_backward() as trace:
        (y * 2).sum().backward()
    assert "Cube" in [node.label for node in trace.order]
    np.testing.assert_allclose(x.grad, 6 * x.data ** 2)


def test_constant_inputs_and_needs_input_grad():
    seen = {}

    class Spy(Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = Tensor(np.ones(2), requires_grad=True)
    out = Spy.apply(x, np.ones(2))
    assert seen["needs"] == (True, False)
    assert gradients(out.sum(), x).tolist() == [1.0, 1.0]


def test_backward_runs_once_per_pass_for_several_inputs():
    calls = []

    class Product(Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            x, y = ctx.saved
            return g * y, g * x

    x, y = leaf_pair = (Tensor(rng.standard_normal(2), requires_grad=True),
                        Tensor(rng.standard_normal(2), requires_grad=True))
    loss = Product.apply(*leaf_pair).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert len(calls) == 2                        # once per backward pass, not once per input
    np.testing.assert_allclose(x.grad, 2 * y.data)
    np.testing.assert_allclose(y.grad, 2 * x.data)


def test_backward_returning_the_wrong_number_of_gradients_names_the_function():
    class TwoInOneOut(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = Tensor(np.ones(2), requires_grad=True)
    y = Tensor(np.ones(2), requires_grad=True)
    out = TwoInOneOut.apply(x, y).sum()
    with pytest.raises(AutogradError, match=r"TwoInOneOut.backward returned 1 gradient.*took 2 input"):
        out.backward()
    assert x.grad is None and y.grad is None        # a failed backward changes no .grad


def test_backward_returning_a_gradient_of_the_wrong_shape_names_the_function():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum(axis=0)

    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ShapeError, match=r"BadShape.backward returned a gradient of shape \(3,\) for "
                                         r"input 0, which has shape \(2, 3\)"):
        BadShape.apply(x).sum().backward()


def test_forward_returning_several_values_is_refused():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="Pair.forward returned 2 values"):
        Pair.apply(Tensor(np.ones(2), requires_grad=True))


def test_saved_input_modified_in_place_is_detected_with_versions():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    a = x * 1
    y = Cube.apply(a)
    a += 1
    with pytest.raises(InplaceError, match=r"input 0 of 'Cube'.*version 1; expected version 0"):
        y.sum().backward()


def test_saved_output_modified_in_place_is_detected():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = MyExp.apply(x)
    with no_grad():
        y *= 2
    with pytest.raises(InplaceError, match=r"output of 'MyExp'.*version 1"):
        (y * 1).sum().backward()


def test_apply_on_the_base_class_is_refused():
    with pytest.raises(TypeError, match="subclass of Function"):
        Function.apply(Tensor(np.ones(2)))


# --------------------------------------------------------------------- straight-through
def test_straight_through_round_passes_the_gradient_as_identity():
    x = Tensor(np.array([0.2, 1.6, -2.4]), requires_grad=True)
    g = rng.standard_normal(3)
    y = RoundSTE.apply(x)
    np.testing.assert_array_equal(y.data, [0.0, 2.0, -2.0])
    y.backward(g)
    np.testing.assert_array_equal(x.grad, g)


def test_straight_through_sign_is_clipped_outside_unit_interval():
    x = Tensor(np.array([0.5, -0.3, 2.0]), requires_grad=True)
    g = rng.standard_normal(3)
    y = SignSTE.apply(x)
    np.testing.assert_array_equal(y.data, [1.0, -1.0, 1.0])
    y.backward(g)
    np.testing.assert_array_equal(x.grad, g * np.array([1.0, 1.0, 0.0]))


def test_a_network_with_binary_hidden_units_trains_through_the_estimator():
    costs = train_binary_network(steps=300)
    assert costs[-1] < 0.35 * costs[0], (costs[0], costs[-1])


def test_without_the_estimator_the_hidden_layer_receives_no_gradient():
    """The control: the true derivative of sign is 0, so W₁ would never move."""

    class TrueSign(Function):
        @staticmethod
        def forward(ctx, x):
            return np.where(x >= 0, 1.0, -1.0)

        @staticmethod
        def backward(ctx, g):
            return np.zeros_like(g)

    X, Y = xor_data(count=32)
    W1 = Tensor(rng.standard_normal((2, 8)), requires_grad=True)
    W2 = Tensor(rng.standard_normal((8, 1)), requires_grad=True)
    for estimator, moves in ((TrueSign, False), (SignSTE, True)):
        W1.grad = None
        cost = (((estimator.apply(Tensor(X) @ W1) @ W2).sigmoid() - Y) ** 2).mean()
        cost.backward()
        assert bool(np.any(W1.grad != 0)) is moves


# ------------------------------------------------------------------------------- hooks
def test_hook_inspects_the_gradient_at_an_intermediate():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    h = ag.tanh(x)
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    upstream = rng.standard_normal(3)
    (h * Tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(seen[0], upstream)
    np.testing.assert_allclose(x.grad, upstream * (1 - np.tanh(x.data) ** 2))


def test_hook_replacing_the_gradient_changes_everything_below_it_until_removed():
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    h = x * 3
    handle = h.register_hook(lambda g: np.clip(g, -0.1, 0.1))
    upstream = np.array([5.0, -5.0, 0.05])
    loss = (h * Tensor(upstream)).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 3 * np.array([0.1, -0.1, 0.05]))
    handle.remove()
    x.grad = None
    loss.backward()
    np.testing.assert_allclose(x.grad, 3 * upstream)


def test_a_function_saving_its_output_on_0d_inputs_gets_the_second_derivative():
    class CubeThroughOutput(Function):
        @staticmethod
        def forward(ctx, x):
            out = x ** 3                     # a numpy scalar on 0-d x, not an array
            ctx.save_for_backward(x, out)
            return out

        @staticmethod
        def backward(ctx, g):
            x, out = ctx.saved
            return 3 * out / x * g           # 3x², written through the output

    for value in (2.0, [2.0]):
        t = Tensor(value, requires_grad=True)
        (first,) = ag.gradients(CubeThroughOutput.apply(t).sum(), [t], create_graph=True)
        (second,) = ag.gradients(first.sum(), [t])
        np.testing.assert_allclose(second, np.full(np.shape(value), 12.0))


def test_a_function_returning_its_input_shares_the_inputs_version_history():
    class HalveGradient(Function):
        @staticmethod
        def forward(ctx, x):
            return x                         # the output is the input's own memory

        @staticmethod
        def backward(ctx, g):
            return 0.5 * g

    w = Tensor([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    y = HalveGradient.apply(h)
    z = h * h                                # keeps h's value
    with ag.no_grad():
        y += 100.0                           # writes into h's memory
    assert h.version == 1
    with pytest.raises(ag.InplaceError):
        z.sum().backward()
