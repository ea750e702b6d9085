"""``compare``: one mini-batch through the engine and through Nielsen's BP1–BP4.

Like ``nielsen.py`` this module imports nothing from the engine: it drives the model
it is given through its own methods (``model(x)``, ``record_deltas()``, ``backward()``)
and reads the weights as numpy arrays, so the reference stays an independent opinion.

``compare(..., forms=("composed", "fused"))`` reports each form of the layers and the
cost: composed from the engine's primitives (nn's default, the gradients of the general
rules) and fused (``fused=True``, one hand-differentiated node per layer and cost).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from . import nielsen


@dataclasses.dataclass
class LayerReport:
    """One Dense layer: the largest |engine − reference| for delta (BP1/BP2), b (BP3) and W (BP4)."""

    layer: str
    shape: tuple[int, int]
    delta: float
    bias: float
    weight: float

    @property
    def equation(self) -> str:
        return "BP1" if self.layer.endswith("(output)") else "BP2"


@dataclasses.dataclass
class Report:
    """Per-layer differences; ``str(report)`` is a table, ``max_difference`` the worst of all.

    ``form`` is "composed" or "fused" when ``compare`` was asked for forms, else "".
    """

    layers: list[LayerReport]
    cost: str
    batch: int
    form: str = ""

    @property
    def max_difference(self) -> float:
        return max(max(r.delta, r.bias, r.weight) for r in self.layers)

    def __str__(self) -> str:
        engine = f"engine ({self.form} form)" if self.form else "engine"
        lines = [
            f"{engine} vs Nielsen's BP1-BP4 ({self.cost} cost, mini-batch of {self.batch}):",
            f"{'layer':<22}{'W shape':>10}  {'delta (BP1/2)':>14}{'dC/db (BP3)':>13}{'dC/dW (BP4)':>13}",
        ]
        for r in self.layers:
            shape = f"{r.shape[0]}x{r.shape[1]}"
            lines.append(f"{r.layer:<22}{shape:>10}  {r.delta:>14.2e}{r.bias:>13.2e}{r.weight:>13.2e}")
        verdict = "agree" if self.max_difference < 1e-10 else "DISAGREE"
        lines.append(f"largest absolute difference {self.max_difference:.2e}: engine and reference {verdict}")
        return "\n".join(lines)


class Reports(dict):
    """What ``compare(..., forms=...)`` returns: one ``Report`` per form, by name, in order.

    ``str(reports)`` prints each form's table; ``max_difference`` is the worst of all.
    """

    @property
    def max_difference(self) -> float:
        return max(report.max_difference for report in self.values())

    def __str__(self) -> str:
        return "\n\n".join(str(report) for report in self.values())


FORMS = ("composed", "fused")


def _dense_layers(model):
    """The model's Dense layers, checking it is Nielsen's shape: (Dense, Sigmoid)*, last Sigmoid optional."""
    layers = list(getattr(model, "layers", []))
    kinds = [type(layer).__name__ for layer in layers]
    dense = [layer for layer in layers if hasattr(layer, "W") and hasattr(layer, "b")]
    pattern = ["Dense", "Sigmoid"] * len(dense)
    if not dense or kinds not in (pattern, pattern[:-1]):
        raise ValueError(
            f"compare: the reference covers dense sigmoid networks, Sequential(Dense, Sigmoid, ..., Dense, "
            f"Sigmoid); got layers {kinds}."
        )
    return dense, kinds[-1] == "Sigmoid"


def _cost_name(cost, ends_with_sigmoid):
    if getattr(cost, "reduction", "mean") != "mean":
        raise ValueError(
            f"compare: cost {cost!r} is not the batch mean; the reference backpropagates the mean "
            "cost, as network.py does. Use the cost with reduction='mean' (the default)."
        )
    kind = type(cost).__name__
    from_logits = getattr(cost, "from_logits", False)
    if kind == "QuadraticCost" and ends_with_sigmoid:
        return "quadratic"
    if kind == "CrossEntropyCost" and from_logits != ends_with_sigmoid:
        return "cross-entropy"
    raise ValueError(
        f"compare: cost {cost!r} does not fit a network that "
        f"{'ends' if ends_with_sigmoid else 'does not end'} with Sigmoid; use QuadraticCost or "
        "CrossEntropyCost after a Sigmoid, or CrossEntropyCost(from_logits=True) after the last Dense."
    )


def _check_forms(forms):
    forms = (forms,) if isinstance(forms, str) else tuple(forms)
    if not forms or any(form not in FORMS for form in forms) or len(set(forms)) < len(forms):
        raise ValueError(f"compare: forms must be some of {FORMS}, each at most once; got {forms!r}.")
    return forms


def _model_in_form(model, dense, fused):
    """``model`` when its Dense layers are all in the form asked for, else a deep copy
    (same parameter values, its own arrays) with ``fused`` set on every Dense layer."""
    if all(getattr(layer, "fused", False) == fused for layer in dense):
        return model
    twin = copy.deepcopy(model)
    for layer in _dense_layers(twin)[0]:
        layer.fused = fused
    return twin


def _cost_in_form(cost, name, fused):
    """``cost`` in the form asked for: a shallow copy with ``fused`` set when it differs.
    Cross-entropy on probabilities has no fused form and stays composed in both."""
    if getattr(cost, "fused", False) == fused or (name == "cross-entropy" and not cost.from_logits):
        return cost
    twin = copy.copy(cost)
    twin.fused = fused
    return twin


def compare(model, x, y, cost, lmbda=0.0, n=None, forms=None):
    """Backpropagate one mini-batch with the engine and with BP1–BP4; report the differences.

    ``x``: (batch, in), ``y``: (batch, out), both as rows; or one example as vectors,
    ``x``: (in,), ``y``: (out,), which the model is given as they are and which is
    compared as a batch of one (nn reads a 1-D vector as one example). With ``lmbda``
    the engine's cost gets the L2 penalty (λ/2n) Σ‖W‖²; ``n`` is the training-set size
    of network2.py's rule and defaults to the batch size. Leaves the parameters'
    ``.grad`` set to this batch's gradients, as a backward pass does.

    ``forms=None`` compares the model and cost as they are and returns a ``Report``.
    ``forms=("composed", "fused")`` (or either alone) compares each form and returns a
    ``Reports``, one ``Report`` per form: the Dense layers and the cost with
    ``fused=False`` (the engine's general rules) or ``fused=True`` (nn's hand-written
    nodes). A form the model is not in runs on a deep copy with the same parameter
    values, so the model's own ``.grad`` is left set only by the form it is in.
    """
    dense, ends_with_sigmoid = _dense_layers(model)
    name = _cost_name(cost, ends_with_sigmoid)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"compare: x must be a batch (batch, in) or one example (in,), got shape {x.shape}.")
    n = (x.shape[0] if x.ndim == 2 else 1) if n is None else n
    if forms is None:
        return _compare_one(model, dense, x, y, cost, name, lmbda, n)
    reports = Reports()
    for form in _check_forms(forms):
        fused = form == "fused"
        twin = _model_in_form(model, dense, fused)
        twin_dense = dense if twin is model else _dense_layers(twin)[0]
        reports[form] = _compare_one(twin, twin_dense, x, y, _cost_in_form(cost, name, fused),
                                     name, lmbda, n, form)
    return reports


def _compare_one(model, dense, x, y, cost, name, lmbda, n, form=""):
    model.zero_grad()
    with model.record_deltas() as engine_deltas:
        loss = cost(model(x), y)
        if lmbda:
            for layer in dense:
                loss = loss + (layer.W * layer.W).sum() * (lmbda / (2.0 * n))
        loss.backward()
    weights = [layer.W.data for layer in dense]
    biases = [layer.b.data for layer in dense]
    # One example (1-D) is a batch of one column for the reference.
    X, Y = np.atleast_2d(x), np.atleast_2d(y)
    deltas, nabla_b, nabla_w = nielsen.backprop_batch(weights, biases, X.T, Y.T, name, lmbda, n)
    paths = [path for path, module in model.named_modules() if any(module is d for d in dense)]
    rows = []
    for index, (path, layer) in enumerate(zip(paths, dense)):
        label = path + (" (output)" if index == len(dense) - 1 else "")
        rows.append(LayerReport(
            layer=label,
            shape=layer.W.shape,
            delta=float(np.max(np.abs(np.atleast_2d(engine_deltas[path]) - deltas[index].T))),
            bias=float(np.max(np.abs(layer.b.grad - nabla_b[index]))),
            weight=float(np.max(np.abs(layer.W.grad - nabla_w[index]))),
        ))
    return Report(rows, name + (f" + L2 (lambda={lmbda}, n={n})" if lmbda else ""), X.shape[0], form)
