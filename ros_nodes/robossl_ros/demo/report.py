"""A static, self-contained HTML report: summary table, sections, tables and figures embedded as PNG.

Example:
    report = HtmlReport("robossl demo", subtitle="seed 0")
    report.add_summary("mono time fraction", 0.81, "")
    report.add_section("Stereo -> mono depth", "what the drone learned")
    report.add_figure(fig, "Depth: stereo vs mono vs ground truth")   # matplotlib Figure or PNG bytes
    report.write("runs/2026-11-26T06-00-00/report.html")

Everything (images included, as data URIs) is in the one file, so it can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.9em}
section{margin-top:2em;border-top:1px solid #eee}
"""


def figure_png(figure: Any, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards to free memory)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class _Block:
    kind: str  # "section", "figure", "table" or "text"
    payload: dict[str, Any] = field(default_factory=dict)


class HtmlReport:
    """Collects a summary, sections, tables and figures; :meth:`write` renders one HTML file."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.summary: list[tuple[str, Any, str]] = []
        self._blocks: list[_Block] = []

    def add_summary(self, metric: str, value: Any, unit: str = "") -> None:
        """One row of the summary table at the top (also printed by the demo)."""
        self.summary.append((metric, value, unit))

    def add_section(self, heading: str, text: str = "") -> None:
        self._blocks.append(_Block("section", {"heading": heading, "text": text}))

    def add_text(self, text: str) -> None:
        self._blocks.append(_Block("text", {"text": text}))

    def add_table(self, columns: list[str], rows: list[list[Any]], caption: str = "") -> None:
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"table row has {len(row)} cells but {len(columns)} columns: {row}")
        self._blocks.append(_Block("table", {"columns": columns, "rows": rows, "caption": caption}))

    def add_figure(self, figure: Any, title: str, caption: str = "") -> None:
        """Embed a matplotlib figure or PNG bytes."""
        png = figure if isinstance(figure, bytes | bytearray) else figure_png(figure)
        if not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"figure {title!r} is not a PNG image")
        self._blocks.append(_Block("figure", {"png": bytes(png), "title": title, "caption": caption}))

    @property
    def figure_count(self) -> int:
        return sum(block.kind == "figure" for block in self._blocks)

    def _table_html(
        self, columns: list[str], rows: list[list[Any]], caption: str = "", table_id: str = ""
    ) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = []
        for row in rows:
            cells = []
            for value in row:
                css = ' class="num"' if isinstance(value, int | float) else ""
                cells.append(f"<td{css}>{html.escape(_format_value(value))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        ident = f' id="{table_id}"' if table_id else ""
        return f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def render(self) -> str:
        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1><p class='sub'>{html.escape(self.subtitle)}</p>",
        ]
        if self.summary:
            rows = [[metric, value, unit] for metric, value, unit in self.summary]
            parts.append(
                "<h2>Summary</h2>" + self._table_html(["metric", "value", "unit"], rows, table_id="summary")
            )
        open_section = False
        for block in self._blocks:
            p = block.payload
            if block.kind == "section":
                if open_section:
                    parts.append("</section>")
                parts.append(f"<section><h2>{html.escape(p['heading'])}</h2>")
                if p["text"]:
                    parts.append(f"<p>{html.escape(p['text'])}</p>")
                open_section = True
            elif block.kind == "text":
                parts.append(f"<p>{html.escape(p['text'])}</p>")
            elif block.kind == "table":
                parts.append(self._table_html(p["columns"], p["rows"], p["caption"]))
            else:
                data = base64.b64encode(p["png"]).decode("ascii")
                caption = html.escape(p["title"] + (f" — {p['caption']}" if p["caption"] else ""))
                parts.append(
                    f"<figure><img alt='{html.escape(p['title'])}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{caption}</figcaption></figure>"
                )
        if open_section:
            parts.append("</section>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, path: str | Path) -> Path:
        """Write the HTML atomically and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        tmp.replace(target)
        return target
