"""The markdown table: one line per (scenario, system), medians and ratios to the numpy floor."""

from __future__ import annotations

from typing import Any


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | system | median | unit | × numpy floor | note |",
             "|---|---|---:|---|---:|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "—"
        lines.append(f"| {r['scenario']} | {r['system']} | {_number(r['value'])} | {r['unit']} "
                     f"| {ratio} | {r['note']} |")
    return "\n".join(lines)
