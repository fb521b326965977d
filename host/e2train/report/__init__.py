"""Reports over run directories: load and check runs, compare them, plot them, write one HTML page.

The library never prints; ``e2train.cli.report`` (the ``energy-report`` command) is its terminal face.
"""

from e2train.report.load import ReportError, Run, load_run, load_runs
from e2train.report.tables import RunMetrics, compare_runs, report_notes, to_csv, to_json

__all__ = ["ReportError", "Run", "RunMetrics", "compare_runs", "load_run", "load_runs", "report_notes",
           "to_csv", "to_json"]
