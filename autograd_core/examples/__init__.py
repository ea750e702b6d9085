"""Worked examples built only on the public API of autograd_core (run them, read them)."""
