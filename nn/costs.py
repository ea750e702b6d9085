"""Costs: each returns a scalar Tensor, the mean over the batch (axis 0) of a per-example cost.

``reduction="sum"`` returns the sum over the batch instead, and ``reduction="none"`` the
vector of per-example costs, shape (batch,) (a 0-d Tensor for one example given as a
vector), as PyTorch's losses do. The per-example cost of Nielsen's costs sums over the
outputs: ½‖y − a‖² and −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], not a mean over them.

A 1-D output is ONE example, exactly as a batch of one row (``cost(m(x[0]), y[0]) ==
cost(m(x[:1]), y[:1])``), as ``Dense`` reads a 1-D input: Nielsen's per-example
``network.py`` works unchanged. Averaging a 1-D output over its units instead would
make the cost and every gradient ``out_features`` times too small, without an error.

Called as ``cost(output, target)``; the target may be a numpy array or a Tensor. The
gradient at the pre-activation of the output layer is (ŷ − y)/batch for the three
matched pairs: quadratic cost after a linear output, binary cross-entropy after a
sigmoid, categorical cross-entropy after a softmax (tests check all three).

Every cost is composed from the engine's primitives, so its gradient (BP1's ∇ₐC) comes
from their general rules. ``fused=True`` computes the same cost as one node of
``nn/fused.py`` instead, an opt-in for speed, for the mean and the sum; the probability
forms of ``CrossEntropyCost`` and ``CategoricalCrossEntropy`` have no fused form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd_core as ac
from autograd_core import Tensor

from . import fused as _fused


def _values(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


#: The primitives of this module (not differentiable, so no rules): kept apart from the engine's.
LABEL_PRIMITIVES: dict = {}


@ac.primitive("one_hot", "y = the rows of the identity matrix picked by integer labels",
              why="the labels are checked each time it runs, a jitted replay included",
              table=LABEL_PRIMITIVES)
def one_hot(labels, classes, dtype, cost):
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        raise ValueError(
            f"{cost}: labels must be in [0, {classes - 1}] for {classes} classes; "
            f"got {labels[bad][:5].tolist()} at rows {np.flatnonzero(bad)[:5].tolist()}."
        )
    return np.eye(classes, dtype=dtype)[labels]


one_hot.defvjp(None)


@ac.primitive("checked", "y = t, after check(t) found nothing wrong;  t̄ = g",
              why="while jit traces, a check of values is a step of the program, so every replay makes it",
              table=LABEL_PRIMITIVES)
def checked(t, check):
    check(t)
    return t.view()         # an array of its own: the program keeps this step


checked.defvjp(ac.rule(lambda g, out, t, check: g))


def _checked(value: Any, check: Any) -> Any:
    """``value`` after ``check(values)`` (which raises on bad values): eagerly a plain call;
    while jit traces, the ``checked`` step, whose result the cost then computes with."""
    if ac.is_tracing():
        return checked(_as_operand(value), check=check)
    check(_values(value))
    return value


def _targets_in_unit_interval(t: np.ndarray) -> None:
    if _outside_unit_interval(t):
        raise ValueError(
            f"CrossEntropyCost: targets must lie in [0, 1], got values in [{np.min(t)}, {np.max(t)}] "
            f"(shape {t.shape}). Binary cross-entropy compares probabilities."
        )


def _outputs_in_unit_interval(a: np.ndarray) -> None:
    if _outside_unit_interval(a):
        raise ValueError(
            f"CrossEntropyCost: outputs must be probabilities in [0, 1], got values in "
            f"[{np.min(a)}, {np.max(a)}] (shape {a.shape}). Put a Sigmoid before the cost, or pass "
            "the pre-activations with CrossEntropyCost(from_logits=True)."
        )


class _ProbabilityRows:
    """The check of a categorical cost's outputs: rows of probabilities (named for the message)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, a: np.ndarray) -> None:
        sums = a.sum(axis=-1)
        if _outside_unit_interval(a) or not np.allclose(sums, 1.0, rtol=0, atol=1e-6 * a.shape[-1]):
            raise ValueError(
                f"{self.name}: outputs must be probabilities, rows in [0, 1] summing to 1 (a Softmax's "
                f"output), got values in [{np.min(a)}, {np.max(a)}] and row sums in "
                f"[{np.min(sums)}, {np.max(sums)}] (shape {a.shape}). Put nn.Softmax() before the cost, "
                f"or pass the logits with {self.name}(from_logits=True)."
            )


