"""Render a report, given as a list of blocks, as markdown and as a standalone HTML page.

Blocks are :class:`Heading`, :class:`Text`, :class:`Table` and :class:`Image`; both
renderers walk the same list, so the markdown and HTML reports hold the same content.
Images are referenced by relative path (the HTML shows the PNG inline and links the SVG).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pandas as pd

from skinbench.reports.formats import display_frame, to_markdown


@dataclass
class Heading:
    """A section heading (level 1-4)."""

    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph; `backticks` mark code, ``**...**`` bold, ``[text](url)`` links."""

    text: str


@dataclass
class Table:
    """A data frame, with an optional caption and the stem of its CSV/JSON/LaTeX files."""

    frame: pd.DataFrame
    caption: str = ""
    files: str = ""


@dataclass
class Image:
    """A figure: ``path`` is the PNG relative to the report; an SVG with the same stem sits beside it."""

    path: str
    alt: str


Block = Heading | Text | Table | Image


def _files_line(stem: str) -> str:
    return " · ".join(f"[{fmt}]({stem}.{fmt})" for fmt in ("csv", "json", "md", "tex"))


def to_markdown_report(blocks: list[Block]) -> str:
    """The report as markdown.

    Example:
        >>> print(to_markdown_report([Heading("Cost", 1), Text("in `MACs`")]), end="")
        # Cost
        <BLANKLINE>
        in `MACs`
    """
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Text):
            parts.append(b.text)
        elif isinstance(b, Table):
            text = (f"*{b.caption}*\n\n" if b.caption else "") + to_markdown(b.frame).rstrip("\n")
            if b.files:
                text += "\n\nFiles: " + _files_line(b.files)
            parts.append(text)
        elif isinstance(b, Image):
            svg = b.path.rsplit(".", 1)[0] + ".svg"
            parts.append(f"![{b.alt}]({b.path})\n\n[SVG]({svg})")
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape ``text`` for HTML and turn `code`, **bold** and [links](url) into tags.

    Example:
        >>> _inline("a `b<c>` **d** [e](f.csv)")
        'a <code>b&lt;c&gt;</code> <strong>d</strong> <a href="f.csv">e</a>'
    """
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return out


def _html_table(frame: pd.DataFrame, caption: str = "") -> str:
    """``frame`` as an HTML table: numeric columns right-aligned, text left-aligned, in a scrolling box.

    Example:
        >>> print(_html_table(pd.DataFrame({"m": ["a<b"], "n": [1234]})))  # doctest: +NORMALIZE_WHITESPACE
        <div class="table"><table>
        <thead><tr><th class="text">m</th><th class="num">n</th></tr></thead>
        <tbody>
        <tr><td class="text">a&lt;b</td><td class="num">1,234</td></tr>
        </tbody></table></div>
    """
    kinds = [
        "num" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "text"
        for c in frame.columns
    ]
    shown = display_frame(frame)
    head = "".join(f'<th class="{k}">{html.escape(str(c))}</th>' for c, k in zip(frame.columns, kinds))
    rows = [
        "<tr>" + "".join(f'<td class="{k}">{html.escape(v)}</td>' for v, k in zip(row, kinds)) + "</tr>"
        for row in shown.itertuples(index=False)
    ]
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table"><table>{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table></div>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
th { background: #f0f0f5; }
.num { text-align: right; white-space: nowrap; }
.text { text-align: left; }
div.table { overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
caption { caption-side: top; text-align: left; font-style: italic; padding: 4px 0; }
code { background: #f4f4f4; padding: 0 3px; }
"""

# Marks <body> with how many <img> loaded, so a headless browser can check the figures.
_CHECK_IMAGES = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.body.setAttribute("data-images-total", imgs.length);
  document.body.setAttribute("data-images-loaded",
    imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length);
});
</script>"""


def to_html_report(blocks: list[Block], title: str) -> str:
    """The report as one HTML page (inline CSS; figures inline as ``<img>``, relative paths).

    Example:
        >>> page = to_html_report([Image("figures/a.png", "curves")], "t")
        >>> '<img src="figures/a.png" alt="curves"' in page and 'href="figures/a.svg"' in page
        True
    """
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            body = _html_table(b.frame, b.caption)
            if b.files:
                body += f"\n<p>Files: {_inline(_files_line(b.files))}</p>"
            parts.append(body)
        elif isinstance(b, Image):
            svg = b.path.rsplit(".", 1)[0] + ".svg"
            parts.append(
                f'<figure><img src="{html.escape(b.path)}" alt="{html.escape(b.alt)}">'
                f'<figcaption>{html.escape(b.alt)} (<a href="{html.escape(svg)}">SVG</a>)</figcaption></figure>'
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n{_CHECK_IMAGES}\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
