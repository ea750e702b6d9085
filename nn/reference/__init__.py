"""Nielsen's BP1–BP4 by hand (``nielsen``, numpy only) and ``compare`` against the engine."""

from .compare import LayerReport, Report, compare
from .nielsen import Network, backprop_averaged, backprop_batch, backprop_example, cost_value

__all__ = [
    "LayerReport", "Network", "Report", "backprop_averaged", "backprop_batch", "backprop_example",
    "compare", "cost_value",
]