@ac.primitive("both_equal", "m = (a = v) ∧ (y = v), elementwise: where 0 · ln 0 = 0 applies",
              why="an operation, so that jit finds the entries again on every replay",
              table=LABEL_PRIMITIVES)
def both_equal(a, y, value):
    return (a == value) & (y == value)


both_equal.defvjp(None, None)


def _shape(x: Any) -> tuple[int, ...]:
    # Tensors and arrays without np.shape's dispatch: the cost's check 0.36 -> 0.22 µs.
    data = x.data if isinstance(x, Tensor) else x
    return data.shape if type(data) is np.ndarray else np.shape(np.asarray(data))


def _check_same_shape(cost: str, output: Any, target: Any) -> tuple[int, ...]:
    """The output's shape, after checking that the target has it too and it is not a scalar."""
    out_shape, target_shape = _shape(output), _shape(target)
    if out_shape != target_shape:
        raise ValueError(
            f"{cost}: target has shape {target_shape} but the output has shape {out_shape}; they must "
            f"match (batch as rows). For class labels use one-hot rows of shape {out_shape}."
        )
    if len(out_shape) == 0:
        raise ValueError(f"{cost}: output is a scalar; give a batch of shape (batch, outputs).")
    return out_shape


def _one_row(value: Any) -> Any:
    """``value`` of shape (k,) as (1, k); a Tensor through a recorded reshape."""
    return (value if isinstance(value, Tensor) else np.asarray(value)).reshape(1, -1)


def _as_batch(output: Any, target: Any, shape: tuple[int, ...]) -> tuple[Any, Any, tuple[int, ...]]:
    """A 1-D output (checked to have the target's shape) is one example: both as one row."""
    if len(shape) != 1:
        return output, target, shape
    return _one_row(output), _one_row(target), (1, *shape)


def _as_operand(value: Any) -> Any:
    # A Tensor is kept (its gradient may be wanted); arrays and lists become float constants.
    if isinstance(value, Tensor):
        return value
    value = np.asarray(value)
    return value if value.dtype.kind == "f" else value.astype(np.float64)


REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(cost: str, reduction: str, fused: bool = False) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{cost}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    if fused and reduction == "none":
        raise ValueError(
            f"{cost}: fused=True computes one scalar (reduction 'mean' or 'sum'); for the per-example "
            "costs of reduction='none' use the composed form, fused=False."
        )
    return reduction


def _total(terms: Tensor, reduction: str) -> Tensor:
    """Σ ``terms`` of a batch (batch, ...) over each example's entries, then as ``reduction``
    says for 'sum' (over the batch too) and 'none' (one per example, shape (batch,)).

    ('mean' is each cost's own expression: the 1/n enters at its last node.)
    """
    if reduction == "none":
        return terms.sum(axis=tuple(range(1, terms.ndim)))
    return terms.sum()


def _unbatched(cost: Tensor, reduction: str, single: bool) -> Tensor:
    """One example given as a vector: its per-example cost as a 0-d Tensor, not shape (1,)."""
    return cost.reshape(()) if single and reduction == "none" else cost


def _fused_sum(cost: Any) -> dict[str, int]:
    """The fused nodes divide by the batch size (the mean) unless given ``n=1`` (the sum).

    Checked again here: ``fused`` and ``reduction`` are attributes, and may have been changed.
    """
    _check_reduction(type(cost).__name__, cost.reduction, fused=True)
    return {"n": 1} if cost.reduction == "sum" else {}


def _reduction_repr(reduction: str) -> str:
    return "" if reduction == "mean" else f"reduction={reduction!r}"


def _outside_unit_interval(values: np.ndarray) -> bool:
    """True when some value is below 0, above 1 or NaN (probabilities must lie in [0, 1])."""
    return bool(values.size) and bool(np.min(values) < 0 or np.max(values) > 1 or np.isnan(values).any())


