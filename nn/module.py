"""``Module`` and ``Parameter``: the bookkeeping every layer shares.

A module's parameters are found by walking its attributes in the order they were
set: ``Parameter``s, child ``Module``s, and lists or tuples of modules (which is how
``Sequential`` keeps ``layers``). Their dotted paths (``layers.0.W``) name them in
``named_parameters()``, in checkpoints, and on the tensors themselves, so that
diagrams of the graph show ``layers.0.W`` rather than an anonymous leaf.

Checkpoints are ``.npz`` files read with ``allow_pickle=False`` (loading never runs
code), written to a temporary file in the target's directory and moved into place
with ``os.replace`` (atomic on POSIX and Windows), so a crash mid-save leaves either
the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from autograd_core import Tensor, no_grad


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
        """(dotted path, module) for this module ("" ) and every module inside it."""
        yield prefix, self
        for attr, value in self._children():
            if isinstance(value, Module):
                yield from value.named_modules(f"{prefix}.{attr}" if prefix else attr)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), e.g. ("layers.0.W", W); also sets each tensor's name to it."""
        for path, module in self.named_modules():
            for attr, value in module._children():
                if isinstance(value, Parameter):
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
    def record_deltas(self) -> Iterator[dict[str, np.ndarray]]:
        """Collect, during backward, the gradient at each Dense layer's weighted input z^l.

        ``deltas["layers.0"]`` is dC/dz for that layer, shape (batch, out): Nielsen's
        delta^l, transposed to our batch-as-rows layout (see ``nn.reference``)::

            with model.record_deltas() as deltas:
                cost(model(x), y).backward()
        """
        deltas: dict[str, np.ndarray] = {}
        recorders = [(path, m) for path, m in self.named_modules() if hasattr(m, "_delta_sink")]
        for path, module in recorders:
            module._delta_sink = (deltas, path)
        try:
            yield deltas
        finally:
            for _, module in recorders:
                module._delta_sink = None

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values into the parameters and buffers, in place.

        Every name and shape is checked first; on any mismatch a ``ValueError`` lists
        all of them and nothing is changed.
        """
        targets: dict[str, np.ndarray] = {name: p.data for name, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
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
        if problems:
            raise ValueError(
                f"cannot load state into {type(self).__name__}; nothing was changed. "
                + "; ".join(sorted(problems))
                + ". Build the model with the same layer sizes as the one that was saved."
            )
        params = dict(self.named_parameters())
        with no_grad():
            for name, target in targets.items():
                if name in params:
                    params[name][...] = values[name]  # in place: bumps the version counter
                else:
                    np.copyto(target, values[name], casting="unsafe")

    def save(self, path: str | os.PathLike) -> None:
        """Write ``state_dict()`` to ``path`` as .npz, atomically (temp file + ``os.replace``)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **self.state_dict())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temp)
            raise

    def load(self, path: str | os.PathLike) -> None:
        """Read a checkpoint written by ``save`` (never unpickles: ``allow_pickle=False``)."""
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
        self.load_state_dict(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
