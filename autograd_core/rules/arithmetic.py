"""Arithmetic: + - * / ** and negation. Broadcasting is undone by the engine, not here."""

import numpy as np

from ..primitive import primitive


@primitive("add", "z = x + y;  x̄ = g,  ȳ = g")
def add(x, y):
    return x + y


add.defvjp(
    lambda g, out, x, y: g,
    lambda g, out, x, y: g,
)


@primitive("sub", "z = x − y;  x̄ = g,  ȳ = −g")
def sub(x, y):
    return x - y


sub.defvjp(
    lambda g, out, x, y: g,
    lambda g, out, x, y: -g,
)


@primitive("mul", "z = x ⊙ y;  x̄ = g ⊙ y,  ȳ = g ⊙ x")
def mul(x, y):
    return x * y


mul.defvjp(
    lambda g, out, x, y: g * y,
    lambda g, out, x, y: g * x,
)


@primitive("div", "z = x / y;  x̄ = g / y,  ȳ = −g ⊙ x / y²")
def div(x, y):
    return x / y


div.defvjp(
    lambda g, out, x, y: g / y,
    lambda g, out, x, y: -g * x / (y * y),
)


@primitive("neg", "z = −x;  x̄ = −g")
def neg(x):
    return -x


neg.defvjp(lambda g, out, x: -g)


@primitive(
    "pow",
    "z = x^y;  x̄ = g ⊙ y ⊙ x^(y−1),  ȳ = g ⊙ z ⊙ ln x  (defined for x > 0)",
)
def power(x, y):
    return x**y


power.defvjp(
    lambda g, out, x, y: g * y * x ** (y - 1),
    lambda g, out, x, y: g * out * np.log(x),
)
