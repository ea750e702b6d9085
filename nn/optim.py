"""Optimizers that update parameters in place, as ``with no_grad(): p -= update`` does.

Each parameter's version counter advances: a graph recorded before the step that
still needs the old value then raises instead of differentiating a stale one.
Every ``step()`` validates all gradients first and only then writes, so a failed
step changes no parameter.

As in PyTorch, ``step()`` skips a parameter whose ``.grad`` is None (a frozen layer,
``requires_grad = False``; a branch the cost did not use): its value and its optimizer
state (momentum, Adam's moments and step count) stay as they are. Only a step in which
no parameter has a gradient raises, since that is a forgotten ``backward()``.

Parameter groups, in PyTorch's format: ``SGD([{"params": weights, "weight_decay": 0.1},
{"params": biases}], lr=0.5)``; each group's options default to the keyword arguments.
``state_dict()`` / ``load_state_dict()`` are PyTorch's format too: ``{"state": {index:
{"momentum_buffer": ...}}, "param_groups": [{"lr": ..., "params": [indices]}]}``, the
index counting the parameters of all groups in order; ``Module.save(path, optimizer=opt)``
writes it into the model's checkpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from autograd_core import Tensor, mark_modified, no_grad

_INF = float("inf")


class Optimizer:
    """Shared by the optimizers: parameter groups, the checks of every step, ``state_dict()``.

    ``params`` is a list of tensors (one group), or a list of groups: dicts with
    ``"params"`` and any of the optimizer's options, which default to the keyword
    arguments (``defaults``). ``param_groups`` holds them with every option filled in;
    changing ``param_groups[i]["lr"]`` (what the schedules do) takes effect at the next
    step. The groups' lists of parameters are fixed once built.

    A tensor that does not require grad (a frozen layer) is accepted, as in PyTorch: it
    gets no gradient, so ``step()`` skips it, and it trains again once unfrozen.
    """

    #: the names of the per-parameter state of ``state_dict()["state"][i]`` (set by each optimizer)
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        _refuse_the_method(name, params)
        if isinstance(params, (Tensor, Mapping)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{name}: params is a {type(params).__name__}, not a list of parameters; "
                f"pass {name}(model.parameters(), lr=...)."
            )
        items = list(params)
        if not items:
            raise ValueError(
                f"{name}: got no parameters to optimise; pass model.parameters() "
                "of a model that has layers with weights."
            )
        grouped = [isinstance(item, Mapping) for item in items]
        if any(grouped) and not all(grouped):
            raise TypeError(
                f"{name}: params mixes groups (dicts) and tensors; give either a list of parameters, "
                'or a list of groups such as [{"params": weights, "weight_decay": 0.1}, {"params": biases}].'
            )
        self.defaults = dict(defaults)
        groups = items if all(grouped) else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = [
            self._make_group(group, index if len(groups) > 1 else None) for index, group in enumerate(groups)]
        self.params: list[Tensor] = [p for group in self.param_groups for p in group["params"]]
        seen: set[int] = set()
        for p in self.params:
            if id(p) in seen:
                raise ValueError(
                    f"{name}: parameter {p.name or ''} appears more than once (in two groups, or twice "
                    "in one); it would be updated twice per step. Give each parameter to one group."
                )
            seen.add(id(p))

    def _make_group(self, group: Mapping[str, Any], index: int | None) -> dict[str, Any]:
        name = type(self).__name__
        where = f"{name}: group {index}" if index is not None else name
        if "params" not in group:
            raise ValueError(f'{where} has no "params"; each group is a dict such as '
                             '{"params": [...], "lr": 0.1}.')
        unknown = [key for key in group if key != "params" and key not in self.defaults]
        if unknown:
            raise ValueError(f"{where} has unknown option(s) {', '.join(map(repr, unknown))}; "
                             f"{name}'s options are {', '.join(self.defaults)}.")
        params = group["params"]
        _refuse_the_method(where, params)
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(
                f"{where}: got no parameters to optimise; pass model.parameters() "
                "of a model that has layers with weights."
            )
        for position, p in enumerate(params):
            if not isinstance(p, Tensor):
                hint = ("pass model.parameters(), not the model's layers" if hasattr(p, "parameters")
                        else "pass model.parameters(), not named_parameters()" if isinstance(p, tuple)
                        else "pass model.parameters() or Tensors")
                raise TypeError(
                    f"{where}: parameter {position} is a {type(p).__name__}, not a Tensor; {hint}.")
        options = {**self.defaults, **{key: value for key, value in group.items() if key != "params"}}
        if options.get("lr") is None:
            raise ValueError(f"{where}: no learning rate; pass lr=... or give the group an \"lr\".")
        problems = self._option_problems(options)
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        return {"params": params, **self._normalized(options)}

    def _option_problems(self, options: Mapping[str, Any]) -> list[str]:
        """What is wrong with one group's options (each optimizer adds its own checks)."""
        lr = options.get("lr")
        # lr = 0 is allowed, as in PyTorch
        if not isinstance(lr, (int, float, np.number)) or not (lr >= 0 and np.isfinite(lr)):
            return [f"learning rate must be >= 0 and finite, got lr={lr}"]
        return []

    def _normalized(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Options as plain Python floats (and tuples), checked already."""
        return {key: float(value) for key, value in options.items()}

    @property
    def lr(self) -> float:
        """The learning rate of every group (each group's is ``param_groups[i]["lr"]``).

        Setting it sets every group's; reading it when the groups differ raises.
        """
        rates = {group["lr"] for group in self.param_groups}
        if len(rates) > 1:
            raise ValueError(f"{type(self).__name__}: the groups have different learning rates "
                             f"{sorted(rates)}; read param_groups[i]['lr'].")
        return rates.pop()

    @lr.setter
    def lr(self, value: float) -> None:
        problems = self._option_problems({"lr": value})
        if problems:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(problems))
        for group in self.param_groups:
            group["lr"] = float(value)

    def __repr__(self) -> str:
        def options(group: Mapping[str, Any]) -> str:
            return ", ".join(f"{key}={value}" for key, value in group.items() if key != "params")
        if len(self.param_groups) == 1:
            return f"{type(self).__name__}({options(self.param_groups[0])})"
        lines = [f"  group {i}: {len(g['params'])} parameters, {options(g)}"
                 for i, g in enumerate(self.param_groups)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's format: ``{"state": {i: {name: value}}, "param_groups": [{option: value,
        "params": [i, ...]}]}``, ``i`` counting the parameters of all groups in order; only
        parameters with state (one step at least) are in ``"state"``. Arrays are copies."""
        groups, start = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + count))})
            start += count
        return {"state": self._state(), "param_groups": groups}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take the options and per-parameter state of ``state`` (from ``state_dict()``).

        The saved groups are matched with this optimizer's in order, and their parameters
        in order, as PyTorch does. Everything is checked first (``state_problems``); on any
        mismatch a ``ValueError`` lists all of them and nothing is changed.
        """
        problems = self.state_problems(state)
        if problems:
            raise ValueError(
                f"cannot load state into {type(self).__name__}; nothing was changed. " + "; ".join(problems)
                + ". Build the optimizer of the same kind, over the same parameters in the same "
                "groups, as the one that was saved."
            )
        for group, saved in zip(self.param_groups, state["param_groups"]):
            group.update(self._normalized({k: v for k, v in saved.items() if k != "params"}))
        positions = self._positions(state)
        self._load_state({positions[key]: {name: np.asarray(value) for name, value in entry.items()}
                          for key, entry in state.get("state", {}).items()}, state)

    def state_problems(self, state: Any) -> list[str]:
        """Everything that stops ``load_state_dict(state)``; empty when it would succeed."""
        name = type(self).__name__
        if (not isinstance(state, Mapping) or not isinstance(state.get("param_groups"), (list, tuple))
                or not all(isinstance(g, Mapping) and "params" in g for g in state["param_groups"])
                or not isinstance(state.get("state", {}), Mapping)):
            return [f"expected a dict with 'state' and 'param_groups' (from {name}.state_dict()), "
                    f"got {state!r:.200}"]
        saved_groups = state["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            return [f"the state has {len(saved_groups)} parameter group(s), {name} has "
                    f"{len(self.param_groups)}"]
        problems = []
        for index, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            options = {key: value for key, value in saved.items() if key != "params"}
            ids = np.atleast_1d(np.asarray(saved.get("params", [])))
            if len(ids) != len(group["params"]):
                problems.append(f"group {index} has {len(ids)} parameters in the state, "
                                f"{len(group['params'])} here")
            if sorted(options) != sorted(self.defaults):
                problems.append(f"group {index}'s options are {', '.join(sorted(options))} in the state, "
                                f"{', '.join(sorted(self.defaults))} here")
            else:
                problems += [f"group {index}: {problem}" for problem in self._option_problems(options)]
        if problems:
            return problems
        positions = self._positions(state)
        for key, entry in state.get("state", {}).items():
            if key not in positions:
                problems.append(f"state for parameter {key!r}, which no group lists")
                continue
            problems += self._entry_problems(positions[key], entry)
        return problems or self._extra_problems(state)

    def _positions(self, state: Mapping[str, Any]) -> dict[Any, int]:
        """Saved parameter index -> position in ``self.params``, group by group, in order."""
        saved_ids = [int(i) for g in state["param_groups"] for i in np.atleast_1d(np.asarray(g["params"]))]
        return dict(zip(saved_ids, range(len(self.params))))

    def _entry_problems(self, position: int, entry: Any) -> list[str]:
        """What is wrong with one parameter's saved state (names, shapes, values)."""
        p = self.params[position]
        label = p.name or f"parameter {position}"
        if not isinstance(entry, Mapping) or sorted(entry) != sorted(self.state_names):
            found = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
            return [f"the state of {label} has {found}; {type(self).__name__} keeps "
                    f"{sorted(self.state_names)}"]
        problems = []
        for name, value in entry.items():
            array = np.asarray(value)
            shape = () if name == "step" else p.shape
            if array.shape != shape or array.dtype.kind not in "biuf":
                problems.append(f"{name} of {label} has shape {array.shape} and dtype {array.dtype}; "
                                f"expected numbers of shape {shape}")
            elif not np.all(np.isfinite(array)):
                problems.append(f"{name} of {label} is not finite")
        return problems

    def _state(self) -> dict[int, dict[str, Any]]:
        """Each parameter's state, by position (the optimizers fill it in)."""
        return {}

    def _extra_problems(self, state: Mapping[str, Any]) -> list[str]:
        """Checks of state beyond the per-parameter entries (Adam's ``t``)."""
        return []

    def _load_state(self, entries: dict[int, dict[str, np.ndarray]], state: Mapping[str, Any]) -> None:
        """Replace the per-parameter state by ``entries`` (checked): position -> name -> array."""

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None before the next backward."""
        for p in self.params:
            p.grad = None

    def _grads(self) -> list[np.ndarray | None]:
        """All gradients, checked before anything is written; None for a parameter to skip.

        The common case (float ndarrays of the right shape) is checked with one BLAS
        dot per gradient: Σ g² is finite only when every element is (inf² = inf, NaN
        propagates, squares cannot cancel), and it reads g once without building the
        boolean array of ``np.isfinite(g).all()``. ``np.vdot`` rather than ``np.dot``
        because it does not turn the overflow of a huge-but-finite Σ g² into a numpy
        warning (numpy 2.4; tested, and caught below should a later numpy warn or
        raise). A sum that is not finite, or anything unusual, goes to
        ``_grads_checked``, which tests element by element, so huge-but-finite
        gradients are still accepted. Measured on scenario 1's four gradients:
        about 7 → 4 µs for the check (``np.dot`` under ``np.errstate`` gave back 1 µs of
        that); with ``_apply`` below, ``SGD.step()`` 20.0 → 14.8 µs.
        """
        grads: list[np.ndarray | None] = []
        for p in self.params:
            g = p.grad
            if g is None:              # frozen, or not used by the cost: skipped
                grads.append(None)
                continue
            data = p.data
            if (type(g) is not np.ndarray or g.dtype.kind != "f" or g.shape != data.shape
                    or not data.flags.writeable):
                return self._grads_checked()
            flat = g.ravel("K")        # a view in memory order, also for a transposed g
            try:
                finite = np.vdot(flat, flat) < _INF
            except (FloatingPointError, RuntimeWarning):   # np.errstate / warnings filters
                finite = False
            if not finite:
                return self._grads_checked()
            grads.append(g)
        if all(g is None for g in grads):
            return self._grads_checked()        # raises: no gradient at all
        return grads

    def _grads_checked(self) -> list[np.ndarray | None]:
        """Every gradient converted and tested element by element; all problems in one error."""
        problems = []
        grads: list[np.ndarray | None] = []
        for index, p in enumerate(self.params):
            g = p.grad
            if g is None:
                grads.append(None)
                continue
            if type(g) is not np.ndarray:
                g = np.asarray(g.data if isinstance(g, Tensor) else g)
            if not p.data.flags.writeable:
                problems.append(f"{p.name or f'parameter {index}'} has a read-only array; give it "
                                "an array of its own (p.data = p.data.copy())")
            if g.shape != p.data.shape:
                problems.append(f"{p.name or f'parameter {index}'} has shape {p.shape} but its "
                                f"gradient has shape {g.shape}")
            elif not np.isfinite(g).all():     # the method: np.all's wrapper costs 1 µs
                problems.append(f"{p.name or f'parameter {index}'} has a non-finite gradient (inf or NaN)")
            grads.append(g)
        if all(g is None for g in grads):
            raise ValueError(
                f"{type(self).__name__}.step(): none of the {len(grads)} parameters has a gradient "
                "(.grad is None), so there is nothing to update. Call loss.backward() after "
                "zero_grad() and before step()."
            )
        if problems:
            raise ValueError(
                f"{type(self).__name__}.step(): no parameter was changed: " + "; ".join(problems)
                + ". Call loss.backward() after zero_grad() and before step()."
            )
        return grads

    def _apply(self, updates: list[np.ndarray | None]) -> None:
        """p ← p − update for every parameter with an update (not None), in place, each
        version advanced by one.

        What ``Tensor.__isub__`` does under ``no_grad`` (numpy's in-place subtract, then
        ``mark_modified``, which also counts the write in every tensor sharing the
        parameter's memory), without the context manager and the operator's dispatch:
        about 1.5 µs less per step for scenario 1's four parameters. Anything
        else numpy refuses (``_grads`` already refused read-only arrays) goes through the
        operator, which raises its usual error.
        """
        for p, update in zip(self.params, updates):
            if update is None:
                continue
            try:
                np.subtract(p.data, update, out=p.data, casting="same_kind")
            except (ValueError, TypeError):
                with no_grad():
                    p -= update
            else:
                mark_modified(p)


class SGD(Optimizer):
    """v ← μ v + (∇ + wd·p);  p ← p − lr·v  (PyTorch's convention; μ = 0 is plain SGD).

    ``weight_decay`` applies to every parameter of its group. For Nielsen's L2 on weights
    only, give the weights a group of their own,
    ``SGD([{"params": weights, "weight_decay": λ/n}, {"params": biases}], lr=η)``
    (``model.parameters()`` filtered by ``p.decay``), or add ``nn.l2_penalty`` to the cost:
    both give network2.py's w → (1 − ηλ/n) w − η ∂C/∂w.
    ``state_dict()["state"][i]``: ``{"momentum_buffer": v}`` once parameter i has one.
    """

    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float | None = None, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def _option_problems(self, options: Mapping[str, Any]) -> list[str]:
        problems = super()._option_problems(options)
        momentum, weight_decay = options.get("momentum", 0.0), options.get("weight_decay", 0.0)
        if not (momentum >= 0 and weight_decay >= 0):        # NaN fails these comparisons
            problems.append(f"momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
        return problems

    def step(self) -> None:
        grads = self._grads()
        updates: list[np.ndarray | None] = []
        velocities = list(self.velocity)       # a skipped parameter keeps its velocity
        index = 0                              # position in self.params, group after group
        for group in self.param_groups:
            lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                g = grads[index]
                if g is not None:
                    if weight_decay:
                        g = g + weight_decay * p.data
                    if momentum:
                        # The first velocity is the gradient's value, in an array of its own: zeroing
                        # p.grad in place afterwards must not wipe the momentum (PyTorch clones too).
                        v = velocities[index]
                        g = np.array(g, copy=True) if v is None else momentum * v + g
                        velocities[index] = g
                    g = lr * g
                updates.append(g)
                index += 1
        self._apply(updates)
        self.velocity = velocities

    def _state(self) -> dict[int, dict[str, Any]]:
        return {i: {"momentum_buffer": v.copy()} for i, v in enumerate(self.velocity) if v is not None}

    def _load_state(self, entries: dict[int, dict[str, np.ndarray]], state: Mapping[str, Any]) -> None:
        self.velocity = [np.array(entries[i]["momentum_buffer"], copy=True) if i in entries else None
                         for i in range(len(self.params))]


class Adam(Optimizer):
    """Adam (Kingma & Ba): m ← β₁m + (1−β₁)∇, v ← β₂v + (1−β₂)∇², p ← p − lr·m̂/(√v̂ + ε).

    ``t`` counts the steps taken; ``steps[i]`` counts those that updated parameter i, the
    t of its bias corrections m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), as PyTorch keeps a step
    count per parameter: a parameter skipped for a while (no gradient) resumes where it
    stopped.

    ``state_dict()["state"][i]``: ``{"step": steps[i], "exp_avg": m, "exp_avg_sq": v}`` (PyTorch's
    names) once parameter i has been updated; ``state_dict()["t"]`` is ``t``.
    """

    state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.t = 0
        self.steps = [0] * len(self.params)
        self.m: list[Any] = [np.zeros_like(p.data) for p in self.params]
        self.v: list[Any] = [np.zeros_like(p.data) for p in self.params]

    def _option_problems(self, options: Mapping[str, Any]) -> list[str]:
        problems = super()._option_problems(options)
        betas, eps = options.get("betas", (0.9, 0.999)), options.get("eps", 1e-8)
        try:
            b1, b2 = betas
            valid = 0 <= b1 < 1 and 0 <= b2 < 1 and eps > 0     # NaN fails these comparisons
        except (TypeError, ValueError):
            valid = False
        if not valid:
            problems.append(f"betas must lie in [0, 1) and eps > 0, got betas={betas}, eps={eps}")
        return problems

    def _normalized(self, options: Mapping[str, Any]) -> dict[str, Any]:
        b1, b2 = options["betas"]
        return {"lr": float(options["lr"]), "betas": (float(b1), float(b2)), "eps": float(options["eps"])}

    def step(self) -> None:
        grads = self._grads()
        ms, vs, steps = list(self.m), list(self.v), list(self.steps)
        updates: list[np.ndarray | None] = []
        i = 0                                   # position in self.params, group after group
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for _ in group["params"]:
                g = grads[i]
                if g is None:                   # skipped: moments and step count unchanged
                    updates.append(None)
                else:
                    t = steps[i] = steps[i] + 1
                    ms[i] = b1 * ms[i] + (1 - b1) * g
                    vs[i] = b2 * vs[i] + (1 - b2) * g * g
                    updates.append(lr * (ms[i] / (1 - b1**t)) / (np.sqrt(vs[i] / (1 - b2**t)) + eps))
                i += 1
        self._apply(updates)
        self.m, self.v, self.steps, self.t = ms, vs, steps, self.t + 1

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "t": self.t}

    def _state(self) -> dict[int, dict[str, Any]]:
        return {i: {"step": self.steps[i], "exp_avg": self.m[i].copy(), "exp_avg_sq": self.v[i].copy()}
                for i in range(len(self.params)) if self.steps[i]}

    def _extra_problems(self, state: Mapping[str, Any]) -> list[str]:
        steps = [int(np.asarray(entry["step"])) for entry in state.get("state", {}).values()]
        t = state.get("t", max(steps, default=0))
        try:
            whole = np.ndim(t) == 0 and float(t) == int(t) and int(t) >= max(steps, default=0)
        except (TypeError, ValueError, OverflowError):      # a string, inf, NaN
            whole = False
        if not whole:
            return [f"t = {t!r} must be a whole number of steps, at least every parameter's step count"]
        if any(s < 1 for s in steps):
            return ["a parameter's step count must be at least 1"]
        return []

    def _load_state(self, entries: dict[int, dict[str, np.ndarray]], state: Mapping[str, Any]) -> None:
        fresh = [i not in entries for i in range(len(self.params))]
        self.steps = [0 if new else int(entries[i]["step"]) for i, new in enumerate(fresh)]
        self.m = [np.zeros_like(p.data) if new else np.array(entries[i]["exp_avg"], copy=True)
                  for i, (p, new) in enumerate(zip(self.params, fresh))]
        self.v = [np.zeros_like(p.data) if new else np.array(entries[i]["exp_avg_sq"], copy=True)
                  for i, (p, new) in enumerate(zip(self.params, fresh))]
        self.t = int(state.get("t", max(self.steps)))


def _refuse_the_method(where: str, params: Any) -> None:
    """``SGD(model.parameters)``: say to call it."""
    if inspect.ismethod(params) and params.__name__ in ("parameters", "named_parameters"):
        name = where.split(":")[0]
        raise TypeError(
            f"{where}: got the method {params.__name__} itself, not the parameters it returns; "
            f"call it: {name}(model.parameters(), lr=...)."
        )
