"""The diagrams of the site, each made by running the examples of the page that shows it.

``docs/quickstart.md`` and ``docs/drawing.md`` render their diagrams themselves
(``diagram.render("nielsen", format="svg")``, ``animate_backward(loss, "step-through.html")``):
this module runs each page's ```python blocks, in order, in a scratch folder, as the tests
do, and keeps the files they wrote. So the code a reader sees is the code that drew the
picture beside it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
# A block that runs: fenced exactly as ```python (```python no-run is shown, not run).
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)

#: page -> {file its examples write: the name it gets on the site}
PICTURES = {
    "quickstart.md": {"first-model.svg": "quickstart-first-model.svg"},
    "drawing.md": {
        "nielsen.svg": "drawing-nielsen.svg",
        "nielsen-bp.svg": "drawing-nielsen-bp.svg",
        "nielsen-collapsed.svg": "drawing-nielsen-collapsed.svg",
        "step-through.html": "step-through.html",
    },
}


def run_page_examples(page: Path, keep: dict[str, str], out_dir: Path) -> list[Path]:
    """Run ``page``'s python blocks in a scratch folder; copy the files named in ``keep``."""
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for code in PYTHON_BLOCK.findall(page.read_text(encoding="utf-8")):
                    exec(compile(code, str(page), "exec"), namespace)
            missing = [name for name in keep if not Path(name).exists()]
            if missing:
                raise RuntimeError(f"{page.name}: its examples did not write {missing}")
            return [Path(shutil.copy(name, out_dir / site_name)) for name, site_name in keep.items()]
        finally:
            os.chdir(cwd)


def make(out_dir: Path) -> list[Path]:
    written = []
    for page, keep in PICTURES.items():
        written += run_page_examples(DOCS / page, keep, out_dir)
    return written