class QuadraticCost:
    """C = (1/n) Σₓ ½‖y(x) − a(x)‖²  (Nielsen's eq. 6, averaged over the mini-batch); ∂C/∂a = (a − y)/n.

    Composed as sub, mul, sum and mul, whose rules give BP1's ∇ₐC: the last mul hands
    1/2n to the sum, whose rule spreads it over every entry; ``diff * diff`` reads diff
    twice, so mul's two rules add up to 2·diff/2n = (a − y)/n; sub's passes it on to a.
    ``fused=True``: one ``quadratic_cost`` node whose rule is that result written by hand.

    ``reduction="sum"``: Σₓ ½‖y(x) − a(x)‖²; ``"none"``: ½‖y(x) − a(x)‖² per example. Each
    is ½ Σ over the outputs, so ``reduction="sum"`` is half of ``torch.nn.MSELoss(reduction="sum")``,
    and the mean is k/2 times ``MSELoss()`` for k outputs (which averages over all entries).
    """

    def __init__(self, fused: bool = False, reduction: str = "mean") -> None:
        self.fused = bool(fused)
        self.reduction = _check_reduction("QuadraticCost", reduction, self.fused)

    def __call__(self, output: Any, target: Any) -> Tensor:
        output = _as_operand(output)
        shape = _check_same_shape("QuadraticCost", output, target)
        output, target, (n, *_) = _as_batch(output, target, shape)
        if self.fused:
            return _fused.quadratic_cost(output, _as_operand(target), **_fused_sum(self))
        diff = ac.sub(output, _as_operand(target))   # a Tensor even when both are arrays
        if self.reduction == "mean":
            return (diff * diff).sum() * (0.5 / n)    # mul, not ** 2: the same 2·diff, no pow
        return _unbatched(_total(diff * diff, self.reduction) * 0.5, self.reduction, len(shape) == 1)

    def __repr__(self) -> str:
        flags = ["fused=True"] * self.fused + [_reduction_repr(self.reduction)]
        return f"QuadraticCost({', '.join(f for f in flags if f)})"


class CrossEntropyCost:
    """C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)]  (Nielsen's eq. 63).

    ``from_logits=True``: ``output`` holds the pre-activations z; stable for any z,
    gradient exactly (σ(z) − y)/n. Prefer it whenever the logits are at hand.
    ``fused=True`` (with ``from_logits=True`` only) computes it as one
    ``sigmoid_cross_entropy`` node instead of a composition.

    ``from_logits=False``: ``output`` holds probabilities a = σ(z) in [0, 1], and
    0 · ln 0 = 0 (the xlogy convention; network2.py gets the same with np.nan_to_num):
    an output of exactly 0 or 1 with the same target (a sigmoid saturated the right
    way) contributes 0 to the cost and ∂C/∂a = −(1/n)[y/a − (1 − y)/(1 − a)] with the
    term whose coefficient is 0 dropped, i.e. −1/n at a = y = 1 and +1/n at a = y = 0,
    the one-sided derivatives. Exact 0 or 1 with any other target is a truly
    infinite cost: the value is +inf and ∂C/∂a is ±inf (then NaN after a Sigmoid's
    σ' = 0), which the optimizers refuse; pass the logits with ``from_logits=True``
    to get a finite cost and gradient there. ∂C/∂y = −(1/n)[ln a − ln(1 − a)] is
    exact for 0 < a < 1, infinite at a ∈ {0, 1}, and 0 by the same convention at the
    points a = y ∈ {0, 1} (as torch.xlogy's derivative in its first argument).

    ``reduction="sum"``: the sum over the batch; ``"none"``: the per-example costs
    −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], summed over outputs, so k times the row mean of
    ``torch.nn.BCELoss(reduction="none")`` for k outputs.
    """

    def __init__(self, from_logits: bool = False, fused: bool = False, reduction: str = "mean") -> None:
        if fused and not from_logits:
            raise ValueError(
                "CrossEntropyCost: fused=True needs from_logits=True; only the cost on logits "
                "has a fused form (sigmoid_cross_entropy). Pass the pre-activations with "
                "CrossEntropyCost(from_logits=True, fused=True), or drop fused=True."
            )
        self.from_logits = bool(from_logits)
        self.fused = bool(fused)
        self.reduction = _check_reduction("CrossEntropyCost", reduction, self.fused)

    def __call__(self, output: Any, target: Any) -> Tensor:
        output = _as_operand(output)
        shape = _check_same_shape("CrossEntropyCost", output, target)
        single = len(shape) == 1
        output, target, shape = _as_batch(output, target, shape)
        y = _as_operand(_checked(target, _targets_in_unit_interval))
        if self.from_logits:
            if self.fused:
                return _fused.sigmoid_cross_entropy(output, y, **_fused_sum(self))
            return _unbatched(_from_logits(output, y, shape, self.reduction), self.reduction, single)
        output = _checked(output, _outputs_in_unit_interval)
        a = _values(output)
        n = shape[0]
        # 0 · ln 0 = 0: where a log's argument is exactly 0 and its coefficient is 0 too,
        # take the log of 1 instead (the term is 0 either way). A `where` rather than
        # multiplying by a mask: 0 · ln 0 would be NaN, and a is replaced only at those
        # entries, so the value and gradient are untouched everywhere else; ∂/∂a of the
        # dropped term is 0, not 0/0.
        y_values = _values(y)
        first_dropped = both_equal(a, y_values, value=0)     # y ln a        with y = a = 0
        second_dropped = both_equal(a, y_values, value=1)    # (1 − y) ln(1 − a) with y = a = 1
        log_a = ac.log(ac.where(first_dropped, 1.0, output))
        log_1_minus_a = ac.log(ac.where(second_dropped, 1.0, ac.sub(1.0, output)))
        per_entry = ac.add(ac.mul(y, log_a), ac.mul(ac.sub(1.0, y), log_1_minus_a))
        if self.reduction == "mean":
            return ac.mul(ac.sum(per_entry), -1.0 / n)
        return _unbatched(ac.mul(_total(per_entry, self.reduction), -1.0), self.reduction, single)

    def __repr__(self) -> str:
        flags = [f"from_logits={self.from_logits}", "fused=True" if self.fused else "",
                 _reduction_repr(self.reduction)]
        return f"CrossEntropyCost({', '.join(f for f in flags if f)})"


