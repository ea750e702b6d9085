"""What the diagram's boxes say and how they look: colours, small HTML labels, tooltips.

Graphviz draws HTML-like labels (``<B>``, ``<FONT>``) and plain-text tooltips; the
helpers here write both, escaping what the user named, so the other drawing modules
only say what goes where.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np

from .explain import Value

# Colours: one per kind of box, named in the legend.
COLOURS = {
    "parameter": "#cfe3fb",     # a leaf that requires grad: what training changes
    "constant": "#eeeeee",      # data, targets, literals: no gradient
    "tensor": "#ffffff",        # an intermediate result
    "output": "#fde7a9",        # the tensor drawn
    "operation": "#fff7e0",
    "group": "#e8e0f5",         # a collapsed layer, a folded chain, the earlier part
}
GRAD_COLOUR = "#1d5fa8"
BP_COLOUR = "#c0262d"
MUTED = "#6b6b6b"
FONT = "Helvetica"


def params_text(params: Any) -> str:
    """An operation's keyword parameters as text (``axis=1, keepdims=True``); arrays by shape."""
    parts = []
    for key, value in params.items():
        if key == "ctx" or value is None or value is False:
            continue
        text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def title_markup(name: str | None, nickname: str | None, output: bool) -> str:
    parts = []
    if name:
        parts.append(f"<B>{esc(name)}</B>")
    if nickname:
        parts.append(f"<FONT COLOR=\"{BP_COLOUR}\"><B>{esc(nickname)}</B></FONT>")
    if output and not name:
        parts.insert(0, "<B>output</B>")
    return "  ".join(parts)


def how_known(value: Value) -> str:
    return {
        "output": "values of the output",
        "leaf": "the leaf's current values",
        "kept": f"kept on the tape for {value.source}" if value.source else "kept on the tape",
        "recomputed": "recomputed by replaying the recorded forward operations (the tape did not keep it)",
    }.get(value.how, "values")


def small(text: str, colour: str, bold: bool = False, italic: bool = False) -> str:
    body = esc(text)
    if bold:
        body = f"<B>{body}</B>"
    if italic:
        body = f"<I>{body}</I>"
    return f"<FONT POINT-SIZE=\"9\" COLOR=\"{colour}\">{body}</FONT>"


def small_markup(markup: str, colour: str) -> str:
    return f"<FONT POINT-SIZE=\"9\" COLOR=\"{colour}\">{markup}</FONT>"


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def plain_text(markup: str) -> str:
    """The text of a little HTML label (for tooltips)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def dot_tooltip(text: str) -> str:
    # Graphviz reads backslash escapes in tooltips (\n, \l): write a newline as \n and keep
    # the rest literal. A tooltip is never HTML, so no <...> may reach the DOT quoting.
    return text.replace("\\", "\\\\").replace("\n", "\\n")
