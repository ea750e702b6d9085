"""Operations that move values around without arithmetic: reshape, transpose,
broadcast_to, indexing and its adjoint, concatenate, and dtype casts."""

import numpy as np

from ..primitive import call, primitive, rule


@primitive("reshape", "z = x viewed with a new shape;  x̄ = g reshaped to x's shape")
def reshape(x, shape):
    return np.reshape(x, shape)


reshape.defvjp(rule(lambda g, out, x, shape: g.reshape(x.shape)))


@primitive("transpose", "z = x with axes permuted;  x̄ = g with the inverse permutation")
def transpose(x, axes=None):
    return np.transpose(x, axes)


def inverse_axes(axes, ndim):
    """The permutation that undoes ``transpose(axes)`` (None: reversing undoes reversing)."""
    # Negative axes name the same axis as axis + ndim: normalise before inverting.
    return None if axes is None else tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


transpose.defvjp(rule(lambda g, out, x, axes=None: g.transpose(inverse_axes(axes, x.ndim))))


@primitive(
    "broadcast_to",
    "z = x repeated along broadcast axes;  x̄ = g summed back to x's shape (by the engine)",
)
def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


# The engine reduces every gradient to its input's shape, which is all this rule needs.
broadcast_to.defvjp(rule(lambda g, out, x, shape: g))


def is_basic_index(index):
    """True when indexing with ``index`` picks each element at most once (no index arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


@primitive("getitem", "z = x[index];  x̄ = zeros like x with g added at index")
def getitem(x, index):
    parts = index if isinstance(index, tuple) else (index,)
    if all(isinstance(p, (int, np.integer)) for p in parts):
        # One element picked by integers: x[index, ...] is a 0-d view of x, as PyTorch's
        # x[i] is; x[index] would copy it into a numpy scalar that writes cannot reach.
        return x[(*parts, Ellipsis)]
    return x[index]


getitem.defvjp(rule(lambda g, out, x, index: call(scatter_add, g, shape=x.shape, index=index)))


@primitive(
    "scatter_add",
    "z = zeros(shape) with g added at index;  ḡ = z̄[index]",
    why="the adjoint of getitem, so that indexing has second derivatives",
)
def scatter_add(values, shape, index):
    result = np.zeros(shape, dtype=np.result_type(values))
    if is_basic_index(index):
        result[index] = values
    else:
        # An index array may name the same element twice: np.add.at adds both contributions.
        np.add.at(result, index, values)
    return result


scatter_add.defvjp(rule(lambda g, out, values, shape, index: call(getitem, g, index=index)))


@primitive("setitem", "z = x with z[index] = v;  x̄ = g with 0 at index,  v̄ = g[index]")
def setitem(x, v, index):
    result = x.copy() if np.result_type(x, v) == x.dtype else x.astype(np.result_type(x, v))
    result[index] = fit_to_slot(v, np.ndim(result[index]))
    return result


def fit_to_slot(v, slot_ndim):
    """``v`` without leading axes of length 1 beyond what its slot has: c[0] = v with v of
    shape (1,) writes the one number, as PyTorch does (numpy refuses a sequence there)."""
    extra = np.ndim(v) - slot_ndim
    if extra > 0 and all(n == 1 for n in np.shape(v)[:extra]):
        return np.reshape(v, np.shape(v)[extra:])
    return v


def _untouched(shape, index):
    mask = np.ones(shape, dtype=bool)
    mask[index] = False
    return mask


setitem.defvjp(
    rule(lambda g, out, x, v, index: g * _untouched(x.shape, index)),
    rule(lambda g, out, x, v, index: call(getitem, g, index=index)),
)


@primitive("concatenate", "z = [x₁, x₂, …] along axis;  x̄ᵢ = the slice of g where xᵢ went")
def concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _slice_of(g, out, *xs, axis=0, which):
    axis = axis % g.ndim
    start = sum(x.shape[axis] for x in xs[:which])
    index = (slice(None),) * axis + (slice(start, start + xs[which].shape[axis]),)
    return call(getitem, g, index=index)


concatenate.defvjp_each(rule(_slice_of))


@primitive("astype", "z = x converted to dtype;  x̄ = g converted back to x's dtype")
def astype(x, dtype):
    return x.astype(dtype)


astype.defvjp(rule(lambda g, out, x, dtype: g.astype(x.dtype)))
