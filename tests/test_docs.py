"""Every ```python example in README.md and docs/*.md runs, and shows what it claims.

Each file's blocks run in order in one fresh namespace (a page builds on its earlier
examples), from a temporary working directory. A block fenced as ```python no-run is
shown but not executed (install commands, examples that need data or a display). A
failing block fails the test with the file, the block's number and its first line;
the traceback points at the line in the Markdown file. ``RUNNING_BLOCKS`` says how many
blocks run on each page, so that a block retagged by mistake is noticed.

The examples are plain Python that a learner can copy; three conventions make them
fail when they are wrong:

- **``# -> text``** at the end of a line is what the statement ending on that line prints,
  all of it. It is checked: whitespace does not count (numpy pads and wraps arrays
  differently as values change), numbers compare to a relative 1e-6 (the last digit
  numpy prints may differ between machines), and ``...`` stands for any text, as in
  doctest. Any other comment is prose and is not checked.
- **An expected error** is shown with ``try: ... except SomeError as error: ... else: raise
  AssertionError(...)``: without the ``else``, the example would still pass once the
  error is no longer raised. A test scans every page for a ``try`` with an ``except``
  and no ``else``.
- **An example that shows a check** ends with an ``assert`` of its result.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import math
import re
import sys
import tokenize
import traceback
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import require_shared_mnist

import autograd_core

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")], key=str)   # subfolders too
PAGES = [page for page in PAGES if page.exists()]

# How many ```python blocks run on each page (a page missing here fails: add it).
RUNNING_BLOCKS = {
    "README.md": 3,
    "docs/api/autograd_core.md": 0,
    "docs/api/nn.md": 0,
    "docs/beyond-nielsen.md": 8,
    "docs/bp1-bp4.md": 6,
    "docs/conventions.md": 4,
    "docs/drawing.md": 7,
    "docs/engine.md": 20,
    "docs/gradient-checking.md": 3,
    "docs/index.md": 0,
    "docs/nn.md": 22,
    "docs/output-error.md": 9,
    "docs/performance.md": 0,
    "docs/quickstart.md": 5,
    "docs/scalar-loss.md": 4,
    "docs/training.md": 2,
    "docs/transforms.md": 21,
}

# Pages whose examples read the real MNIST test set beside the project (skipped without it
# locally, failed in CI, like every test that needs it).
NEEDS_SHARED_MNIST = {"docs/bp1-bp4.md"}

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


# ------------------------------------------------------------ "# -> text": what a line prints
MARKER = "# ->"

# A number as Python and numpy print it: 12, -0.5, 1., .25, 1e-10, 2.5e+03, nan, inf. It does
# not start inside a word or right after a dot ("layers.2" is text, not the number .2).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?<!\w)[-+]?(?:nan|inf)(?!\w)")


def printed_tokens(text: str) -> list:
    """``text`` as numbers (floats) and single characters, whitespace dropped."""
    tokens: list = []
    position = 0
    while position < len(text):
        number = NUMBER.match(text, position)
        if number is not None:
            tokens.append(float(number.group()))
            position = number.end()
        else:
            if not text[position].isspace():
                tokens.append(text[position])
            position += 1
    return tokens


def _same(expected: list, actual: list) -> bool:
    def equal(e, a) -> bool:
        if isinstance(e, float) and isinstance(a, float):
            return (math.isnan(e) and math.isnan(a)) or math.isclose(e, a, rel_tol=1e-6, abs_tol=1e-12)
        return e == a
    return len(expected) == len(actual) and all(equal(e, a) for e, a in zip(expected, actual))


def prints_match(expected: str, actual: str) -> bool:
    """Whether ``actual`` output reads as the comment ``expected`` (see the module docstring)."""
    first, *rest = [printed_tokens(piece) for piece in expected.split("...")]
    found = printed_tokens(actual)
    if not _same(first, found[:len(first)]):
        return False
    if not rest:
        return len(found) == len(first)
    position = len(first)
    *middle, last = rest
    for piece in middle:   # each piece at its leftmost place after the previous one
        while position + len(piece) <= len(found) and not _same(piece, found[position:position + len(piece)]):
            position += 1
        if position + len(piece) > len(found):
            return False
        position += len(piece)
    return len(found) - len(last) >= position and _same(last, found[len(found) - len(last):])


def printed_comments(code: str) -> dict[int, str]:
    """``{line: expected text}`` for every ``# -> text`` comment of ``code``."""
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT and token.string.startswith(MARKER):
            comments[token.start[0]] = token.string[len(MARKER):].strip()
    return comments


