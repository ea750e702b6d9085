"""Every ```python example in README.md and docs/*.md runs.

Each file's blocks run in order in one fresh namespace (a page builds on its earlier
examples), from a temporary working directory. A block fenced as ```python no-run is
shown but not executed (install commands, examples that need data or a display). A
failing block fails the test with the file, the block's number and its first line;
the traceback points at the line in the Markdown file.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from pathlib import Path

import pytest

import autograd_core

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")], key=str)
PAGES = [page for page in PAGES if page.exists()]

# An opening fence: up to three spaces, three or more backticks, then the info string.
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,})\s*(?P<info>[^`]*)$")


@dataclasses.dataclass
class Block:
    number: int        # 1-based, counting every fenced block of the file
    line: int          # line of the first line of code (1-based)
    info: str          # "python", "python no-run", "bash no-run", ...
    code: str

    @property
    def runs(self) -> bool:
        words = self.info.split()
        return bool(words) and words[0] == "python" and "no-run" not in words[1:]


def fenced_blocks(text: str) -> list[Block]:
    """All fenced code blocks of a Markdown text, in order."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening.group("fence")
        start = index + 1
        end = start
        while end < len(lines) and not re.match(rf"^ {{0,3}}{fence}`*\s*$", lines[end]):
            end += 1
        blocks.append(Block(len(blocks) + 1, start + 1, opening.group("info").strip(),
                            "\n".join(lines[start:end]) + "\n"))
        index = end + 1
    return blocks


def run_page(path: Path) -> int:
    """Run the page's python blocks in one namespace; returns how many ran."""
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    ran = 0
    for block in fenced_blocks(path.read_text(encoding="utf-8")):
        if not block.runs:
            continue
        try:
            # Pad with newlines so that tracebacks give the line number in the Markdown file.
            exec(compile("\n" * (block.line - 1) + block.code, str(path), "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001  (report any failure, SystemExit included)
            first = block.code.strip().splitlines()[0] if block.code.strip() else ""
            details = "".join(traceback.format_exception(exc)[1:])
            pytest.fail(
                f"{path.name}: python block {block.number} (line {block.line}, starting "
                f"{first!r}) raised {type(exc).__name__}: {exc}\n{details}",
                pytrace=False,
            )
        ran += 1
    return ran


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Run examples from a scratch directory, headless, and restore the grad mode after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    enabled = autograd_core.is_grad_enabled()
    yield tmp_path
    autograd_core.set_grad_enabled(enabled)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_documentation_examples_run(page, isolated):
    run_page(page)


def test_readme_has_examples_that_run(isolated):
    assert run_page(ROOT / "README.md") >= 1


# ------------------------------------------------------------ the runner itself
PAGE = """# Title

```python
x = 2
```

Some text with an inline ```python mention that is not a fence.

```python no-run
raise RuntimeError("never executed")
```

```bash
echo not python
```

````python
y = x * 3      # the namespace carries over from block 1
fence_in_a_string = '''
```
'''
````
"""


def test_fenced_blocks_are_found_with_their_lines_and_options(tmp_path):
    blocks = fenced_blocks(PAGE)
    assert [(b.number, b.line, b.info, b.runs) for b in blocks] == [
        (1, 4, "python", True), (2, 10, "python no-run", False), (3, 14, "bash", False),
        (4, 18, "python", True),
    ]
    assert "fence_in_a_string" in blocks[3].code
    page = tmp_path / "page.md"
    page.write_text(PAGE.replace("fence_in_a_string =", "assert y == 6\nfence_in_a_string ="))
    assert run_page(page) == 2


def test_a_failing_block_fails_naming_the_file_block_and_line(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("intro\n\n```python\nx = 1\n```\n\n"
                    "```python\nvalue = 1\nraise ValueError('bad example')\n```\n")
    with pytest.raises(pytest.fail.Exception) as info:
        run_page(page)
    message = str(info.value)
    assert "broken.md: python block 2 (line 8" in message and "bad example" in message
    assert "line 9" in message   # the traceback points at the Markdown line


def test_a_syntax_error_is_reported_the_same_way(tmp_path):
    page = tmp_path / "typo.md"
    page.write_text("```python\nprint('ok'\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"typo.md: python block 1 \(line 2"):
        run_page(page)
