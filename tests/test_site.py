"""The documentation site: the rules table is complete, every picture is made by the figure
script, and the strict build is a link checker (a broken link or anchor fails it).

The build itself is ``mkdocs build --strict`` (the ``docs`` extra); .ci/run runs it on a
clean clone. These tests check its parts, and that the checker catches what it must.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

import autograd_core

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"site_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rules_table = _module(DOCS / "hooks" / "rules_table.py")


# ------------------------------------------------------------ the rules table
def _rows(table: str) -> list[str]:
    return re.findall(r'<tr id="rule-([^"]+)">', table)


def test_the_rules_table_lists_every_primitive_of_the_registry_in_order():
    table = rules_table.expand("<!-- rules table: autograd_core -->")
    assert _rows(table) == list(autograd_core.PRIMITIVES)
    for name, primitive in autograd_core.PRIMITIVES.items():
        row = table.split(f'<tr id="rule-{name}">')[1].split("</tr>")[0]
        forward = primitive.formula.partition(";")[0].strip()
        assert rules_table.html.escape(forward) in row, name
        for each in primitive.rules:
            for saved in each.saves if each is not None else ():
                assert saved in row, (name, saved)


def test_the_fused_table_lists_every_fused_primitive():
    from nn import fused

    assert _rows(rules_table.expand("<!-- rules table: nn.fused -->")) == list(fused.FUSED)


def test_a_rule_added_to_the_registry_appears_in_the_table(monkeypatch):
    extra = autograd_core.Primitive(lambda x: x, "identity_for_test", "z = x;  x̄ = g")
    extra.defvjp(autograd_core.rule(lambda g, out, x: g))
    monkeypatch.setitem(autograd_core.PRIMITIVES, "identity_for_test", extra)
    assert "identity_for_test" in _rows(rules_table.expand("<!-- rules table: autograd_core -->"))


def test_the_engine_page_shows_the_generated_tables():
    page = (DOCS / "engine.md").read_text(encoding="utf-8")
    assert "<!-- rules table: autograd_core -->" in page.splitlines()
    assert "<!-- rules table: nn.fused -->" in page.splitlines()


def test_an_unknown_registry_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'nothing'"):
        rules_table.expand("<!-- rules table: nothing -->")


# ------------------------------------------------------------ the pictures
def test_the_figure_script_makes_every_picture_the_pages_show(tmp_path):
    require("graphviz", "the diagrams need the graphviz package (the docs extra)")
    require("dot", "the diagrams are rendered by Graphviz's dot program")
    require("matplotlib", "the training plots need matplotlib (the docs extra)")
    require("sklearn", "the training plots train on scikit-learn's digits (the docs extra)")
    make_all = _module(DOCS / "figures" / "make_all.py")
    written = make_all.make_all(tmp_path)
    assert written and all(path.parent == tmp_path and path.stat().st_size > 0 for path in written)
    names = {path.name for path in written}
    assert len(names) == len(written), "two figure modules wrote the same file name"
    shown = set()
    for page in DOCS.rglob("*.md"):
        shown |= set(re.findall(r"generated/([\w.-]+)", page.read_text(encoding="utf-8")))
    assert shown, "no page shows a generated picture"
    assert shown <= names, f"pages show pictures that no figure module makes: {sorted(shown - names)}"
    step_through = (tmp_path / "step-through.html").read_text(encoding="utf-8")
    assert "<svg" in step_through and "BP1" in step_through


# ------------------------------------------------------------ the navigation and the link checker
def _nav_files() -> list[str]:
    nav = CONFIG.split("\nnav:\n")[1].split("\n\n")[0]
    return re.findall(r":\s+(\S+\.(?:md|ipynb))\s*$", nav, re.MULTILINE)


def test_every_page_is_in_the_navigation_once():
    listed = _nav_files()
    assert len(listed) == len(set(listed))
    pages = sorted(p.relative_to(DOCS).as_posix() for p in [*DOCS.rglob("*.md"), *DOCS.rglob("*.ipynb")]
                   if ".ipynb_checkpoints" not in p.parts)
    assert sorted(listed) == pages


def test_the_strict_build_checks_links_and_anchors():
    validation = CONFIG.split("\nvalidation:\n")[1].split("\n\n")[0]
    for setting in ("not_found", "anchors", "unrecognized_links", "omitted_files"):
        assert re.search(rf"^\s+{setting}: warn$", validation, re.MULTILINE), setting
    assert "\nstrict: true\n" in CONFIG


def _tiny_site(folder: Path, link: str) -> subprocess.CompletedProcess:
    """Build a two-page site with the project's validation settings and ``link`` on page a."""
    validation = CONFIG.split("\nvalidation:\n")[1].split("\n\n")[0]
    (folder / "docs").mkdir()
    (folder / "docs" / "a.md").write_text(f"# A\n\nSee [b]({link}).\n")
    (folder / "docs" / "b.md").write_text("# B\n\n## Present section\n\ntext\n")
    (folder / "mkdocs.yml").write_text("site_name: tiny\nnav:\n  - a.md\n  - b.md\nvalidation:\n" + validation
                                       + "\n")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=folder,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("link, problem", [
    ("b.md#missing-section", "anchor '#missing-section'"),
    ("c.md", "'c.md'"),
])
def test_the_strict_build_fails_on_a_broken_link_or_anchor(tmp_path, link, problem):
    require("mkdocs", "the site is built by mkdocs (the docs extra)")
    result = _tiny_site(tmp_path, link)
    assert result.returncode != 0, result.stdout + result.stderr
    assert problem in result.stdout + result.stderr


def test_the_same_site_builds_when_the_anchor_exists(tmp_path):
    require("mkdocs", "the site is built by mkdocs (the docs extra)")
    result = _tiny_site(tmp_path, "b.md#present-section")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "a" / "index.html").exists()


def test_the_training_page_shows_the_commands_that_made_its_pictures():
    fig_training = _module(DOCS / "figures" / "fig_training.py")
    page = (DOCS / "training.md").read_text(encoding="utf-8")
    for name, command in fig_training.COMMANDS.items():
        assert command.format(path=name) in page, command
        assert f"(generated/{name})" in page, name


def test_the_test_suites_fence_options_are_dropped_for_the_site():
    fences = _module(DOCS / "hooks" / "fences.py")
    page = "```python no-run\nx = 1\n```\n\n````bash no-run\nls\n````\n\n```python\ny = 2\n```\n"
    expected = "```python\nx = 1\n```\n\n````bash\nls\n````\n\n```python\ny = 2\n```\n"
    assert fences.strip_options(page) == expected


def test_the_landing_page_links_the_step_through_page_directly():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "](generated/step-through.html)" in index
    pictures = _module(DOCS / "figures" / "fig_diagrams.py").PICTURES
    assert "step-through.html" in pictures["drawing.md"].values()
