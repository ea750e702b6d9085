"""MkDocs hook: the rules table of docs/engine.md, written from the registry at build time.

A page asks for a table with a marker line, replaced by an HTML table of every primitive in
that registry, one row each: its name, its inputs, the forward formula, each input's VJP,
and the values each rule keeps for the backward pass (its ``saves``):

- ``<!-- rules table: autograd_core -->``: the engine's ``autograd_core.PRIMITIVES``;
- ``<!-- rules table: nn.fused -->``: nn's fused primitives, ``nn.fused.FUSED``.

The table is built from the same objects the engine runs, so it cannot drift from them.
"""

from __future__ import annotations

import html
import re

MARKER = re.compile(r"^<!-- rules table: (?P<registry>[\w.]+) -->$", re.MULTILINE)


def registry(name: str) -> dict:
    """The table of primitives called ``name`` in a marker."""
    if name == "autograd_core":
        import autograd_core
        return autograd_core.PRIMITIVES
    if name == "nn.fused":
        from nn import fused
        return fused.FUSED
    raise ValueError(f"rules table: unknown registry {name!r}; use 'autograd_core' or 'nn.fused'")


def _split(formula: str) -> tuple[str, str]:
    """``"z = x + y;  x̄ = g,  ȳ = g"`` -> the forward, and the rules."""
    forward, _, rules = formula.partition(";")
    return forward.strip(), rules.strip()


def _saves(primitive) -> str:
    """What each input's rule keeps, one line per input: ``x̄ reads y``."""
    if primitive.variadic:
        names = [f"each {primitive.input_names[0]}ᵢ"] if primitive.input_names else ["each input"]
    else:
        names = list(primitive.input_names)
    lines = []
    for name, each in zip(names, primitive.rules):
        if each is None:
            lines.append(f"{name}: not differentiable")
        else:
            lines.append(f"{name}: {', '.join(each.saves) if each.saves else 'nothing'}")
    return "<br>".join(html.escape(line) for line in lines)


def rules_table(primitives: dict) -> str:
    """An HTML table with one row per primitive (row id ``rule-<name>``)."""
    rows = []
    for name, primitive in primitives.items():
        forward, rules = _split(primitive.formula)
        why = f"<br><em>Why a primitive:</em> {html.escape(primitive.why)}" if primitive.why else ""
        rows.append(
            f'<tr id="rule-{html.escape(name)}"><td><code>{html.escape(name)}</code></td>'
            f"<td>{html.escape(forward)}</td><td>{html.escape(rules)}{why}</td>"
            f"<td>{_saves(primitive)}</td></tr>"
        )
    return ("<table>\n<thead><tr><th>primitive</th><th>forward</th><th>vector-Jacobian products</th>"
            "<th>kept for backward, per input</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>")


def expand(markdown: str) -> str:
    """``markdown`` with every marker replaced by its table."""
    return MARKER.sub(lambda match: rules_table(registry(match.group("registry"))), markdown)


def on_page_markdown(markdown: str, **kwargs) -> str:
    return expand(markdown)
