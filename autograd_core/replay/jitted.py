"""``jit(f)``: trace ``f`` once per signature, then replay the straight-line program.

The signature of a call is the structure of its arguments, the shape and dtype of
each array, and the values of the static arguments. The first call with a signature
runs ``f`` on tensors under a tracer and returns what that run computed; later calls
with the same signature run the program on the arrays directly, creating no Tensor
and no Node.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import observe
from ..errors import JitError
from ..functional import is_tree, tree_leaves, tree_rebuild
from ..grad_mode import enable_grad
from ..tensor import Tensor
from .program import Program
from .trace import Tracer

_PLACEHOLDER = np.empty(0)     # stands for an output array in the output's structure

#: Tracing this many signatures of one function warns: the shapes probably keep changing.
RETRACE_WARNING = 8


def jit(f: Callable[..., Any] | None = None, *, static_argnums: int | Sequence[int] = ()) -> Any:
    """Trace ``f`` on its first call with each signature, replay the program afterwards.

    ``f`` takes arrays (or dicts, lists and tuples of them) and returns the same; it may
    call the transforms (``jit(value_and_grad(loss))``), whose backward pass is traced too.
    ``static_argnums`` names arguments that are not arrays (a flag, a layer count): their
    values are part of the signature, and a new value traces again. Use as ``jit(f)`` or
    as a decorator, ``@jit`` or ``@jit(static_argnums=1)``.

    As in ``jax.jit``, Python runs when tracing, not when replaying: a branch on a static
    argument is taken once per signature, a side effect (a print, appending to a list)
    happens when tracing, and an array captured from the enclosing scope keeps the value
    it had then. A branch on a traced value, an in-place write and ``loss.backward()``
    raise JitError. ``f`` runs once more on the second call of each signature, whose
    result is checked against the program's (a program that differs raises JitError).
    """
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums)
    return Jitted(f, static_argnums)


class Jitted:
    """A jitted function: ``self(*args)`` runs it, ``self.program(*args)`` shows its program."""

    def __init__(self, f: Callable[..., Any], static_argnums: int | Sequence[int]) -> None:
        if not callable(f):
            raise TypeError(f"jit(f): f must be callable, got {type(f).__name__}.")
        self.f = f
        self.static_argnums = frozenset(
            (static_argnums,) if isinstance(static_argnums, int) else static_argnums)
        self.programs: dict[Any, Program] = {}          # by signature
        self.__name__ = getattr(f, "__name__", type(f).__name__)
        functools.update_wrapper(self, f, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        signature, arrays = self._signature(args, kwargs)
        program = self.programs.get(signature)
        if program is None:
            return self._trace(args, signature)[1]
        if not program.checked:
            return self._checked_run(program, signature, args, arrays)
        return program.run(arrays)

    def program(self, *args: Any) -> Program:
        """The program for these arguments (traced now if their signature is new)."""
        signature, _ = self._signature(args, {})
        if signature not in self.programs:
            self._trace(args, signature)
        return self.programs[signature]

    # ------------------------------------------------------------------ signatures
    def _signature(self, args: tuple, kwargs: dict) -> tuple[Any, list[np.ndarray]]:
        if kwargs:
            raise TypeError(
                f"jit({self.__name__}): pass arguments positionally (got keyword arguments "
                f"{sorted(kwargs)}); mark the ones that are not arrays with static_argnums."
            )
        key: list[Any] = []
        arrays: list[np.ndarray] = []
        if not self.static_argnums:          # the usual case, on every call: kept short
            for index, arg in enumerate(args):
                _flatten(arg, key, arrays, self.__name__, index)
            return tuple(key), arrays
        for index in self.static_argnums:
            if not -len(args) <= index < len(args):
                raise ValueError(
                    f"jit({self.__name__}): static_argnums names argument {index}, but the call "
                    f"has {len(args)} positional argument(s)."
                )
        static = {i % len(args) for i in self.static_argnums}
        for index, arg in enumerate(args):
            if index in static:
                try:
                    hash(arg)
                except TypeError:
                    raise TypeError(
                        f"jit({self.__name__}): static argument {index} must be hashable (its value "
                        f"is part of the signature), got a {type(arg).__name__}."
                    ) from None
                key.append(("static", _static_key(arg)))
                continue
            _flatten(arg, key, arrays, self.__name__, index)
        return tuple(key), arrays

    # ------------------------------------------------------------------ checking
    def _checked_run(self, program: Program, signature: Any, args: tuple, arrays: list) -> Any:
        """The first replay of a program, checked against running ``f`` on the same arguments.

        The tracer sees what the engine's operations compute. An array that code makes some
        other way from a traced value (numpy on ``tensor.data``, a custom Function's state)
        reaches the program as a constant, holding the traced call's value. Running ``f``
        once more, on the first call with new arguments, catches that before any wrong
        number is returned.
        """
        result = program.run(arrays)
        # f as a user calls it: tensors that do not require grad, so that the transforms run
        # their usual backward on arrays, the rules the program calls, in the same order.
        expected = self.f(*self._tensors(args, lambda array: None, traced=False))
        for (path, got), (_, wanted) in zip(tree_leaves(result), tree_leaves(expected)):
            wanted = np.asarray(wanted.data if isinstance(wanted, Tensor) else wanted)
            if not _same(np.asarray(got), wanted):
                del self.programs[signature]
                where = f" for output{path}" if path else ""
                raise JitError(
                    f"jit({self.__name__}): the program traced on the first call gives {_short(got)}"
                    f"{where} on these arguments, but {self.__name__} itself gives "
                    f"{_short(wanted)}. {self.__name__} computes with values that jit cannot see: "
                    "an array made with numpy from a tensor's values (tensor.data, .tolist(), "
                    "argmax), a custom Function that keeps state on ctx, random numbers. The "
                    "program would keep the first call's values, so it is dropped; call "
                    f"{self.__name__} without jit, or compute with tensor operations."
                )
        program.checked = True
        return result

    # ------------------------------------------------------------------ tracing
    def _tensors(self, args: tuple, register: Callable[[np.ndarray], Any], traced: bool = True) -> list:
        """The arguments as ``f`` receives them: each array a Tensor of its own."""
        static = {i % len(args) for i in self.static_argnums}
        call_args = []
        for index, arg in enumerate(args):
            if index in static:
                call_args.append(arg)
                continue
            tensors = []
            for path, leaf in tree_leaves(arg):
                # A view: the same memory, but an object of its own, so that an array passed
                # twice (or also captured by f) is two inputs of the program, not one.
                array = _array(leaf, f"argument {index}{path}").view()
                # Floating-point inputs require grad, so that the transforms inside f record
                # their backward pass as operations the tracer sees (as for an outer transform).
                tensor = Tensor(array, requires_grad=traced and array.dtype.kind == "f")
                register(tensor.data)
                tensors.append(tensor)
            call_args.append(tree_rebuild(arg, iter(tensors)))
        return call_args

    def _trace(self, args: tuple, signature: Any) -> tuple[Program, Any]:
        tracer = Tracer()
        call_args = self._tensors(args, tracer.add_input)
        with observe.observing(tracer), enable_grad():
            out = self.f(*call_args)
        leaves = tree_leaves(out)
        refs = [tracer.ref(leaf.data if isinstance(leaf, Tensor) else leaf) for _, leaf in leaves]
        # The output's structure, with placeholders for its arrays (not the traced tensors,
        # which would keep the whole trace alive).
        skeleton = tree_rebuild(out, iter([_PLACEHOLDER] * len(leaves)))
        program = Program(tracer, refs, skeleton, self.__name__)
        self.programs[signature] = program
        if len(self.programs) == RETRACE_WARNING:
            warnings.warn(
                f"jit({self.__name__}) has traced {RETRACE_WARNING} signatures: every new shape, "
                "dtype or static value traces again. Give it arrays of one shape (pad the last "
                "batch, or drop it) to replay one program.", stacklevel=3)
        # This call's result: what the trace computed, returned as the program returns it.
        values = []
        for position, ref in enumerate(refs):
            value = tracer.values[ref] if isinstance(ref, int) else ref.value
            if value is not None:
                value = np.array(value) if position in program.copied else np.asarray(value)
            values.append(value)
        return program, tree_rebuild(skeleton, iter(values))


def _static_key(value: Any) -> Any:
    """A static argument with its type, inside tuples too: 200 and 200.0 (or True and 1) are
    equal and hash alike, but compute differently."""
    if type(value) is tuple:
        return tuple(_static_key(item) for item in value)
    return (type(value), value)


def _same(got: np.ndarray, wanted: np.ndarray) -> bool:
    """The program's output and f's agree: same shape, and the same values up to rounding
    (1e-9 of the array's largest value: a fused product may round differently, an array
    baked in from the traced call is off by far more), NaN where f gives NaN."""
    if got.shape != wanted.shape:
        return False
    if got.dtype.kind not in "fc" or wanted.dtype.kind not in "fc":
        return bool(np.array_equal(got, wanted))
    finite = wanted[np.isfinite(wanted)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    return bool(np.allclose(got, wanted, rtol=1e-9, atol=1e-9 * scale, equal_nan=True))


def _short(value: Any) -> str:
    return np.array2string(np.asarray(value), threshold=6, edgeitems=2, precision=6)


def _flatten(value: Any, key: list, arrays: list, name: str, index: int) -> None:
    """Append ``value``'s arrays to ``arrays`` and its structure, shapes and dtypes to ``key``,
    in ``tree_leaves`` order. Run on every call, so the usual case (an array) comes first and
    paths are spelled out only in an error message."""
    if type(value) is np.ndarray:
        arrays.append(value)
        key.append((value.shape, value.dtype))
    elif isinstance(value, dict):
        key.append((type(value), tuple(value)))
        for item in value.values():
            _flatten(item, key, arrays, name, index)
    elif isinstance(value, (list, tuple)) and is_tree(value):
        key.append((type(value), len(value)))
        for item in value:
            _flatten(item, key, arrays, name, index)
    else:
        label = f"jit({name}): argument {index}"
        try:
            array = _array(value, label)
        except (TypeError, JitError):
            # Name the leaf by its path (argument 1['layers.0.W']) for the error message.
            for path, leaf in tree_leaves(value):
                _array(leaf, f"{label}{path}")
            raise
        arrays.append(array)
        key.append((array.shape, array.dtype))


def _array(leaf: Any, label: str) -> np.ndarray:
    if isinstance(leaf, Tensor):
        if leaf.requires_grad and observe.is_tracing():
            raise JitError(
                f"{label} is a traced tensor: a jitted function called inside another one that jit "
                "is tracing. Call the plain function there (its operations become part of the "
                "outer program)."
            )
        if leaf.requires_grad:
            raise JitError(
                f"{label} is a tensor that requires grad; a jitted function returns arrays and "
                "records nothing on the caller's graph. Pass leaf.data, and differentiate inside "
                "the jitted function (jit(grad(f)))."
            )
        leaf = leaf.data
    array = np.asarray(leaf)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{label} has dtype {array.dtype}; jit takes arrays of numbers.")
    return array
