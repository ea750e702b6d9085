"""Gradient test cases for every primitive of the table, and a finite-difference VJP check.

``CASES[name]`` lists ``Case``s for the primitive ``PRIMITIVES[name]``: a function of
Tensors that calls that primitive directly, and float64 input arrays chosen away from
non-differentiable points and outside forbidden domains (log and sqrt get positive
inputs, relu/abs stay away from 0, max/min have no ties, clip stays away from its
bounds). Shapes cover (), (n,), (m, n), (1, n) and broadcast pairs for binary
operations. ``test_rules.py`` fails if a registered primitive has no entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_core import PRIMITIVES, Tensor, gradients, no_grad

M, N = 3, 4
SHAPES = [(), (N,), (M, N), (1, N)]
# Same-shape pairs, then pairs that broadcast (in both directions).
PAIRS = [(s, s) for s in SHAPES] + [
    ((M, N), (N,)), ((N,), (M, N)), ((M, 1), (1, N)), ((), (M, N)), ((M, N), ()), ((1, N), (M, N)),
]


@dataclasses.dataclass
class Case:
    label: str
    fn: Callable[..., Tensor]
    inputs: list[np.ndarray]
    smooth: bool = True       # twice differentiable at these inputs (gradgradcheck applies)
    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-7


_rng = np.random.default_rng(20240521)


def normal(shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(_rng.standard_normal(shape))


def positive(shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(_rng.uniform(0.5, 2.0, shape))


def away_from_zero(shape: tuple[int, ...], gap: float = 0.2) -> np.ndarray:
    return np.asarray(_rng.choice([-1.0, 1.0], shape) * _rng.uniform(gap, 2.0, shape))


def distinct(shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.3 apart, in random order: no ties for max/min."""
    size = int(np.prod(shape))
    values = _rng.permutation(size) * 0.5 + _rng.uniform(-0.1, 0.1, size) - size / 4
    return np.asarray(values.reshape(shape))


