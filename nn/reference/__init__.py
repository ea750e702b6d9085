"""Nielsen's BP1–BP4 by hand (``nielsen``, numpy only) and ``compare`` against the engine."""

from .compare import FORMS, LayerReport, Report, Reports, compare
from .nielsen import Network, backprop_averaged, backprop_batch, backprop_example, cost_value

__all__ = [
    "FORMS", "LayerReport", "Network", "Report", "Reports", "backprop_averaged", "backprop_batch",
    "backprop_example", "compare", "cost_value",
]
