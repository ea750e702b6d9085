"""Matrix products, with numpy's matmul conventions for 1-D operands and batch axes."""


from ..primitive import primitive, rule


def _swap_last(a):
    return a.T if a.ndim == 2 else a.swapaxes(-1, -2)


def _matmul_dx(g, x, y):
    if y.ndim == 1:          # (..., n) @ (n,): each output is x·y, so x̄ = g yᵀ (an outer product)
        return g[..., None] * y
    if x.ndim == 1:          # (n,) @ (..., n, m): x̄ = y g (batch axes summed by the engine)
        return (y @ g[..., None])[..., 0]
    return g @ _swap_last(y)  # (..., k, n) @ (..., n, m): x̄ = g yᵀ


def _matmul_dy(g, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if y.ndim == 1:          # ȳ = xᵀ g, summed over the batch by the engine
        return g[..., None] * x
    if x.ndim == 1:          # ȳ = x gᵀ (outer product)
        return x[:, None] * g[..., None, :]
    if y.ndim == 2 and x.ndim == 2:
        # ȳ = xᵀ g computed as (gᵀ x)ᵀ: the same product, laid out so that for the usual
        # x @ W.T, transpose's rule hands W a gradient in W's own row-major layout.
        return (g.T @ x).T
    return _swap_last(x) @ g  # ȳ = xᵀ g


@primitive("matmul", "z = x @ y;  x̄ = g @ yᵀ,  ȳ = xᵀ @ g")
def matmul(x, y):
    return x @ y


matmul.defvjp(
    rule(lambda g, out, x, y: _matmul_dx(g, x, y), saves="y"),
    rule(lambda g, out, x, y: _matmul_dy(g, x, y), saves="x"),
)
