"""A report as Markdown and as one self-contained HTML page, with its figures listed at the end.

:class:`Report` collects the lines (headings, paragraphs, :mod:`tables <.tables>`, lines a
section function made) and the figures ``{name: path}``; ``markdown()`` lists the figures under
"## Figures" as ``![name](file name)``, ``html()`` converts that Markdown (the subset the
reports use: headings, tables, images, paragraphs) and inlines each figure as a base64 PNG, or
keeps the links (``inline=False``). ``write()`` writes ``report.md`` and ``report.html``
atomically (:mod:`modeinterp.artifacts`).
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from .. import artifacts
from .tables import markdown_table

__all__ = ["Report", "figures_section", "markdown_to_html", "write_report"]

_STYLE = ("body{font-family:sans-serif;max-width:980px;margin:2em auto}"
          "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px}"
          "img{max-width:100%}")


def figures_section(figs: Mapping[str, os.PathLike], heading: str = "Figures") -> list:
    """``## Figures`` and one ``![name](file name)`` line per figure; no lines without figures.
    The links are file names: the figures sit next to the report."""
    if not figs:
        return []
    return [f"## {heading}", ""] + [f"![{name}]({Path(p).name})" for name, p in figs.items()]


def _html_table(rows: Sequence[str]) -> str:
    rows = [r for r in rows if not set(r.replace("|", "").strip()) <= set("-: ")]
    cells = [[html.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
    head = "".join(f"<th>{c}</th>" for c in cells[0])
    rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
    return f"<table><tr>{head}</tr>{rest}</table>"


def _html_line(line: str) -> Optional[str]:
    if line.startswith("#"):
        level = len(line) - len(line.lstrip("#"))
        return f"<h{level}>{html.escape(line[level:].strip())}</h{level}>"
    if line.startswith("!["):
        alt, src = line[2:].split("](")
        return (f'<figure><img src="{src.rstrip(")")}" alt="{html.escape(alt)}">'
                f"<figcaption>{html.escape(alt)}</figcaption></figure>")
    return f"<p>{html.escape(line)}</p>" if line.strip() else None


def _inline_images(page: str, figs: Mapping[str, os.PathLike]) -> str:
    for p in figs.values():
        data = base64.b64encode(Path(p).read_bytes()).decode()
        page = page.replace(f'src="{Path(p).name}"', f'src="data:image/png;base64,{data}"')
    return page


def markdown_to_html(md: str, figs: Optional[Mapping[str, os.PathLike]] = None, *,
                     title: str = "modeinterp report", inline: bool = True) -> str:
    """A standalone HTML page from the Markdown subset of the reports (headings, ``|`` tables,
    ``![alt](src)`` images, paragraphs). ``figs``' images are inlined as base64 PNG when
    ``inline``; otherwise (or for images not in ``figs``) the page links to the files."""
    body, table = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            body.append(_html_table(table))
            table.clear()
        converted = _html_line(line)
        if converted:
            body.append(converted)
    if table:
        body.append(_html_table(table))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    return _inline_images(page, figs) if inline and figs else page


def write_report(out: os.PathLike, md: str, figs: Optional[Mapping[str, os.PathLike]] = None,
                 *, name: str = "report", inline: bool = True,
                 title: str = "modeinterp report") -> dict:
    """``out/<name>.md`` and ``out/<name>.html`` (see :func:`markdown_to_html`), each written
    atomically. Returns ``{"md": Path, "html": Path}``."""
    out = Path(out)
    paths = {"md": out / f"{name}.md", "html": out / f"{name}.html"}
    artifacts.save_text(md, paths["md"])
    artifacts.save_text(markdown_to_html(md, figs, title=title, inline=inline), paths["html"])
    return paths


class Report:
    """Lines of Markdown and the figures that go with them.

    >>> r = Report("Title")
    >>> r.paragraph("Some text."); r.table(["k", "v"], [["a", 1.5]], formats=[None, ".2f"])
    >>> r.figure("samples", "out/samples.png"); r.write("out")
    """

    def __init__(self, title: Optional[str] = None, figures: Optional[Mapping] = None):
        self.lines: list = [f"# {title}", ""] if title else []
        self.figures: dict = dict(figures or {})

    def extend(self, lines: Iterable[str]) -> "Report":
        """Append ready-made lines (a section function's output)."""
        self.lines.extend(lines)
        return self

    def heading(self, text: str, level: int = 2) -> "Report":
        return self.extend([f"{'#' * level} {text}", ""])

    def paragraph(self, text: str) -> "Report":
        return self.extend([text, ""])

    def table(self, headers: Sequence[str], rows: Iterable[Sequence], **options) -> "Report":
        """A :func:`~.tables.markdown_table` (``align``, ``formats``, ``missing``), a blank
        line after it."""
        return self.extend(markdown_table(headers, rows, **options) + [""])

    def figure(self, name: str, path: os.PathLike) -> "Report":
        self.figures[name] = Path(path)
        return self

    def markdown(self) -> str:
        """The lines, then the figures list."""
        return "\n".join(self.lines + figures_section(self.figures)) + "\n"

    def html(self, *, inline: bool = True, title: str = "modeinterp report") -> str:
        return markdown_to_html(self.markdown(), self.figures, title=title, inline=inline)

    def write(self, out: os.PathLike, *, name: str = "report", inline: bool = True,
              title: str = "modeinterp report") -> dict:
        """``report.md`` and ``report.html`` into ``out`` (:func:`write_report`)."""
        return write_report(out, self.markdown(), self.figures, name=name, inline=inline,
                            title=title)
