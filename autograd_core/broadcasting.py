"""Undoing broadcasting: the one place where a gradient is reduced to its input's shape."""

from __future__ import annotations

from typing import Any


def sum_to_shape(g: Any, shape: tuple[int, ...]) -> Any | None:
    """Sum ``g`` over the axes along which numpy broadcast an input of ``shape``.

    If ``x`` of shape (1, n) was broadcast against (m, n), every row of the output
    used the same ``x``, so x's gradient is the sum of the rows of ``g``. Works on
    numpy arrays and on Tensors (whose ``sum`` and ``reshape`` are recorded). Returns
    None when ``shape`` could not have been broadcast to ``g.shape``.
    """
    g_shape = tuple(g.shape)
    if g_shape == tuple(shape):
        return g
    lead = len(g_shape) - len(shape)
    if lead < 0:
        # g has fewer axes: the input had extra leading axes of length 1 (x[0] = v with v of
        # shape (1, n) fills a row of n), which numpy dropped when it used the input.
        if any(n != 1 for n in shape[:-lead]):
            return None
        reduced = sum_to_shape(g, shape[-lead:])
        return None if reduced is None else reduced.reshape(shape)
    leading = tuple(range(lead))
    stretched = []
    for i, size in enumerate(shape):
        g_size = g_shape[lead + i]
        if size == 1 and g_size != 1:
            stretched.append(lead + i)
        elif size != g_size:
            return None
    if not stretched:
        # Only new leading axes (a bias added to a batch): the sum already has the input's
        # shape. One call instead of sum(keepdims) + reshape.
        return g.sum(axis=leading)
    return g.sum(axis=leading + tuple(stretched), keepdims=True).reshape(shape)
