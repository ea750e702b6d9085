"""Regenerate every picture of the documentation site: ``python docs/figures/make_all.py [OUT_DIR]``.

Every picture on the site is produced from the library by a script in this folder; none is
drawn by hand. The contract, for anyone who adds a picture:

- A module ``docs/figures/fig_<topic>.py`` defines ``make(out_dir: pathlib.Path) -> list[pathlib.Path]``.
  It writes its files into ``out_dir`` (which exists), under names unique across the site
  (start them with the topic: ``training-curves.png``), and returns the paths it wrote.
- It imports the library and its optional tools (graphviz, matplotlib, scikit-learn) and
  nothing else that the ``docs`` extra of pyproject.toml does not install; it needs no network
  and no data outside the repository, is deterministic (seeded), and takes seconds, not minutes.
- Pages refer to a picture by its path under the site's generated folder:
  ``![caption](generated/training-curves.png)`` from ``docs/<page>.md``.

``make_all`` imports every ``fig_*.py`` module in this folder, in name order, and calls its
``make``. The default ``OUT_DIR`` is ``docs/generated/`` (ignored by git); ``mkdocs build``
runs this same function from ``docs/hooks/figures.py``, so a build from a clean clone has
every picture. A module that raises stops the build, naming the module.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "generated"


def figure_modules() -> list[Path]:
    """The ``fig_*.py`` files of this folder, in name order."""
    return sorted(HERE.glob("fig_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"docs_figures_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_all(out_dir: Path = DEFAULT_OUT, verbose: bool = False) -> list[Path]:
    """Run every figure module's ``make(out_dir)``; returns every path written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in figure_modules():
        start = time.perf_counter()
        module = _load(path)
        if not callable(getattr(module, "make", None)):
            raise RuntimeError(f"{path}: a figure module must define make(out_dir) (see make_all.py)")
        try:
            paths = [Path(p) for p in module.make(out_dir)]
        except Exception as exc:
            raise RuntimeError(f"{path.name}: make({out_dir}) failed: {exc}") from exc
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise RuntimeError(f"{path.name}: make() returned files it did not write: {missing}")
        written += paths
        if verbose:
            print(f"{path.name}: {len(paths)} file(s) in {time.perf_counter() - start:.1f} s")
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    files = make_all(target, verbose=True)
    print(f"{len(files)} file(s) in {target}")
