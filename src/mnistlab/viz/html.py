"""Small builders for self-contained HTML pages (inline CSS and images, no network)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from mnistlab.viz.canvas import png_data_uri

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #c5cad6; font-size: 14px; }
section { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 18px 0; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h2 { font-size: 17px; margin: 0 0 12px; }
img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6eb; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f2f5; }
pre { background: #f0f2f5; padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border-radius: 8px; padding: 10px 16px; box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 130px; }
.card b { display: block; font-size: 20px; }
.card span { color: #5b6475; font-size: 12px; }
.scroll { max-height: 360px; overflow-y: auto; }
a { color: #2458c6; }
"""


def page(title: str, subtitle: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><main>{''.join(body)}</main></body></html>\n"
    )


def section(section_id: str, title: str, *content: str) -> str:
    return f'<section id="{escape(section_id)}"><h2>{escape(title)}</h2>{"".join(content)}</section>'


def figure_img(path: Path, alt: str) -> str:
    return f'<img class="figure" src="{png_data_uri(path)}" alt="{escape(alt)}">'


def table(headers: list[str], rows: list[list[object]], scroll: bool = False) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{html}</div>' if scroll else html


def cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in items) + "</div>"


def pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"
