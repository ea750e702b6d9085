"""The notebook tutorial (docs/tutorial-bp1-bp4.ipynb) runs, and its saved outputs are current.

The notebook's cells hold their own checks (``assert``s comparing BP1–BP4 by hand with
the engine), so executing it without an error is the test of its claims. The site shows
the outputs saved in the file (mkdocs-jupyter does not execute it), so the file must be
saved with the outputs of every code cell, and the printed ones must be what a fresh run
prints: a notebook edited without re-running fails here.

After editing the notebook, save it with fresh outputs:

    python tests/test_notebook.py
"""

from __future__ import annotations

import copy
from pathlib import Path

from conftest import require

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "tutorial-bp1-bp4.ipynb"
TIMEOUT_S = 300


def execute(notebook, workdir: Path):
    """``notebook`` run top to bottom in a fresh Python kernel from ``workdir``; raises on a failing cell."""
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


def printed(cell) -> list[str]:
    """What a code cell printed (its stream outputs), in order."""
    return [output["text"] for output in cell.get("outputs", []) if output["output_type"] == "stream"]


def test_the_notebook_runs_and_its_saved_outputs_are_current(tmp_path):
    nbformat = require("nbformat", "executing the notebook tutorial (pip install -e '.[dev]')")
    require("nbclient", "executing the notebook tutorial (pip install -e '.[dev]')")
    require("ipykernel", "the notebook's Python kernel (pip install -e '.[dev]')")
    require("dot", "the notebook draws diagrams with Graphviz (apt-get install graphviz)")

    saved = nbformat.read(NOTEBOOK, as_version=4)
    fresh = execute(copy.deepcopy(saved), tmp_path)      # a failing assert in a cell raises here

    code = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    unexecuted = [n for n, cell in enumerate(code) if cell.get("execution_count") is None]
    assert not unexecuted, f"code cells {unexecuted} were saved without running: run python {__file__}"
    diagrams = [cell for cell in code if "draw(" in cell.source]
    assert diagrams and all(any("image/svg+xml" in output.get("data", {}) for output in cell.outputs)
                            for cell in diagrams), "every draw(...) cell must be saved with its diagram"
    for number, (old, new) in enumerate(zip(code, (c for c in fresh.cells if c.cell_type == "code"))):
        assert printed(old) == printed(new), (
            f"code cell {number} prints something else than its saved output; run python {__file__}")


if __name__ == "__main__":
    import tempfile

    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        execute(notebook, Path(folder))
    nbformat.write(notebook, NOTEBOOK)
    print(f"{NOTEBOOK}: executed and saved with its outputs")
