"""autograd_core: reverse-mode automatic differentiation over numpy.

Write a model as Python expressions on ``Tensor``s, call ``loss.backward()``, read
``.grad``. Every operation comes from one table of primitives (``PRIMITIVES``),
each a forward beside its vector-Jacobian products; see ``rules/``.
"""

# The layers, each importing only from those above it in this list:
# errors, grad_mode, anomaly -> node -> tensor -> broadcasting, backward -> primitive (recording) -> rules
# -> composites, ops, inplace -> tensor_methods -> function, functional, gradcheck -> replay (jit).
# On top, reading the tape without changing it: explain (explain_backward) -> draw (diagrams).
from . import tensor_methods  # noqa: F401  (gives Tensor its operators, methods and backward())
from .animate import animate_backward
from .anomaly import AnomalyError, detect_anomaly
from .backward import BackwardStep, BackwardTrace, gradients, trace_backward
from .draw import draw
from .errors import AutogradError, BackwardError, InplaceError, JitError, ShapeError
from .explain import explain_backward
from .function import Function, FunctionCtx
from .functional import grad, hessian, hvp, jacobian, jvp, per_example_grads, value_and_grad, vjp
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .node import Node, NotSaved
from .observe import is_tracing
from .ops import (
    absolute,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    div,
    exp,
    expand_dims,
    getitem,
    log,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    power,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    swapaxes,
    tanh,
    transpose,
    where,
)
from .ops import tensor_max as max  # noqa: A001  (numpy's names, as np.max)
from .ops import tensor_min as min  # noqa: A001
from .ops import tensor_sum as sum  # noqa: A001
from .primitive import PRIMITIVES, Primitive, Rule, call, primitive, rule
from .replay import jit
from .tensor import Tensor, mark_modified

abs = absolute  # noqa: A001

__version__ = "0.1.0"

__all__ = [
    "PRIMITIVES", "AutogradError", "BackwardError", "BackwardStep", "BackwardTrace",
    "GradcheckError", "InplaceError", "Node", "NotSaved", "Primitive", "Rule", "ShapeError",
    "Tensor", "abs", "call", "mark_modified", "rule",
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
__all__ += ["draw", "explain_backward"]
__all__ += ["animate_backward"]
__all__ += ["JitError", "is_tracing", "jit"]
