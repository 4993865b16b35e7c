"""Reports: markdown tables, plots and the per-run report."""

from asyndbt.reports._report import method_table, plot_histories, write_report

__all__ = ["method_table", "plot_histories", "write_report"]
