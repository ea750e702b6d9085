"""``Sequential``, ``Dense`` and ``Flatten``: Nielsen's network as modules.

Nielsen writes one example as a column: z^l = W^l a^{l-1} + b^l with W^l of shape
(out, in), so w^l_{jk} connects input k to neuron j. We keep W's shape (out, in) and
his indices, but take a mini-batch as rows, X of shape (batch, in), so the same
equation transposed reads Z = X Wᵀ + b (b broadcast over the rows). One example may be
given as a vector x of shape (in,): z = x Wᵀ + b of shape (out,), exactly the row a
batch of one would give, and every cost reads a 1-D output as that one example.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from autograd_core import Tensor

from . import fused as _fused
from .module import Module, Parameter, repr_with_children


class Sequential(Module):
    """Apply ``layers`` in order: ``Sequential(Dense(2, 3), Sigmoid())(x)``."""

    def __init__(self, *layers: Module) -> None:
        for position, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: argument {position} is a {type(layer).__name__}, not a Module; "
                    "pass layers such as nn.Dense(784, 30) or nn.Sigmoid()."
                )
        self.layers = list(layers)
        for path, module in self.named_modules():
            module._path = path
        self.parameters()  # gives every parameter tensor its dotted name

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        """A layer, or for a slice (``model[2:4]``) a Sequential of those same layer objects,
        as in PyTorch: training the part trains the whole. The layers and their parameters
        keep the names they have in the whole model (``layers.2.W``), which diagrams and
        error messages show; the part's own ``named_parameters()`` counts from 0."""
        if isinstance(index, slice):
            part = Sequential.__new__(Sequential)      # not __init__: it would rename them
            part.layers = self.layers[index]
            return part
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        return repr_with_children("Sequential", [(str(i), layer) for i, layer in enumerate(self.layers)])


class Dense(Module):
    """z = x Wᵀ + b, W of shape (out_features, in_features), b of shape (out_features,).

    ``init="default"``: W ~ N(0, 1)/√in, b ~ N(0, 1) (network2.py's default);
    ``init="large"``: W, b ~ N(0, 1) (network.py, chapter 1). ``seed`` makes it repeatable.

    By default z is the engine expression ``x @ W.T + b``: a ``transpose``, a ``matmul``
    and an ``add``, whose general rules produce BP2–BP4 (see docs/nn.md).
    ``fused=True`` records one ``dense`` node instead (``nn/fused.py``), an opt-in for
    speed with the same values and gradients. ``fused`` may be changed at any time.
    """

    def __init__(self, in_features: int, out_features: int, init: str = "default",
                 seed: int | None = None, fused: bool = False) -> None:
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Dense: sizes must be positive, got in={in_features}, out={out_features}")
        if init not in ("default", "large"):
            raise ValueError(f"Dense: init must be 'default' or 'large', got {init!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.fused = bool(fused)
        rng = np.random.default_rng(seed)
        scale = 1.0 / np.sqrt(in_features) if init == "default" else 1.0
        self.W = Parameter(rng.standard_normal((out_features, in_features)) * scale, name="W", decay=True)
        self.b = Parameter(rng.standard_normal(out_features), name="b")
        self._path = ""
        self._delta_sink = None  # (Deltas, name) inside Module.record_deltas()

    def forward(self, x: Any) -> Tensor:
        data = x.data if isinstance(x, Tensor) else x
        # An ndarray's own .shape: np.shape's dispatch costs twice as much, on every call.
        shape = data.shape if type(data) is np.ndarray else np.shape(data)
        if not shape or shape[-1] != self.in_features:
            where = f" '{self._path}'" if self._path else ""
            raise ValueError(
                f"Dense{where} ({self.in_features} → {self.out_features}): input has shape {shape}, "
                f"but its last axis must have {self.in_features} features (batch as rows: "
                f"(batch, {self.in_features}), or ({self.in_features},) for one example). Check the "
                "previous layer's out_features or the data."
            )
        if self.fused:
            z = _fused.dense(x, self.W, self.b)  # one node whose rules are BP2–BP4 by hand
        else:
            z = x @ self.W.T + self.b            # BP2–BP4: the rules of matmul, transpose, add
        if self._delta_sink is not None and z._node is not None:
            deltas, name = self._delta_sink     # inside Module.record_deltas(): one more use
            z.register_hook(deltas.hook_for_call(name))
        return z

    def __repr__(self) -> str:
        flag = ", fused=True" if self.fused else ""
        return f"Dense({self.in_features}, {self.out_features}{flag})"


class Flatten(Module):
    """(batch, d₁, d₂, ...) → (batch, d₁·d₂·...): axes ``start_axis`` to ``end_axis`` folded
    into one, as ``torch.nn.Flatten`` (axis 0 is the batch, so it is kept by default).

    A recorded reshape (``Tensor.flatten``), so gradients flow back in the input's shape.
    An input with no axis after ``start_axis`` (a 1-D example) is returned unchanged.
    """

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        self.start_axis = int(start_axis)
        self.end_axis = int(end_axis)

    def forward(self, x: Any) -> Any:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim <= self.start_axis:
            return x
        return x.flatten(self.start_axis, self.end_axis)

    def __repr__(self) -> str:
        if (self.start_axis, self.end_axis) == (1, -1):
            return "Flatten()"
        return f"Flatten(start_axis={self.start_axis}, end_axis={self.end_axis})"