def apart(shape_x: tuple[int, ...], shape_y: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose broadcast elements never come within 0.1 (no ties in maximum/minimum)."""
    while True:
        x, y = normal(shape_x), normal(shape_y)
        if np.min(np.abs(x - y)) > 0.1:
            return x, y


def label(*shapes: Any) -> str:
    return " ".join(str(s) for s in shapes)


def _p(name: str) -> Any:
    return PRIMITIVES[name]


def _unary(name: str, make: Callable = normal, shapes: list = SHAPES, **params: Any) -> list[Case]:
    prim = _p(name)
    return [Case(label(s), lambda x: prim(x, **params), [make(s)], smooth=name not in NON_SMOOTH)
            for s in shapes]


def _binary(name: str, make: Callable | None = None) -> list[Case]:
    prim = _p(name)
    cases = []
    for sx, sy in PAIRS:
        inputs = list(make(sx, sy)) if make else [normal(sx), normal(sy)]
        cases.append(Case(label(sx, sy), lambda x, y: prim(x, y), inputs,
                          smooth=name not in NON_SMOOTH))
    return cases


# Piecewise-linear: first derivatives are checked, second derivatives are zero almost everywhere.
NON_SMOOTH = {"relu", "abs", "clip", "maximum", "minimum", "max", "min"}


def _reduction(name: str, make: Callable = normal) -> list[Case]:
    prim = _p(name)
    cases = [Case("() axis=None", lambda x: prim(x, axis=None, keepdims=False), [make(())],
                  smooth=name not in NON_SMOOTH)]
    for shape in SHAPES[1:]:
        axes = [None, 0, -1] + ([(0, 1)] if len(shape) == 2 else [])
        for axis in axes:
            for keepdims in (False, True):
                cases.append(Case(
                    f"{shape} axis={axis} keepdims={keepdims}",
                    lambda x, axis=axis, keepdims=keepdims: prim(x, axis=axis, keepdims=keepdims),
                    [make(shape)], smooth=name not in NON_SMOOTH))
    return cases


def _clip_cases() -> list[Case]:
    clip = _p("clip")

    def off_bounds(shape):
        # Values in [-2, 2], none within 0.1 of the bounds ±0.5: some clipped, some not.
        values = np.asarray(_rng.uniform(-2, 2, shape))
        near = np.abs(np.abs(values) - 0.5) < 0.1
        return np.where(near, values + 0.3 * np.sign(values), values)

    cases = []
    for shape in SHAPES:
        for a_min, a_max in [(-0.5, 0.5), (-0.5, None), (None, 0.5)]:
            cases.append(Case(f"{shape} [{a_min}, {a_max}]",
                              lambda x, lo=a_min, hi=a_max: clip(x, a_min=lo, a_max=hi),
                              [off_bounds(shape)], smooth=False))
    return cases


def _where_cases() -> list[Case]:
    where = _p("where")
    cases = []
    for sx, sy in PAIRS:
        condition = _rng.random(np.broadcast_shapes(sx, sy)) > 0.5
        cases.append(Case(f"{label(sx, sy)} condition {condition.shape}",
                          lambda x, y, c=condition: where(c, x, y), [normal(sx), normal(sy)]))
    # A condition that broadcasts against both operands.
    condition = np.array([True, False, True, False])
    cases.append(Case("(3, 1) (1, 4) condition (4,)", lambda x, y: where(condition, x, y),
                      [normal((M, 1)), normal((1, N))]))
    return cases


def _matmul_cases() -> list[Case]:
    matmul = _p("matmul")
    pairs = [((N,), (N,)), ((M, N), (N,)), ((N,), (N, 2)), ((M, N), (N, 2)), ((1, N), (N, 2)),
             ((2, M, N), (N, 2)), ((2, M, N), (2, N, 2)), ((M, N), (2, N, 2)), ((N,), (2, N, 2)),
             ((2, M, N), (N,))]
    return [Case(label(sx, sy), lambda x, y: matmul(x, y), [normal(sx), normal(sy)])
            for sx, sy in pairs]


def _shape_cases() -> dict[str, list[Case]]:
    reshape, transpose, broadcast_to = _p("reshape"), _p("transpose"), _p("broadcast_to")
    getitem, scatter_add, setitem = _p("getitem"), _p("scatter_add"), _p("setitem")
    concatenate, astype = _p("concatenate"), _p("astype")

    def reshaped(source, target):
        return Case(f"{source} -> {target}", lambda x: reshape(x, shape=target), [normal(source)])

    def transposed(source, axes):
        return Case(f"{source} axes={axes}", lambda x: transpose(x, axes=axes), [normal(source)])

    def broadcast(source, target):
        return Case(f"{source} -> {target}", lambda x: broadcast_to(x, shape=target), [normal(source)])

    indices = [
        ((), ()),                                          # a 0-d array's only element
        ((N,), 2), ((N,), slice(1, 3)), ((N,), np.array([0, 2, 2, 3])),   # repeated index
        ((M, N), (1, slice(None))), ((M, N), (slice(None), np.array([3, 0]))),
        ((M, N), _rng.random((M, N)) > 0.4),              # boolean mask
        ((1, N), (0, slice(None, None, 2))), ((M, N), (Ellipsis, None, 1)),
    ]
    getitem_cases = [Case(f"{shape}[{index!r}]", lambda x, i=index: getitem(x, index=i),
                          [normal(shape)]) for shape, index in indices]
    scatter_cases = []
    for shape, index in indices:
        picked_shape = np.empty(shape)[index].shape
        scatter_cases.append(Case(f"{picked_shape} into {shape}[{index!r}]",
                                  lambda v, s=shape, i=index: scatter_add(v, shape=s, index=i),
                                  [normal(picked_shape)]))
    setitem_cases = []
    for shape, index, v_shape in [((N,), slice(1, 3), (2,)), ((N,), 1, ()), ((M, N), 1, (N,)),
                                  ((M, N), (slice(None), 0), ()), ((1, N), (0, slice(0, 2)), (2,)),
                                  ((M, N), np.array([0, 2]), (1, N))]:
        setitem_cases.append(Case(f"{shape}[{index!r}] = {v_shape}",
                                  lambda x, v, i=index: setitem(x, v, index=i),
                                  [normal(shape), normal(v_shape)]))
    concat_cases = [
        Case("(4,) (2,)", lambda x, y: concatenate(x, y, axis=0), [normal((N,)), normal((2,))]),
        Case("(3, 4) (3, 2) axis=1", lambda x, y: concatenate(x, y, axis=1),
             [normal((M, N)), normal((M, 2))]),
        Case("(1, 4) (3, 4) (2, 4) axis=0", lambda x, y, z: concatenate(x, y, z, axis=0),
             [normal((1, N)), normal((M, N)), normal((2, N))]),
        Case("(3, 4) (3, 4) axis=-1", lambda x, y: concatenate(x, y, axis=-1),
             [normal((M, N)), normal((M, N))]),
    ]
    # float64 -> float32 loses digits: a larger step and a looser tolerance for that one case.
    astype_cases = [
        Case(f"{shape} float64 -> float64", lambda x: astype(x, dtype=np.dtype(np.float64)),
             [normal(shape)]) for shape in SHAPES
    ] + [Case("(3, 4) float64 -> float32", lambda x: astype(x, dtype=np.dtype(np.float32)),
              [normal((M, N))], smooth=False, eps=1e-2, rtol=1e-4, atol=1e-4)]
    return {
        "reshape": [reshaped((M, N), (N, M)), reshaped((N,), (1, N)), reshaped((), (1, 1)),
                    reshaped((1, N), (N,)), reshaped((M, N), (-1,)), reshaped((2, 2, 3), (M, N))],
        "transpose": [transposed((), None), transposed((N,), None), transposed((M, N), None),
                      transposed((1, N), (1, 0)), transposed((2, M, N), (1, 2, 0))],
        "broadcast_to": [broadcast((), (M, N)), broadcast((N,), (M, N)), broadcast((1, N), (M, N)),
                         broadcast((M, 1), (2, M, N)), broadcast((M, N), (M, N))],
        "getitem": getitem_cases,
        "scatter_add": scatter_cases,
        "setitem": setitem_cases,
        "concatenate": concat_cases,
        "astype": astype_cases,
    }


def _pow(sx, sy):
    return positive(sx), np.asarray(_rng.uniform(-2, 2, sy))


def _div(sx, sy):
    return normal(sx), away_from_zero(sy, gap=0.5)


def _nn_cost_cases() -> dict[str, list[Case]]:
    """nn's fused costs (in nn's own table, nn.fused.FUSED): cases kept by the nn owner."""
    from nn.fused import quadratic_cost, sigmoid_cross_entropy, softmax_cross_entropy

    def probabilities(shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(_rng.uniform(0.05, 0.95, shape))

    def cases(prim: Any) -> list[Case]:
        return [Case(f"{shape} {shape}", lambda z, y: prim(z, y), [normal(shape) * 3, probabilities(shape)])
                for shape in [(M, N), (1, N), (N, 2)]]

    return {"sigmoid_cross_entropy": cases(sigmoid_cross_entropy),
            "softmax_cross_entropy": cases(softmax_cross_entropy),
            "quadratic_cost": cases(quadratic_cost)}


def _nn_dense_cases() -> dict[str, list[Case]]:
    """nn's fused layer z = x Wᵀ + b: a batch as rows, one example, and extra leading axes."""
    from nn.fused import dense

    out_features = 2
    return {"dense": [
        Case(f"x {x_shape}, W ({out_features}, {N}), b ({out_features},)", lambda x, W, b: dense(x, W, b),
             [normal(x_shape), normal((out_features, N)), normal((out_features,))])
        for x_shape in [(M, N), (1, N), (N,), (2, M, N)]
    ]}


