"""``Module`` and ``Parameter``: the bookkeeping every layer shares.

A module's parameters are found by walking its attributes in the order they were
set: ``Parameter``s, child ``Module``s, and lists or tuples of modules (which is how
``Sequential`` keeps ``layers``). Their dotted paths (``layers.0.W``) name them in
``named_parameters()``, in checkpoints, and on the tensors themselves, so that
diagrams of the graph show ``layers.0.W`` rather than an anonymous leaf.

Checkpoints are ``.npz`` files read with ``allow_pickle=False`` (loading never runs
code), written to a temporary file in the target's directory and moved into place
with ``os.replace`` (atomic on POSIX and Windows), so a crash mid-save leaves either
the old file or the new one, never a torn one. They may hold an optimizer's and a
schedule's state too (``save(path, optimizer=opt)``; ``nn/checkpoint.py``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from autograd_core import Tensor, no_grad

from . import checkpoint


class Parameter(Tensor):
    """A leaf Tensor that requires grad and belongs to a module.

    ``decay`` says whether weight penalties (``l2_penalty``) apply to it: True for
    weights, False for biases and normalisation scales, as in Nielsen's network2.py.
    """

    __slots__ = ("decay",)

    def __init__(self, data: Any, name: str | None = None, decay: bool = False) -> None:
        array = np.asarray(data)
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        super().__init__(array, requires_grad=True, name=name)
        self.decay = decay

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


class Module:
    """Base class: subclasses set parameters and child modules as attributes and define ``forward``."""

    training = True
    #: names of attributes holding numpy arrays saved in checkpoints (running statistics)
    _buffer_names: tuple[str, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ------------------------------------------------------------------ traversal
    def _children(self) -> Iterator[tuple[str, Any]]:
        for attr, value in vars(self).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield attr, value
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                for index, child in enumerate(value):
                    yield f"{attr}.{index}", child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted path, module) for this module ("") and every module inside it, depth first.

        A module reachable by several paths (a shared layer, ``Sequential(d, act, d)``)
        is listed once, under the first path, as in PyTorch: otherwise its parameters
        would be listed twice and an optimizer would update them twice per step.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{attr}" if path else attr, value)
                        for attr, value in module._children() if isinstance(value, Module)]
            stack.extend(reversed(children))   # popped in attribute order

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), e.g. ("layers.0.W", W); also sets each tensor's name to it.

        Each parameter is listed once, under its first name, also when it is shared
        between modules (tied weights) or its module is used at several places.
        """
        seen: set[int] = set()
        for path, module in self.named_modules():
            for attr, value in module._children():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    name = f"{path}.{attr}" if path else attr
                    if value.name != name:
                        value.name = name
                    yield name, value

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for path, module in self.named_modules():
            for attr in module._buffer_names:
                yield (f"{path}.{attr}" if path else attr), getattr(module, attr)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (``.grad = None``) before the next backward."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Training mode (BatchNorm uses batch statistics); returns self."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (BatchNorm uses its running statistics); returns self."""
        return self.train(False)

    # ------------------------------------------------------------- delta^l capture
    @contextlib.contextmanager
    def record_deltas(self) -> Iterator[Deltas]:
        """Collect, during backward, the gradient at each Dense layer's weighted input z^l.

        ``deltas["layers.0"]`` is dC/dz for that layer, shape (batch, out), or (out,) for
        one example given as a vector: Nielsen's delta^l, transposed to our batch-as-rows
        layout (see ``nn.reference``)::

            with model.record_deltas() as deltas:
                cost(model(x), y).backward()

        Keys are the layers' dotted paths (``"dense"`` for a lone Dense recording
        itself). Each call of a layer inside the block while gradients are recorded is
        one *use*. A layer used once keeps its plain key. A layer used k > 1 times
        (shared weights: ``d(d(x))``, ``Sequential(d, act, d)``, or several
        forward passes in one block) has one key per use, numbered in forward order:
        ``"layers.0#0"``, ..., ``"layers.0#{k-1}"``, and its plain key is absent
        (reading it raises a KeyError naming the numbered keys). The numbering follows
        the calls, not the order backward reaches them, so it is deterministic. A use
        whose output does not reach the cost gets no entry; a second backward through
        the same use replaces its entry. Entries are copies, added as backward reaches
        them; for a shared layer BP3 reads ``b.grad == Σ_uses deltas[key].sum(axis=0)``.
        While an inner block is open (on this module or a part of it), its layers record
        there instead; when it closes, the enclosing block records them again.
        """
        deltas = Deltas()
        recorders = [(path, m) for path, m in self.named_modules() if hasattr(m, "_delta_sink")]
        previous = [m._delta_sink for _, m in recorders]
        for path, module in recorders:
            module._delta_sink = (deltas, path or type(module).__name__.lower())
        try:
            yield deltas
        finally:
            # Put back what was there: an enclosing record_deltas() block goes on recording.
            for (_, module), sink in zip(recorders, previous):
                module._delta_sink = sink

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values into the parameters and buffers, in place.

        Every name and shape is checked first (``state_problems``); on any mismatch a
        ``ValueError`` lists all of them and nothing is changed.
        """
        problems = self.state_problems(state)
        if problems:
            raise ValueError(
                f"cannot load state into {type(self).__name__}; nothing was changed. "
                + "; ".join(sorted(problems))
                + ". Build the model with the same layer sizes as the one that was saved."
            )
        values = {name: np.asarray(v.data if isinstance(v, Tensor) else v) for name, v in state.items()}
        params = dict(self.named_parameters())
        with no_grad():
            for name, target in self._state_targets().items():
                if name in params:
                    params[name][...] = values[name]  # in place: bumps the version counter
                else:
                    np.copyto(target, values[name], casting="unsafe")

    def state_problems(self, state: dict[str, Any]) -> list[str]:
        """Every mismatch between ``state`` and the model (names, shapes, dtypes); empty if it fits."""
        targets = self._state_targets()
        values = {name: np.asarray(v.data if isinstance(v, Tensor) else v) for name, v in state.items()}
        problems = [f"missing: {name} (shape {targets[name].shape})"
                    for name in targets if name not in values]
        problems += [f"unexpected: {name} (shape {values[name].shape})"
                     for name in values if name not in targets]
        for name in targets.keys() & values.keys():
            if values[name].shape != targets[name].shape:
                problems.append(f"shape mismatch: {name} is {targets[name].shape} in the model, "
                                f"{values[name].shape} in the state")
            elif values[name].dtype.kind not in "biuf":
                problems.append(f"not numeric: {name} has dtype {values[name].dtype}")
        return problems

    def _state_targets(self) -> dict[str, np.ndarray]:
        targets: dict[str, np.ndarray] = {name: p.data for name, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
        return targets

    def save(self, path: str | os.PathLike, optimizer: Any = None, schedule: Any = None) -> None:
        """Write ``state_dict()`` to ``path`` as .npz, atomically (temp file + ``os.replace``).

        With ``optimizer`` (and ``schedule``), their ``state_dict()`` goes into the same file,
        under names beginning ``optimizer/`` (``schedule/``), so that training can resume
        exactly where it stopped: ``model.load(path, optimizer=opt, schedule=schedule)``.
        """
        arrays = self.state_dict()
        for prefix, part in (("optimizer", optimizer), ("schedule", schedule)):
            if part is not None:
                arrays.update(checkpoint.flatten(part.state_dict(), prefix))
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temp)
            raise

    def load(self, path: str | os.PathLike, optimizer: Any = None, schedule: Any = None) -> None:
        """Read a checkpoint written by ``save`` (never unpickles: ``allow_pickle=False``).

        With ``optimizer`` (``schedule``), also their state, which the checkpoint must hold
        (saved with ``optimizer=``); without, the model alone is read. All parts are checked
        before any is changed: on a mismatch nothing is loaded.
        """
        loaded = np.load(os.fspath(path), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(
                f"{os.fspath(path)!r} holds a single array, not a checkpoint: Module.save writes "
                "an .npz archive of named arrays. Load the file that save() wrote."
            )
        with loaded as archive:
            arrays = {name: archive[name] for name in archive.files}
        parts = [(self, {name: value for name, value in arrays.items() if checkpoint.SEP not in name})]
        for prefix, part in (("optimizer", optimizer), ("schedule", schedule)):
            if part is None:
                continue
            state = checkpoint.unflatten(arrays, prefix)
            if state is None:
                raise ValueError(
                    f"{os.fspath(path)!r} holds no {prefix} state; it was saved without {prefix}=. "
                    f"Save with model.save(path, {prefix}={prefix}), or load without {prefix}=."
                )
            parts.append((part, state))
        for part, state in parts:
            if part.state_problems(state):
                part.load_state_dict(state)     # raises, naming every problem; nothing changed yet
        for part, state in parts:
            part.load_state_dict(state)

    def __repr__(self) -> str:
        """``Net()``, or PyTorch's layout: one line ``(attribute): child`` per child module."""
        children = [(attr, value) for attr, value in self._children() if isinstance(value, Module)]
        return repr_with_children(type(self).__name__, children)


def repr_with_children(name: str, children: list[tuple[str, Any]]) -> str:
    """``name(\n  (key): child\n  ...)`` with each child's own lines indented, as PyTorch prints."""
    if not children:
        return f"{name}()"
    lines = [f"  ({key}): " + repr(child).replace("\n", "\n  ") for key, child in children]
    return f"{name}(\n" + "\n".join(lines) + "\n)"


def functional_call(module: Module, params: Mapping[str, Any], *args: Any, strict: bool = False,
                    **kwargs: Any) -> Any:
    """``module(*args, **kwargs)`` computed with ``params`` instead of its own parameters.

    As ``torch.func.functional_call``: ``params`` maps names of ``module.named_parameters()``
    (``"layers.0.W"``) to arrays or Tensors of the same shapes. Named parameters are
    swapped in for the call and put back afterwards, also when the call raises, so the
    module is left as it was. Parameters not named keep their own values, unless
    ``strict=True``, which requires every one. A parameter shared by several modules
    (tied weights) is replaced everywhere it is used.

    This is how to differentiate a model with respect to parameters passed in, which is
    what the transforms do::

        per_example_grads(lambda p, X, Y: cost(nn.functional_call(model, p, X), Y),
                          dict(model.named_parameters()), x, y)

    Calling ``model(X)`` there instead would compute with the model's own parameters, and
    the gradients with respect to ``p`` would be zeros (the transforms raise).
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: the first argument is a {type(module).__name__}, not a Module.")
    if not isinstance(params, Mapping):
        raise TypeError(
            f"functional_call: params is a {type(params).__name__}; give a dict from parameter name to "
            "value, such as dict(model.named_parameters())."
        )
    own = dict(module.named_parameters())
    unknown = [name for name in params if name not in own]
    missing = [name for name in own if name not in params] if strict else []
    if unknown or missing:
        problems = ([f"unknown: {', '.join(map(repr, unknown))}"] if unknown else []) + \
                   ([f"missing (strict=True): {', '.join(missing)}"] if missing else [])
        raise ValueError(
            f"functional_call: the names in params do not match {type(module).__name__}'s parameters; "
            + "; ".join(problems) + f". Its parameters are {', '.join(own) or 'none'} (as named_parameters() "
            "lists them; buffers such as running statistics are not swapped)."
        )
    values = {}
    for name, value in params.items():
        tensor = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
        if tensor.shape != own[name].shape:
            raise ValueError(
                f"functional_call: params[{name!r}] has shape {tensor.shape} but the parameter has shape "
                f"{own[name].shape}; give a value of the parameter's shape."
            )
        values[id(own[name])] = tensor
    # Every place a named parameter is held: (module, attribute). A tied parameter has several.
    places = [(m, attr, value) for _, m in module.named_modules() for attr, value in m._children()
              if isinstance(value, Parameter) and id(value) in values]
    try:
        for m, attr, original in places:
            setattr(m, attr, values[id(original)])
        return module(*args, **kwargs)
    finally:
        for m, attr, original in places:
            setattr(m, attr, original)


class Deltas(dict):
    """What ``Module.record_deltas()`` yields: a dict from layer key to δ = ∂C/∂z (a copy).

    Layers call ``hook_for_call(name)`` once per recorded call; the returned hook
    stores the gradient arriving at that call's z. See ``record_deltas`` for the keys.
    """

    def __init__(self) -> None:
        super().__init__()
        self._uses: dict[str, int] = {}   # recorded calls so far, per layer name

    def hook_for_call(self, name: str) -> Callable[[Any], None]:
        """Count one more use of layer ``name``; the hook to register on that use's z."""
        index = self._uses.get(name, 0)
        self._uses[name] = index + 1
        if index == 1 and name in self:
            # The first use's δ arrived before this second call (forward, backward,
            # forward again in one block): it is a numbered use now.
            self[f"{name}#0"] = self.pop(name)

        def keep(g: Any) -> None:
            # The key is chosen when δ arrives: by then every call of this pass is counted.
            key = name if self._uses[name] == 1 else f"{name}#{index}"
            self[key] = np.array(g.data if isinstance(g, Tensor) else g, copy=True)

        return keep

    def __missing__(self, key: Any) -> Any:
        uses = self._uses.get(key, 0) if isinstance(key, str) else 0
        if uses > 1:
            numbered = ", ".join(repr(f"{key}#{i}") for i in range(uses))
            raise KeyError(
                f"{key!r} was called {uses} times inside record_deltas(), so it has one δ per "
                f"call, in forward order: {numbered}. Read those keys instead."
            )
        raise KeyError(key)
