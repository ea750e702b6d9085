"""Arithmetic: + - * / ** and negation. Broadcasting is undone by the engine, not here."""

import numpy as np

from ..primitive import primitive, rule


@primitive("add", "z = x + y;  x̄ = g,  ȳ = g")
def add(x, y):
    return x + y


add.defvjp(
    rule(lambda g, out, x, y: g),
    rule(lambda g, out, x, y: g),
)


@primitive("sub", "z = x − y;  x̄ = g,  ȳ = −g")
def sub(x, y):
    return x - y


sub.defvjp(
    rule(lambda g, out, x, y: g),
    rule(lambda g, out, x, y: -g),
)


@primitive("mul", "z = x ⊙ y;  x̄ = g ⊙ y,  ȳ = g ⊙ x")
def mul(x, y):
    return x * y


mul.defvjp(
    rule(lambda g, out, x, y: g * y, saves="y"),
    rule(lambda g, out, x, y: g * x, saves="x"),
)


@primitive("div", "z = x / y;  x̄ = g / y,  ȳ = −g ⊙ (x / y) / y")
def div(x, y):
    return x / y


# ȳ as −g ⊙ ((x / y) / y), not −g ⊙ x / y²: y² overflows or underflows long before x / y / y
# does (y = 1e200; a float32 softmax e / Σe with e near 1e-27), as in PyTorch's rule.
div.defvjp(
    rule(lambda g, out, x, y: g / y, saves="y"),
    rule(lambda g, out, x, y: -g * ((x / y) / y), saves=("x", "y")),
)


@primitive("neg", "z = −x;  x̄ = −g")
def neg(x):
    return -x


neg.defvjp(rule(lambda g, out, x: -g))


@primitive(
    "pow",
    "z = x^y;  x̄ = g ⊙ y ⊙ x^(y−1) (0 where y = 0),  ȳ = g ⊙ z ⊙ ln x (0 where x = 0 and y ≥ 0)",
)
def power(x, y):
    return x**y


def _pow_dx(g, x, y):
    # y = 0: z = 1 is constant, so x̄ = 0, even at x = 0 where y x^(y−1) would be 0 · inf:
    # there the power is taken as x^0 instead (the factor y = 0 makes the product 0).
    if isinstance(y, (int, float, np.number)) and y != 0:
        exponent = y - 1        # a plain number, the usual x**2: nothing to decide per element
    else:
        # Arrays, and tensors when this rule is recorded for a second derivative: decided per
        # element, so that no Python branch on y's value is taken once and kept by jit.
        exponent = np.where(y == 0, 0.0, y - 1)
    return g * y * x**exponent


def _pow_dy(g, out, x, y):
    # x = 0, y ≥ 0: z ln x → 0 (z = 0 for y > 0, and the limit is taken as 0 for y = 0), as
    # PyTorch defines it, rather than 0 · (−inf) = NaN: there ln 1 = 0 is used instead.
    return g * out * np.log(np.where((x == 0) & (y >= 0), 1.0, x))


power.defvjp(
    rule(lambda g, out, x, y: _pow_dx(g, x, y), saves=("x", "y")),
    rule(lambda g, out, x, y: _pow_dy(g, out, x, y), saves=("out", "x", "y")),
)
