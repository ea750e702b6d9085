"""MkDocs hook: drop the test suite's fence options before Markdown sees them.

``tests/test_docs.py`` reads ```` ```python no-run ```` as "show, do not execute". The
renderer would read ``no-run`` as part of the language and not recognise the fence at all,
so the site shows the block as ```` ```python ````: code highlighted like any other.
"""

from __future__ import annotations

import re

OPTIONS = re.compile(r"^(?P<fence> {0,3}`{3,})[ \t]*(?P<language>[\w+-]+)[ \t]+no-run[ \t]*$",
                     re.MULTILINE)


def strip_options(markdown: str) -> str:
    return OPTIONS.sub(r"\g<fence>\g<language>", markdown)


def on_page_markdown(markdown: str, **kwargs) -> str:
    return strip_options(markdown)
