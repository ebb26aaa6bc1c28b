"""The HTML shell shared by run, series and comparison reports: one self-contained page.

Everything is inline (style, PNG images as data URIs), so the file opens offline, can be
mailed or archived with the run, and shows the same in any browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from choreograph.results.plots import data_uri

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1060px;
       color: #1d232a; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 4px; } h2 { border-bottom: 1px solid #ccd;
     padding-bottom: 4px; margin-top: 32px; } h3 { margin-bottom: 6px; }
.meta { color: #556; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid #d5d9e0; padding: 3px 9px; text-align: right; }
th { background: #f1f3f6; } td.l, th.l { text-align: left; }
.ok { color: #11772f; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
.warn { color: #8a5a00; font-weight: 600; }
img { max-width: 100%; border: 1px solid #e3e6ea; margin: 6px 0; }
pre { background: #f6f8fa; border: 1px solid #e3e6ea; padding: 8px; overflow-x: auto;
      font-size: 0.85em; white-space: pre-wrap; }
a { color: #0b57d0; }
"""


def page(title: str, subtitle: str, body: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='meta'>{escape(subtitle)}</p>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], left: int = 1) -> str:
    """A table whose first ``left`` columns are text (left-aligned); cells are escaped
    unless they are :class:`Raw`."""

    def cell(tag: str, k: int, value: object) -> str:
        cls = " class='l'" if k < left else ""
        text = value.html if isinstance(value, Raw) else escape(fmt(value))
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", k, v) for k, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


class Raw:
    """HTML that goes into a table cell as is (a link, a styled verdict)."""

    def __init__(self, html: str) -> None:
        self.html = html


def fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.4g}"
    return str(value)


def image(png: bytes, alt: str) -> str:
    return f"<img src='{data_uri(png)}' alt='{escape(alt)}'>"


def status(text: str, good: bool, warn: bool = False) -> Raw:
    cls = "ok" if good else "warn" if warn else "bad"
    return Raw(f"<span class='{cls}'>{escape(text)}</span>")


def anchor(key: str) -> str:
    """The id of an instance's log section."""
    return "log-" + "".join(c if c.isalnum() else "-" for c in key)
