"""An optimizer's or a schedule's ``state_dict()`` as flat named arrays, for ``.npz`` checkpoints.

``Module.save(path, optimizer=opt)`` stores the model's arrays under their own names
(``layers.0.W``) and the optimizer's nested state under names that say where each value
sits, separated by ``/``, which no parameter name contains::

    {"state": {0: {"momentum_buffer": v}}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
    -> "optimizer/state/0/momentum_buffer", "optimizer/param_groups/[0]/lr",
       "optimizer/param_groups/[0]/params"

A dict's key is one segment (an integer key its digits); a list of dicts has items
``[0]``, ``[1]``...; a list of numbers is one array; an empty dict or list is a segment
``{}`` or ``[]`` holding an empty array. ``unflatten`` reverses it: a 0-d array comes back
as a Python number (or string), any other array as an array. Everything is a plain
numeric or text array, so loading needs no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

SEP = "/"


def flatten(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """``tree`` (nested dicts and lists of numbers, strings and arrays) as {name: array}."""
    if isinstance(tree, Mapping):
        if not tree:
            return {f"{prefix}{SEP}{{}}": np.zeros(0)}
        flat: dict[str, np.ndarray] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{SEP}{_segment(key, prefix)}"))
        return flat
    if isinstance(tree, (list, tuple)):
        if not tree:
            return {f"{prefix}{SEP}[]": np.zeros(0)}
        if all(isinstance(item, (bool, int, float, np.number)) for item in tree):
            return {prefix: np.asarray(tree)}
        flat = {}
        for index, item in enumerate(tree):
            flat.update(flatten(item, f"{prefix}{SEP}[{index}]"))
        return flat
    array = np.asarray(tree)
    if array.dtype.kind not in "biufU":
        raise TypeError(f"checkpoint: {prefix} is a {type(tree).__name__}; a checkpoint holds numbers, "
                        "strings and numeric arrays only.")
    return {prefix: array}


def unflatten(arrays: Mapping[str, np.ndarray], prefix: str) -> Any:
    """The tree that ``flatten(tree, prefix)`` wrote into ``arrays``; None if it holds none."""
    leaves = {tuple(name.split(SEP)[1:]): value for name, value in arrays.items()
              if name.split(SEP)[0] == prefix}
    return _build(leaves) if leaves else None


def _segment(key: Any, where: str) -> str:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return str(int(key))
    if (not isinstance(key, str) or not key or SEP in key or key.isdigit() or key[0] in "[{"):
        raise TypeError(f"checkpoint: key {key!r} in {where} cannot be a name in a checkpoint; use "
                        f"integers, or strings without {SEP!r} that are not digits.")
    return key


def _build(leaves: dict[tuple[str, ...], np.ndarray]) -> Any:
    if () in leaves:
        value = np.asarray(leaves[()])
        return value.item() if value.ndim == 0 else value
    children: dict[str, dict[tuple[str, ...], np.ndarray]] = {}
    for path, value in leaves.items():
        children.setdefault(path[0], {})[path[1:]] = value
    if list(children) == ["{}"]:
        return {}
    if list(children) == ["[]"]:
        return []
    if all(key.startswith("[") for key in children):
        return [_build(children[f"[{index}]"]) for index in range(len(children))]
    return {(int(key) if key.isdigit() else key): _build(value) for key, value in children.items()}
