"""modeinterp.reports: Markdown tables from rows, a report as Markdown + self-contained HTML with
its figures listed, written atomically; and the reports built on it keep their sections."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

from modeinterp.reports import (Report, figures_section, format_cell, markdown_table,
                                markdown_to_html, table_header, table_row, write_report)


@pytest.mark.parametrize("value,fmt,expected", [
    (1234567, ",", "1,234,567"), (0.123456, ".4f", "0.1235"), (0.1234, ".2%", "12.34%"),
    (12.34, "{:.1f} %", "12.3 %"), (3, None, "3"), (2.5, lambda v: f"<{v}>", "<2.5>"),
    (np.float32(0.5), ".2f", "0.50"), (np.int64(1000), ",", "1,000"),
    ("ready-made", ".4f", "ready-made"), ("", ".4f", ""),
    (None, ".4f", "–"), (float("nan"), ".4f", "–"), (math.inf, ",", "–"),
    (np.float64("nan"), None, "–")])
def test_format_cell(value, fmt, expected):
    assert format_cell(value, fmt) == expected


def test_markdown_table_headers_alignment_formats_and_empty_cells():
    lines = markdown_table(["", "AUROC", "removed"],
                           [["this run", 0.91234, 87.25], ["paper", "", None]],
                           formats=[None, ".4f", "{:.1f}%"], missing="n/a")
    assert lines == ["| | AUROC | removed |", "|---|---:|---:|",
                     "| this run | 0.9123 | 87.2% |", "| paper | | n/a |"]
    assert markdown_table(["a", "b", "c"], [], align="rlc")[1] == "|---:|---|:---:|"


def test_streamed_rows_equal_the_whole_table():
    rows = [[1000, "fused", 1.2345], [2_000_000, "eager", None]]
    formats = [",", None, ".3f"]
    streamed = table_header(["n", "variant", "ms"], "rlr") + [table_row(r, formats) for r in rows]
    assert streamed == markdown_table(["n", "variant", "ms"], rows, align="rlr", formats=formats)
    assert streamed[-1] == "| 2,000,000 | eager | – |"


@pytest.mark.parametrize("call,match", [
    (lambda: markdown_table(["a", "b"], [[1]]), "1 cells for 2 columns"),
    (lambda: markdown_table(["a", "b"], [], align="l"), "align"),
    (lambda: markdown_table(["a", "b"], [], align="lx"), "align"),
    (lambda: table_row([1, 2], [None]), "formats")])
def test_table_mistakes_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _png(path, seed):
    path.write_bytes(bytes(range(seed, seed + 32)))  # any bytes: the page only base64-encodes them
    return path


def test_report_markdown_lists_its_figures(tmp_path):
    doc = Report("Title", {"samples": _png(tmp_path / "samples.png", 0)})
    doc.paragraph("Some text.").heading("Numbers")
    doc.table(["k", "v"], [["a", 1.5]], formats=[None, ".2f"])
    doc.figure("roc", tmp_path / "sub" / "roc.png")
    assert doc.markdown() == ("# Title\n\nSome text.\n\n## Numbers\n\n| k | v |\n|---|---:|\n"
                              "| a | 1.50 |\n\n## Figures\n\n![samples](samples.png)\n"
                              "![roc](roc.png)\n")
    assert Report("Bare").paragraph("x").markdown() == "# Bare\n\nx\n\n"
    assert figures_section({}) == []


def test_html_inlines_the_figures_or_links_them(tmp_path):
    fig = _png(tmp_path / "samples.png", 3)
    md = ("# A <b> & c\n\nText with <tags>.\n\n| x | y |\n|---|---:|\n| 1 | 2 |\n\n"
          "![samples](samples.png)\n![elsewhere](other.png)\n")
    page = markdown_to_html(md, {"samples": fig})
    data = base64.b64encode(fig.read_bytes()).decode()
    assert page.startswith("<!doctype html>") and "<title>modeinterp report</title>" in page
    assert "<h1>A &lt;b&gt; &amp; c</h1>" in page and "<p>Text with &lt;tags&gt;.</p>" in page
    assert "<table><tr><th>x</th><th>y</th></tr><tr><td>1</td><td>2</td></tr></table>" in page
    assert f'src="data:image/png;base64,{data}"' in page and 'src="samples.png"' not in page
    assert 'src="other.png"' in page  # not a figure of this report: left as a link
    linked = markdown_to_html(md, {"samples": fig}, inline=False, title="T")
    assert 'src="samples.png"' in linked and "base64" not in linked and "<title>T</title>" in linked


def test_write_report_writes_both_files_atomically(tmp_path):
    fig = _png(tmp_path / "samples.png", 5)
    doc = Report("Run", {"samples": fig}).paragraph("x̂0 → ≥ 96 %")
    paths = doc.write(tmp_path / "out")
    assert paths == {"md": tmp_path / "out" / "report.md", "html": tmp_path / "out" / "report.html"}
    assert paths["md"].read_text(encoding="utf-8") == doc.markdown()
    assert paths["html"].read_text(encoding="utf-8") == doc.html()
    assert "base64," in paths["html"].read_text(encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.md"]
    again = write_report(tmp_path / "out", "# other\n", name="summary", inline=False)
    assert again["md"].read_text() == "# other\n" and paths["md"].read_text() == doc.markdown()
