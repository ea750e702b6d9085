"""The table of primitive operations: each forward beside its vector-Jacobian products.

Read ``autograd_core/primitive.py`` first for the vocabulary (``g``, ``out``, inputs).
Importing this package registers every primitive in ``primitive.PRIMITIVES``.
"""

from . import arithmetic, elementwise, linalg, reductions, shapes  # noqa: F401
