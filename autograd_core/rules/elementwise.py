"""Elementwise functions. Rules reuse ``out`` where that is cheaper or more stable.

Choices at non-differentiable points (subgradients), as in PyTorch:
relu'(0) = 0; |x|' at 0 is 0; clip passes the gradient where a_min <= x <= a_max
(boundaries included); maximum/minimum split the gradient equally between tied inputs.
At NaN inputs, PyTorch's choices too: relu and maximum/minimum pass the gradient (a
comparison with NaN is false, so nothing masks it), and |x|' is 0.
"""

import numpy as np

from ..primitive import primitive, rule


@primitive("exp", "z = eˣ;  x̄ = g ⊙ z")
def exp(x):
    return np.exp(x)


exp.defvjp(rule(lambda g, out, x: g * out, saves="out"))


@primitive("log", "z = ln x;  x̄ = g / x")
def log(x):
    return np.log(x)


log.defvjp(rule(lambda g, out, x: g / x, saves="x"))


@primitive("sqrt", "z = √x;  x̄ = g / (2z)", why="its rule reuses the output: cheaper than x**0.5")
def sqrt(x):
    return np.sqrt(x)


sqrt.defvjp(rule(lambda g, out, x: g / (2 * out), saves="out"))


@primitive("sin", "z = sin x;  x̄ = g ⊙ cos x")
def sin(x):
    return np.sin(x)


sin.defvjp(rule(lambda g, out, x: g * np.cos(x), saves="x"))


@primitive("cos", "z = cos x;  x̄ = −g ⊙ sin x")
def cos(x):
    return np.cos(x)


cos.defvjp(rule(lambda g, out, x: -g * np.sin(x), saves="x"))


@primitive("tanh", "z = tanh x;  x̄ = g ⊙ (1 − z²)")
def tanh(x):
    return np.tanh(x)


tanh.defvjp(rule(lambda g, out, x: g * (1 - out * out), saves="out"))


@primitive(
    "sigmoid",
    "z = σ(x) = 1 / (1 + e⁻ˣ);  x̄ = g ⊙ z ⊙ (1 − z)",
    why="σ'(x) = σ(x)(1 − σ(x)) comes from the output (Nielsen's σ'(z) in BP1/BP2)",
)
def sigmoid(x):
    # One new array, z = −x, then each step in place: 1 / (1 + e^z) makes no temporaries, a
    # third of the memory traffic of the expression (3 ms -> 1 ms on 1000 × 512 values).
    z = np.negative(x)
    if type(z) is not np.ndarray or z.dtype.kind not in "fc":
        z = np.asarray(z, dtype=np.result_type(z, 1.0))    # a 0-d result, integer inputs
    # For x < −709, e⁻ˣ overflows to inf and 1 / (1 + inf) = 0, the correct limit: only the
    # warning is silenced (docs/performance.md has the measured alternatives).
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def _sigmoid_vjp(g, out, x):
    if type(g) is np.ndarray and type(out) is np.ndarray and g.dtype == out.dtype and g.shape == out.shape:
        # Plain arrays of one dtype: g ⊙ out ⊙ (1 − out) in one new array (2.4 -> 0.9 ms on
        # 1000 × 512 values). Tensors (create_graph) take the expression below, recorded.
        result = np.subtract(1, out)
        result *= out
        result *= g
        return result
    return g * out * (1 - out)


sigmoid.defvjp(rule(_sigmoid_vjp, saves="out"))


@primitive(
    "relu",
    "z = max(x, 0);  x̄ = g ⊙ [x > 0]  (0 at x = 0)",
    why="one comparison instead of maximum's tie bookkeeping",
)
def relu(x):
    return np.maximum(x, 0)


# Masked where out <= 0, so a NaN output passes g on (PyTorch's choice), where g ⊙ [out > 0] would not.
relu.defvjp(rule(lambda g, out, x: g * ~(out <= 0), saves="out"))


@primitive("abs", "z = |x|;  x̄ = g ⊙ sign x  (0 at x = 0)")
def absolute(x):
    return np.abs(x)


# sign x, and 0 at NaN (x == x is false only there) rather than NaN, as PyTorch.
absolute.defvjp(rule(lambda g, out, x: g * np.where(x == x, np.sign(x), 0.0), saves="x"))


@primitive("clip", "z = min(max(x, a_min), a_max);  x̄ = g ⊙ [a_min ≤ x ≤ a_max]")
def clip(x, a_min=None, a_max=None):
    if a_min is None and a_max is None:
        return x.copy()
    return np.clip(x, a_min, a_max)


def _inside(x, a_min, a_max):
    inside = np.ones(x.shape, dtype=bool)
    if a_min is not None:
        inside &= x >= a_min
    if a_max is not None:
        inside &= x <= a_max
    return inside


clip.defvjp(rule(lambda g, out, x, a_min=None, a_max=None: g * _inside(x, a_min, a_max), saves="x"))


@primitive("maximum", "z = max(x, y);  x̄ = g ⊙ ([x > y] + ½[x = y]),  ȳ = g ⊙ ([y > x] + ½[x = y])")
def maximum(x, y):
    return np.maximum(x, y)


# Written as "g, halved at ties, 0 where the other input wins" (PyTorch's form): where an
# input is NaN no comparison holds, and g passes to both.
maximum.defvjp(
    rule(lambda g, out, x, y: g * (1.0 - (x < y) - 0.5 * (x == y)), saves=("x", "y")),
    rule(lambda g, out, x, y: g * (1.0 - (y < x) - 0.5 * (x == y)), saves=("x", "y")),
)


@primitive("minimum", "z = min(x, y);  x̄ = g ⊙ ([x < y] + ½[x = y]),  ȳ = g ⊙ ([y < x] + ½[x = y])")
def minimum(x, y):
    return np.minimum(x, y)


minimum.defvjp(
    rule(lambda g, out, x, y: g * (1.0 - (x > y) - 0.5 * (x == y)), saves=("x", "y")),
    rule(lambda g, out, x, y: g * (1.0 - (y > x) - 0.5 * (x == y)), saves=("x", "y")),
)


@primitive("where", "z = c ? x : y;  x̄ = c ? g : 0,  ȳ = c ? 0 : g  (c is not differentiable)")
def where(condition, x, y):
    return np.where(condition, x, y)


where.defvjp(
    None,
    rule(lambda g, out, condition, x, y: np.where(condition, g, 0), saves="condition"),
    rule(lambda g, out, condition, x, y: np.where(condition, 0, g), saves="condition"),
)