class _CapturePrints(ast.NodeTransformer):
    """Wraps each simple statement that ends on a marked line in ``with <capture>(line):``."""

    def __init__(self, capture: str, lines: set[int]):
        self.capture, self.lines, self.wrapped = capture, lines, set()

    def generic_visit(self, node):
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                setattr(node, field, [self._wrap(statement) for statement in statements])
        return node

    def _wrap(self, statement: ast.stmt) -> ast.stmt:
        compound = any(isinstance(getattr(statement, field, None), list) for field in ("body", "handlers"))
        if compound or statement.end_lineno not in self.lines:
            return statement
        self.wrapped.add(statement.end_lineno)
        call = ast.Call(ast.Name(self.capture, ast.Load()), [ast.Constant(statement.end_lineno)], [])
        return ast.copy_location(ast.With(items=[ast.withitem(call)], body=[statement]), statement)


class _Tee(io.StringIO):
    """Keeps what is written, and passes it on (pytest shows it when a test fails)."""

    def __init__(self, onward):
        super().__init__()
        self.onward = onward

    def write(self, text: str) -> int:
        self.onward.write(text)
        return super().write(text)


CAPTURE = "_docs_capture_prints"


def run_block(block: Block, path: Path, namespace: dict) -> None:
    """Run one block in ``namespace``; fail if it raises or a ``# ->`` comment is wrong."""
    # Pad with newlines so that line numbers (tracebacks, comments) are those of the Markdown file.
    source = "\n" * (block.line - 1) + block.code
    printed: dict[int, list[str]] = defaultdict(list)

    @contextlib.contextmanager
    def capture(line: int):
        with contextlib.redirect_stdout(_Tee(sys.stdout)) as tee:
            try:
                yield
            finally:
                printed[line].append(tee.getvalue())

    first = block.code.strip().splitlines()[0] if block.code.strip() else ""
    where = f"{path.name}: python block {block.number} (line {block.line}, starting {first!r})"
    try:
        expected = printed_comments(source)
        tree = ast.parse(source, str(path))
        wrapper = _CapturePrints(CAPTURE, set(expected))
        tree = ast.fix_missing_locations(wrapper.visit(tree))
        loose = sorted(set(expected) - wrapper.wrapped)
        if loose:
            pytest.fail(f"{where}: a '{MARKER}' comment must end a statement (line {loose[0]})",
                        pytrace=False)
        namespace[CAPTURE] = capture
        exec(compile(tree, str(path), "exec"), namespace)
    except pytest.fail.Exception:
        raise
    except BaseException as exc:  # noqa: BLE001  (report any failure, SystemExit included)
        details = "".join(traceback.format_exception(exc)[1:])
        pytest.fail(f"{where} raised {type(exc).__name__}: {exc}\n{details}", pytrace=False)
    finally:
        namespace.pop(CAPTURE, None)
    for line, text in sorted(expected.items()):
        actual = "".join(printed[line])
        if not prints_match(text, actual):
            pytest.fail(f"{path.name}, line {line}: the comment says it prints\n    {text}\n"
                        f"but it printed\n    {actual.strip()!r}"
                        + ("" if printed[line] else " (the statement never ran)"), pytrace=False)


def run_page(path: Path) -> int:
    """Run the page's python blocks in one namespace; returns how many ran."""
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    ran = 0
    for block in fenced_blocks(path.read_text(encoding="utf-8")):
        if block.runs:
            run_block(block, path, namespace)
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


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=[_name(p) for p in PAGES])
def test_documentation_examples_run(page, isolated):
    if _name(page) in NEEDS_SHARED_MNIST:
        require_shared_mnist()
    assert _name(page) in RUNNING_BLOCKS, f"add {_name(page)} to RUNNING_BLOCKS in {Path(__file__).name}"
    assert run_page(page) == RUNNING_BLOCKS[_name(page)], (
        f"{_name(page)}: the number of ```python blocks that run changed; if on purpose, "
        f"update RUNNING_BLOCKS in {Path(__file__).name}")


def test_every_page_is_counted():
    assert sorted(RUNNING_BLOCKS) == sorted(_name(page) for page in PAGES)
    assert RUNNING_BLOCKS["README.md"] >= 1


