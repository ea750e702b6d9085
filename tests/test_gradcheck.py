"""The checker checks itself: gradcheck and gradgradcheck must fail on subtly wrong rules.

Learners run gradcheck on their own rules, so it has to catch what a learner gets
slightly wrong: a factor off by 0.1%, a rule that ignores the upstream gradient's values
(right only when g is all ones), a wrong second derivative behind a right first one,
and it must refuse, not pass, where the function is NaN or infinite.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograd_core import GradcheckError, Primitive, Tensor, gradcheck, gradgradcheck, rule

X = np.array([0.5, -1.5, 2.0, 0.7])


def square_with_rule(vjp, name="square_under_test"):
    prim = Primitive(lambda x: x * x, name, "z = x²")
    prim.defvjp(rule(vjp, saves="x"))
    return lambda t: prim(t)


def test_the_right_rule_passes_in_both_modes():
    right = square_with_rule(lambda g, out, x: 2 * g * x)
    assert gradcheck(right, [X]) and gradcheck(right, [X], fast_mode=True)
    assert gradgradcheck(right, [X])


@pytest.mark.parametrize("fast_mode", [False, True])
def test_a_rule_wrong_by_a_tenth_of_a_percent_is_caught(fast_mode):
    slightly_off = square_with_rule(lambda g, out, x: 2.002 * g * x)
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(slightly_off, [X], fast_mode=fast_mode)


def test_a_rule_that_ignores_the_values_of_g_is_caught_in_both_modes():
    # x̄ = 2x ⊙ mean(g): exactly right when g is all ones (or constant), wrong otherwise.
    # The full mode seeds one output at a time, the fast mode a random projection: a checker
    # seeding with ones in either would let it pass.
    ignores_g = square_with_rule(lambda g, out, x: 2 * x * np.mean(g))
    with pytest.raises(GradcheckError):
        gradcheck(ignores_g, [X])
    with pytest.raises(GradcheckError):
        gradcheck(ignores_g, [X], fast_mode=True)


def test_a_wrong_second_derivative_behind_a_right_first_one_is_caught():
    # The value of x̄ is 2 g x, but the graph recorded under create_graph also depends on
    # x through a term that is 0 at the recorded point: (x − x̂) with x̂ a constant copy.
    # Its derivative adds 0.1% · 2 g x to the second derivative.
    def subtly_wrong(g, out, x):
        frozen = np.asarray(x.data if isinstance(x, Tensor) else x).copy()
        return 2 * g * x * (1 + 1e-3 * (x - frozen))

    wrong = square_with_rule(subtly_wrong, "square_wrong_second")
    assert gradcheck(wrong, [X])
    with pytest.raises(GradcheckError):
        gradgradcheck(wrong, [X])


def test_nan_where_the_function_is_nan_is_refused_not_passed():
    # log at negative inputs is NaN, and a rule returning NaN there "agrees" with NaN finite
    # differences; the checker must say there is nothing to check.
    log_nan = Primitive(np.log, "log_under_test", "z = ln x")
    log_nan.defvjp(rule(lambda g, out, x: g * np.nan, saves="x"))
    with np.errstate(invalid="ignore"):
        with pytest.raises(GradcheckError, match="NaN or infinite"):
            gradcheck(lambda t: log_nan(t), [np.array([-1.0, -2.0])])


def test_a_nan_gradient_where_the_function_is_finite_is_caught():
    nan_rule = square_with_rule(lambda g, out, x: g * x * np.where(x > 1, np.nan, 2.0), "square_nan")
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(nan_rule, [X])


def test_an_infinite_function_is_refused():
    reciprocal = Primitive(lambda x: 1 / x, "reciprocal_under_test", "z = 1/x")
    reciprocal.defvjp(rule(lambda g, out, x: -g / (x * x), saves="x"))
    with np.errstate(divide="ignore", invalid="ignore"):
        with pytest.raises(GradcheckError, match="NaN or infinite"):
            gradcheck(lambda t: reciprocal(t), [np.array([0.0, 1.0])])
