"""Reports, written once: Markdown tables from rows (:mod:`.tables`) and a report as Markdown plus
one self-contained HTML page with its figures listed (:mod:`.document`), written atomically.

What goes into a report (which sections, which numbers) stays with its experiment
(``experiments/report.py``, ``recursive/report.py``, ``benchmarks/``). This layer sits with
``analysis`` ("plots and reports"): it may import analysis, detect and lower layers, never the
experiments, the recursive runs or the pipeline.
"""

from .document import Report, figures_section, markdown_to_html, write_report
from .tables import (INTERVAL_NOTE, format_cell, markdown_table, table_header, table_row,
                     with_interval)

__all__ = ["INTERVAL_NOTE", "Report", "figures_section", "format_cell", "markdown_table",
           "markdown_to_html", "table_header", "table_row", "with_interval", "write_report"]
