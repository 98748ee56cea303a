"""Tables of metrics as text, Markdown and HTML, and the comparison report page.

One table shape everywhere: rows (a model or a baseline) x columns (metrics),
mean values, NaN shown as a dash, and rows that failed carry their reason.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

from ganforge.core.atomic import write_text

DASH = "—"


def format_value(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


@dataclass
class Table:
    """Rows of metric means, plus rows that failed (label -> reason)."""

    rows: dict[str, dict[str, float]]
    failed: dict[str, str] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    baselines: tuple[str, ...] = ()
    ideal: dict[str, float] = field(default_factory=dict)  # metrics best at a value, neither highest nor lowest

    @property
    def columns(self) -> list[str]:
        """Every metric some row has a number for (one that applies to no image is left out)."""
        seen: dict[str, None] = {}
        for values in self.rows.values():
            seen.update({name: None for name, value in values.items() if not math.isnan(value)})
        return list(seen)

    def best(self, column: str) -> str | None:
        """The non-baseline row with the best value in ``column``: the closest to its ideal value if it has one,
        else the highest or lowest by its direction."""
        candidates = {
            row: values[column] for row, values in self.rows.items()
            if row not in self.baselines and not math.isnan(values.get(column, math.nan))
        }  # fmt: skip
        if len(candidates) < 2:
            return None
        if column in self.ideal:
            return min(candidates, key=lambda row: abs(candidates[row] - self.ideal[column]))
        pick = max if self.higher_is_better.get(column, True) else min
        return pick(candidates, key=candidates.__getitem__)

    def markdown(self) -> str:
        columns = self.columns
        lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        for row, values in self.rows.items():
            cells = []
            for column in columns:
                text = format_value(values.get(column, math.nan))
                cells.append(f"**{text}**" if self.best(column) == row else text)
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        for row, reason in self.failed.items():
            lines.append(f"| {row} | failed: {reason} |" + " |" * (len(columns) - 1))
        return "\n".join(lines)

    def html(self) -> str:
        columns = self.columns
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = []
        for row, values in self.rows.items():
            css = ' class="baseline"' if row in self.baselines else ""
            cells = "".join(
                f"<td{' class=best' if self.best(c) == row else ''}>{format_value(values.get(c, math.nan))}</td>"
                for c in columns
            )
            body.append(f"<tr{css}><th>{html.escape(row)}</th>{cells}</tr>")
        for row, reason in self.failed.items():
            body.append(
                f'<tr class="failed"><th>{html.escape(row)}</th><td colspan="{len(columns)}">failed: {html.escape(reason)}</td></tr>'
            )
        return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child { text-align: left; }
tr.baseline { color: #777; font-style: italic; }
tr.failed td { color: #b00; text-align: left; }
td.best { font-weight: bold; }
img { max-width: 100%; image-rendering: pixelated; }
.missing { color: #b00; font-weight: bold; }
.curves { display: flex; flex-wrap: wrap; gap: 1em; }
.curves figure { width: 30em; margin: 0; }
dl.context { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
"""

# Marks any picture the browser could not load (e.g. the page was moved without its folder).
MISSING_IMAGE_SCRIPT = """
window.addEventListener("load", () => {
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) {
      img.insertAdjacentHTML("afterend", `<p class="missing">missing picture: ${img.getAttribute("src")}</p>`);
    }
  }
  document.body.dataset.imagesLoaded = [...document.images].filter(i => i.naturalWidth > 0).length;
});
"""


@dataclass
class Section:
    """A titled part of the report: an optional table, pictures (paths relative to the report) and text."""

    title: str
    table: Table | None = None
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)
    text: str = ""
    image_row: bool = False


def write_report(out_dir: Path, title: str, context: dict[str, str], sections: list[Section]) -> tuple[Path, Path]:
    """Write ``report.html`` (pictures by relative path, so keep the folder together) and ``report.md``."""
    html_parts = [f"<h1>{html.escape(title)}</h1>", '<dl class="context">']
    html_parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in context.items()]
    html_parts.append("</dl>")
    md_parts = [f"# {title}", "", *[f"- **{k}**: {v}" for k, v in context.items()], ""]
    for section in sections:
        html_parts.append(f"<h2>{html.escape(section.title)}</h2>")
        md_parts += [f"## {section.title}", ""]
        if section.text:
            html_parts.append(f"<p>{html.escape(section.text)}</p>")
            md_parts += [section.text, ""]
        if section.table is not None:
            html_parts.append(section.table.html())
            md_parts += [section.table.markdown(), ""]
        figures = [
            f'<figure><img src="{html.escape(path)}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            for caption, path in section.images
        ]
        if figures:
            html_parts.append(
                f'<div class="curves">{"".join(figures)}</div>' if section.image_row else "".join(figures)
            )
        md_parts += [f"![{caption}]({path})" for caption, path in section.images]
        if section.images:
            md_parts.append("")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style><script>{MISSING_IMAGE_SCRIPT}</script></head>\n<body>\n"
        + "\n".join(html_parts)
        + "\n</body></html>\n"
    )
    write_text(out_dir / "report.html", page)
    write_text(out_dir / "report.md", "\n".join(md_parts).rstrip() + "\n")
    return out_dir / "report.html", out_dir / "report.md"