CASES: dict[str, list[Case]] = {
    "add": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("div", _div),
    "pow": _binary("pow", _pow),
    "maximum": _binary("maximum", apart),
    "minimum": _binary("minimum", apart),
    "neg": _unary("neg"),
    "exp": _unary("exp"),
    "log": _unary("log", positive),
    "sqrt": _unary("sqrt", positive),
    "sin": _unary("sin"),
    "cos": _unary("cos"),
    "tanh": _unary("tanh"),
    "sigmoid": _unary("sigmoid"),
    "relu": _unary("relu", away_from_zero),
    "abs": _unary("abs", away_from_zero),
    "clip": _clip_cases(),
    "where": _where_cases(),
    "matmul": _matmul_cases(),
    "sum": _reduction("sum"),
    "max": _reduction("max", distinct),
    "min": _reduction("min", distinct),
    "logsumexp": _reduction("logsumexp"),
    **_shape_cases(),
    **_nn_cost_cases(),
    **_nn_dense_cases(),
}


def all_cases() -> list[tuple[str, Case]]:
    return [(name, case) for name, cases in CASES.items() for case in cases]


def case_id(name: str, case: Case) -> str:
    return f"{name}: {case.label}"


def upstream(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A random upstream gradient, never all ones (nor all equal)."""
    g = rng.standard_normal(shape)
    if g.size == 1:
        g = g + 0.5 * np.sign(g)  # away from 0; a single random number is already "not ones"
    return g


def tape_vjp(fn: Callable[..., Tensor], arrays: list[np.ndarray], g: np.ndarray,
             dtype: Any = np.float64) -> tuple[np.ndarray, ...]:
    """The gradients of <g, fn(*inputs)> with respect to every input, from the tape."""
    xs = [Tensor(np.array(a, dtype=dtype), requires_grad=True) for a in arrays]
    out = fn(*xs)
    return gradients(out, xs, grad_outputs=np.asarray(g, dtype=out.dtype))


def numerical_vjp(fn: Callable[..., Tensor], arrays: list[np.ndarray], g: np.ndarray,
                  eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of x ↦ <g, fn(x)>, one element of one input at a time."""

    def objective(values: list[np.ndarray]) -> float:
        with no_grad():
            out = fn(*[Tensor(v) for v in values])
        return float(np.sum(g * np.asarray(out.data, dtype=np.float64)))

    result = []
    for which, array in enumerate(arrays):
        grad = np.zeros(array.shape)
        for j in np.ndindex(array.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[which][j] += eps
            minus[which][j] -= eps
            grad[j] = (objective(plus) - objective(minus)) / (2 * eps)
        result.append(grad)
    return result
