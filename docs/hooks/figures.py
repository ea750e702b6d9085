"""MkDocs hook: regenerate every picture before the build collects the pages' files.

Runs ``docs/figures/make_all.py`` (every ``fig_*.py`` module's ``make``) into
``docs/generated/`` (emptied first), so ``mkdocs build --strict`` from a clean clone has all pictures and a
page that refers to a missing one fails the build. Under ``mkdocs serve`` the pictures are
made once (regenerating them on every rebuild would trigger the next rebuild).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

_command = "build"


def _make_all_module(docs_dir: Path):
    path = docs_dir / "figures" / "make_all.py"
    spec = importlib.util.spec_from_file_location("docs_figures_make_all", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_startup(command: str, dirty: bool, **kwargs) -> None:
    global _command
    _command = command


def on_pre_build(config, **kwargs) -> None:
    docs_dir = Path(config["docs_dir"])
    out_dir = docs_dir / "generated"
    if _command == "serve" and out_dir.is_dir() and any(out_dir.iterdir()):
        return
    # Emptied first: a picture that no module makes any more must not survive to hide a broken page.
    shutil.rmtree(out_dir, ignore_errors=True)
    _make_all_module(docs_dir).make_all(out_dir, verbose=True)