def _from_logits(z: Any, y: Any, shape: tuple[int, ...], reduction: str = "mean") -> Tensor:
    """(1/n) Σ [softplus(z) − y z], the binary cross-entropy of σ(z), composed.

    softplus(z) = ln(1 + eᶻ) = ln(e⁰ + eᶻ) is a logsumexp over a new last axis holding
    [0, z]. logsumexp shifts by the larger of the two, so nothing overflows for
    z = ±1000, and its rule, softmax, hands z exactly eᶻ/(e⁰ + eᶻ) = σ(z), ½ at z = 0.
    The usual stable form max(z, 0) + ln(1 + e^−|z|), composed, would get 0 there
    instead, from the subgradients relu'(0) = |·|'(0) = 0.
    """
    zeros = np.zeros(shape, dtype=_values(z).dtype)
    softplus = ac.logsumexp(ac.stack([zeros, z], axis=-1), axis=-1)
    if reduction == "mean":
        return (softplus - ac.mul(y, z)).sum() / shape[0]
    return _total(softplus - ac.mul(y, z), reduction)


class CategoricalCrossEntropy:
    """C = −(1/n) Σₓ Σⱼ yⱼ ln aⱼ, on probabilities a of shape (batch, classes): the output of
    ``nn.Softmax``, whose rule then gives exactly (a − y)/n at the logits for one-hot targets.

    The categorical twin of ``CrossEntropyCost`` (binary), with the same flag:
    ``from_logits=False`` (the default) takes probabilities, each row summing to 1;
    ``from_logits=True`` takes the logits z and computes −Σ y ln softmax(z) stably through
    ``log_softmax`` (what ``SoftmaxCrossEntropy()`` is), which is to prefer whenever the
    logits are at hand: a probability that rounded to 0 makes an infinite cost there.
    0 · ln 0 = 0 as in ``CrossEntropyCost``: a class with target 0 and probability exactly 0
    contributes nothing.

    Targets: integer labels of shape (batch,) or one-hot (or probability) rows of shape
    (batch, classes). One example may be given as a vector of shape (classes,) with one
    integer label or one row: a batch of one, as ``torch.nn.CrossEntropyLoss`` reads
    unbatched input. ``reduction``: "mean" (default), "sum" over the batch, or "none" for
    the per-example costs −Σⱼ yⱼ ln aⱼ (shape (batch,), or 0-d for one example). ``fused=True``
    (with ``from_logits=True`` only): one ``softmax_cross_entropy`` node.
    """

    def __init__(self, from_logits: bool = False, fused: bool = False, reduction: str = "mean") -> None:
        if fused and not from_logits:
            raise ValueError(
                f"{type(self).__name__}: fused=True needs from_logits=True; only the cost on logits has a "
                "fused form (softmax_cross_entropy). Pass the logits with "
                "CategoricalCrossEntropy(from_logits=True, fused=True), or drop fused=True."
            )
        self.from_logits = bool(from_logits)
        self.fused = bool(fused)
        self.reduction = _check_reduction(type(self).__name__, reduction, self.fused)

    def __call__(self, output: Any, target: Any) -> Tensor:
        name = type(self).__name__
        what = "logits" if self.from_logits else "probabilities"
        output = _as_operand(output)
        shape = _shape(output)
        single = len(shape) == 1
        if single:                          # one example: a batch of one row
            output, shape = _one_row(output), (1, *shape)
            values = _values(target)
            if values.ndim == 0:            # its label (reshaped by the engine: jit reads it)
                target = ac.reshape(target, (1,))
            elif values.ndim == 1 and values.dtype.kind not in "biu":   # its one-hot row
                target = _one_row(target)
        if len(shape) != 2:
            raise ValueError(
                f"{name}: {what} must have shape (batch, classes), or (classes,) for one example, "
                f"got {shape}."
            )
        y = self._targets(name, output, target, shape)
        n = shape[0]
        if not self.from_logits:
            log_a = self._log_probabilities(name, output, y)
            if self.reduction == "mean":
                return -ac.mul(y, log_a).sum() / n
            return _unbatched(-_total(ac.mul(y, log_a), self.reduction), self.reduction, single)
        if self.fused:
            return _fused.softmax_cross_entropy(output, y, **_fused_sum(self))
        if self.reduction == "mean":
            return -ac.mul(y, ac.log_softmax(output, axis=-1)).sum() / n
        return _unbatched(-_total(ac.mul(y, ac.log_softmax(output, axis=-1)), self.reduction),
                          self.reduction, single)

    @staticmethod
    def _targets(name: str, output: Any, target: Any, shape: tuple[int, ...]) -> Any:
        """Integer labels as one-hot rows (checked); other targets checked to have the output's shape."""
        labels = _values(target)
        if labels.ndim == 1 and labels.dtype.kind == "b":
            raise ValueError(
                f"{name}: the labels are booleans (shape {labels.shape}); give class "
                f"indices as integers in [0, {shape[1] - 1}], or one-hot rows of shape {shape}."
            )
        if labels.ndim == 1 and labels.dtype.kind in "iu":
            if labels.shape[0] != shape[0]:
                raise ValueError(
                    f"{name}: {labels.shape[0]} labels for a batch of {shape[0]} rows "
                    f"(output shape {shape}); give one label per row."
                )
            return one_hot(labels, classes=shape[1], dtype=_values(output).dtype, cost=name)
        _check_same_shape(name, output, target)
        return _as_operand(target)

    @staticmethod
    def _log_probabilities(name: str, output: Any, y: Any) -> Tensor:
        """ln a, checked to be rows of probabilities, with ln 1 where a = y = 0 (0 · ln 0 = 0)."""
        output = _checked(output, _ProbabilityRows(name))
        a = _values(output)
        # As in CrossEntropyCost: a `where`, so that a is replaced only where the term is 0 anyway.
        return ac.log(ac.where(both_equal(a, _values(y), value=0), 1.0, output))

    def __repr__(self) -> str:
        flags = [f"from_logits={self.from_logits}", "fused=True" if self.fused else "",
                 _reduction_repr(self.reduction)]
        return f"{type(self).__name__}({', '.join(f for f in flags if f)})"


class SoftmaxCrossEntropy(CategoricalCrossEntropy):
    """C = −(1/n) Σₓ Σⱼ yⱼ ln softmax(z)ⱼ, from logits z of shape (batch, classes):
    ``CategoricalCrossEntropy(from_logits=True)``, as ``torch.nn.CrossEntropyLoss``.

    Targets: integer labels of shape (batch,) or one-hot rows of shape (batch, classes).
    One example may be given as logits of shape (classes,) with one integer label (or a
    one-hot row of shape (classes,)): a batch of one, as ``torch.nn.CrossEntropyLoss``
    reads unbatched input.
    Stable for logits of ±1000 (log_softmax is z − logsumexp(z)); the gradient at z is
    exactly (softmax(z) − y)/n. ``fused=True``: one ``softmax_cross_entropy`` node.
    ``reduction``: "mean", "sum" or "none", as for every cost.
    """

    def __init__(self, fused: bool = False, reduction: str = "mean") -> None:
        super().__init__(from_logits=True, fused=fused, reduction=reduction)

    def __repr__(self) -> str:
        flags = ["fused=True" if self.fused else "", _reduction_repr(self.reduction)]
        return f"SoftmaxCrossEntropy({', '.join(f for f in flags if f)})"
