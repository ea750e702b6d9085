"""``jit``: trace a function once, replay it as a straight-line program on numpy arrays (this package).

- ``trace.py``: running the function under an observer, one ``Step`` per operation;
- ``program.py``: the steps the outputs need, written as a Python function;
- ``jitted.py``: ``jit`` itself, a program per signature.
"""

from .jitted import Jitted, jit
from .program import Program

__all__ = ["Jitted", "Program", "jit"]
