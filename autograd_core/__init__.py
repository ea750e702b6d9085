"""autograd_core: reverse-mode automatic differentiation over numpy.

Write a model as Python expressions on ``Tensor``s, call ``loss.backward()``, read
``.grad``. Every operation comes from one table of primitives (``PRIMITIVES``),
each a forward beside its vector-Jacobian products; see ``rules/``.
"""

from .tensor import Node, Tensor  # noqa: I001  (tensor must load before the rules)
from .backward import BackwardStep, BackwardTrace, gradients, trace_backward
from .errors import AutogradError, BackwardError, InplaceError, ShapeError
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (
    absolute, add, astype, broadcast_to, clip, concatenate, cos, div, exp, expand_dims, getitem,
    log, log_softmax, logsumexp, matmul, maximum, mean, minimum, mul, neg, power, relu, reshape,
    sigmoid, sin, softmax, sqrt, squeeze, stack, sub, swapaxes, tanh, transpose, where,
)
from .ops import tensor_max as max  # noqa: A001  (numpy's names, as np.max)
from .ops import tensor_min as min  # noqa: A001
from .ops import tensor_sum as sum  # noqa: A001
from .primitive import PRIMITIVES, Primitive, primitive
from .anomaly import AnomalyError, detect_anomaly
from .function import Function, FunctionCtx
from .functional import grad, hessian, hvp, jacobian, jvp, per_example_grads, value_and_grad, vjp

abs = absolute  # noqa: A001

__version__ = "0.1.0"

__all__ = [
    "PRIMITIVES", "AutogradError", "BackwardError", "BackwardStep", "BackwardTrace",
    "GradcheckError", "InplaceError", "Node", "Primitive", "ShapeError", "Tensor", "abs",
    "absolute", "add", "astype", "broadcast_to", "clip", "concatenate", "cos", "div",
    "enable_grad", "exp", "expand_dims", "getitem", "gradcheck", "gradgradcheck", "gradients",
    "is_grad_enabled", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mul", "neg", "no_grad", "power", "primitive", "relu", "reshape",
    "set_grad_enabled", "sigmoid", "sin", "softmax", "sqrt", "squeeze", "stack", "sub", "sum",
    "swapaxes", "tanh", "trace_backward", "transpose", "where",
]
__all__ += [
    "AnomalyError", "Function", "FunctionCtx", "detect_anomaly", "grad", "hessian", "hvp",
    "jacobian", "jvp", "per_example_grads", "value_and_grad", "vjp",
]
