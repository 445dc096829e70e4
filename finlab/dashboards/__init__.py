"""Widget dashboards over frames held in memory: cash flow, tax liability, carbon removal.

Each dashboard takes frames (or, through ``from_connection``, a connected ``finlab.connect()``
object that it reads once), shows controls, KPI tiles, charts and the tables behind the charts,
and recomputes from the frames in memory when a control changes: a callback never fetches.
Display one as a notebook cell's last expression or with ``.show()``. For tests and scripts the
current state is plain data: ``.frames`` (and named properties such as ``.flows``), ``.kpis``,
``.chart`` / ``.charts`` (Altair charts) and ``.tables``.

Charts render offline as ``alt.JupyterChart`` widgets (see `enable_offline_rendering`).

Examples
--------
>>> import finlab
>>> from finlab.dashboards import CashFlowDashboard
>>> dashboard = CashFlowDashboard.from_connection(finlab.connect())  # doctest: +SKIP
>>> dashboard.controls.granularity.value = "quarter"  # doctest: +SKIP
>>> dashboard.kpis["net"].money  # doctest: +SKIP
{'eur': Decimal('1375422.020'), 'usd': Decimal('6221550.460')}
"""

from finlab.extras import needs

with needs("dashboards"):
    from finlab.dashboards.base import Dashboard, Table, View
    from finlab.dashboards.carbon import CarbonDashboard, carbon_view
    from finlab.dashboards.cash_flow import CashFlowDashboard, cash_flow_view
    from finlab.dashboards.html import Kpi, format_minor, format_money
    from finlab.dashboards.rendering import chart_widget, enable_offline_rendering
    from finlab.dashboards.tax import TaxLiabilityDashboard, tax_liability_view
    from finlab.dashboards.tax_export import NoReport, fetch_report

__all__ = [
    "CarbonDashboard",
    "CashFlowDashboard",
    "Dashboard",
    "Kpi",
    "NoReport",
    "Table",
    "TaxLiabilityDashboard",
    "View",
    "carbon_view",
    "cash_flow_view",
    "chart_widget",
    "enable_offline_rendering",
    "fetch_report",
    "format_minor",
    "format_money",
    "tax_liability_view",
]