def _tries_without_else(path: Path) -> list[str]:
    found = []
    for block in fenced_blocks(path.read_text(encoding="utf-8")):
        if not block.runs:
            continue
        tree = ast.parse("\n" * (block.line - 1) + block.code, str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and node.handlers and not node.orelse:
                found.append(f"{path.name}, line {node.lineno}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=[_name(p) for p in PAGES])
def test_expected_errors_fail_when_missing(page):
    """An example that catches an expected error has an ``else:`` that fails without it."""
    assert _tries_without_else(page) == [], (
        "a try/except without else: add `else: raise AssertionError(\"... was not raised\")`")


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


# ------------------------------------------------------------ the "# ->" checker itself
FAKE_PAGE = """# A page with checked output

```python
import numpy as np

v = np.array([0.0, 0.0, 1.0])
print(v)                       # -> [0. 0. 1.]
print(v.sum(), 1 / 3)          # -> 1.0 0.333333333
print(np.arange(6.0).reshape(3, 2))   # -> [[0. 1.] [2. 3.] [4. 5.]]
print("a" + "b")               # ab: a prose comment, not checked
for i in range(2):
    print(i)                   # -> 0 1
try:
    {}["key"]
except KeyError as error:
    print("missing", error)    # -> missing ...
else:
    raise AssertionError("no KeyError")
print(
    "spans", "lines",
)                              # -> spans lines
```

```python
print(np.array([np.nan, 0.25]))   # -> [nan 0.25]
print("index 1 of 'mul' is at version 1; expected 0")   # -> ... 'mul' ... version 1; expected 0
```
"""


def test_printed_comments_are_checked_on_a_fake_page(tmp_path):
    page = tmp_path / "fake.md"
    page.write_text(FAKE_PAGE)
    assert run_page(page) == 2


@pytest.mark.parametrize("right, wrong", [
    ("# -> [0. 0. 1.]", "# -> [0. 1. 1.]"),
    ("# -> [0. 0. 1.]", "# -> [0. 0. 1.01]"),            # beyond the tolerance
    ("# -> [0. 0. 1.]", "# -> [0. 0.]"),                 # output missing
    ("# -> 1.0 0.333333333", "# -> 1.0"),                # a value left out, no "..."
    ("# -> [[0. 1.] [2. 3.] [4. 5.]]", "# -> [[0. 1.] [2. 3.]]"),
    ("# -> 0 1", "# -> 0"),                              # every pass of a loop counts
    ("# -> missing ...", "# -> found ..."),
    ("# -> spans lines", "# -> spans"),
    ("# -> [nan 0.25]", "# -> [0. 0.25]"),
    ("# -> ... 'mul' ... version 1; expected 0", "# -> ... 'add' ... version 1; expected 0"),
])
def test_a_wrong_printed_comment_fails(tmp_path, right, wrong):
    assert FAKE_PAGE.count(right) == 1
    page = tmp_path / "fake.md"
    page.write_text(FAKE_PAGE.replace(right, wrong))
    with pytest.raises(pytest.fail.Exception, match=r"fake.md, line \d+: the comment says it prints"):
        run_page(page)


def test_a_printed_comment_on_a_statement_that_never_runs_fails(tmp_path):
    page = tmp_path / "fake.md"
    page.write_text("```python\nif False:\n    print('x')   # -> x\n```\n")
    with pytest.raises(pytest.fail.Exception, match="never ran"):
        run_page(page)


def test_a_printed_comment_must_end_a_statement(tmp_path):
    page = tmp_path / "fake.md"
    page.write_text("```python\nprint(1,   # -> 1\n      2)\n```\n")
    with pytest.raises(pytest.fail.Exception, match="must end a statement"):
        run_page(page)


@pytest.mark.parametrize("expected, actual, match", [
    ("[0.  0.5 0.5]", "[0. 0.5 0.5]\n", True),                 # numpy's padding does not count
    ("0.1", "0.10000000000000002", True),                      # float noise
    ("0.1", "0.1001", False),
    ("[ 5. 70.]", "[5.0, 70.0]", False),                       # a list is not an array
    ("1e-10", "1.00000001e-10", True),
    ("0.0", "5.551115123125783e-17", True),                    # round-off near zero
    ("layers.2", "layers.20", False),                          # ".2" inside a name is text
    ("inf -inf nan", "inf -inf nan", True),
    ("nan", "0.0", False),
    ("a ... c", "a b b c", True),
    ("... c", "a b", False),
    ("a ... b ... c", "a c b", False),
])
def test_prints_match(expected, actual, match):
    assert prints_match(expected, actual) is match


def test_a_try_without_else_is_found(tmp_path):
    page = tmp_path / "fake.md"
    page.write_text("```python\ntry:\n    pass\nexcept KeyError as error:\n    print(error)\n```\n\n"
                    "```python\ntry:\n    {}[1]\nexcept KeyError:\n    pass\n"
                    "else:\n    raise AssertionError\n"
                    "try:\n    pass\nfinally:\n    pass\n```\n")
    assert _tries_without_else(page) == ["fake.md, line 2"]
