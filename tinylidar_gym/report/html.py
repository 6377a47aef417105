"""The report page: plain HTML from string templates, every value escaped, no script.

Links and images are relative paths, so the report folder and the runs it links to can be moved
together, opened from disk or served by any static file server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #212121;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f5f5f5; position: sticky; top: 0; }
td.text { text-align: left; }
tr.fail td { background: #fff3f3; }
.note { color: #555; }
"""


@dataclass(frozen=True)
class Link:
    """A table cell that links somewhere (``href`` relative to the page)."""

    text: str
    href: str


Cell = str | Link


@dataclass(frozen=True)
class Image:
    src: str
    """Path of the PNG relative to the page."""
    alt: str
    caption: str


@dataclass
class Section:
    """One part of the page: a run's episodes or a model's training."""

    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[tuple[bool, list[Cell]]] = field(default_factory=list)
    """(failed, cells) per table row; failed rows are tinted."""


def _facts(facts: Sequence[tuple[str, str]]) -> str:
    if not facts:
        return ""
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>\n'


def _cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f'<td class="text"><a href="{escape(cell.href)}">{escape(cell.text)}</a></td>'
    numeric = cell == "–" or cell.replace(".", "", 1).lstrip("-").rstrip("%").isdigit()
    return f"<td>{escape(cell)}</td>" if numeric else f'<td class="text">{escape(cell)}</td>'


_FAIL_ROW = ' class="fail"'


def _table(headers: Sequence[str], rows: Sequence[tuple[bool, Sequence[Cell]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join(
        f"<tr{_FAIL_ROW if failed else ''}>{''.join(_cell(c) for c in cells)}</tr>"
        for failed, cells in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"


def _image(image: Image) -> str:
    return (
        f'<figure><img src="{escape(image.src)}" alt="{escape(image.alt)}">'
        f"<figcaption>{escape(image.caption)}</figcaption></figure>\n"
    )


def _section(section: Section) -> str:
    parts = [f"<section>\n<h2>{escape(section.title)}</h2>\n", _facts(section.facts)]
    parts.extend(f'<p class="note">{escape(n)}</p>\n' for n in section.notes)
    parts.extend(_image(i) for i in section.images)
    if section.rows:
        parts.append(_table(section.headers, section.rows))
    parts.append("</section>\n")
    return "".join(parts)


def render_page(
    title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section], intro: str
) -> str:
    """The whole page as text (UTF-8)."""
    body = "".join(_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{_facts(facts)}"
        f'<p class="note">{escape(intro)}</p>\n{body}</body>\n</html>\n'
    )
