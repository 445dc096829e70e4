"""Carbon dashboard: Stripe Climate spend, tonnes and removal pathways of carbon-removal orders.

Controls: connected account (platforms only, `finlab.dashboards.accounts`), currency, one toggle per
order status, spend period (month / quarter / year), timezone, From / To dates on the order's
``created`` (To is inclusive). Canceled orders never count in spend, tonnes or the pathway mix (see
:mod:`finlab.analysis.carbon`); their toggle only changes the status table and the *canceled orders* tile.

Examples
--------
>>> import finlab
>>> dashboard = CarbonDashboard.from_connection(finlab.connect())  # doctest: +SKIP
>>> dashboard.controls.statuses["delivered"].value = False  # doctest: +SKIP
>>> dashboard.kpis["spend"].money  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import ipywidgets as widgets
import polars as pl

from finlab.analysis import between, require_columns
from finlab.analysis.carbon import (
    carbon_spend,
    carbon_tonnes,
    cost_per_tonne,
    orders_by_status,
    pathway_mix,
)
from finlab.charts.carbon import pathway_mix_chart, spend_chart, tonnes_chart
from finlab.connection import Connection
from finlab.dashboards.accounts import account_control, of_account
from finlab.dashboards.base import (
    Controls,
    Dashboard,
    Table,
    View,
    as_date,
    choice_control,
    currency_control,
    date_control,
    date_window,
    money_totals,
    selected_currency,
    timezone_control,
)
from finlab.dashboards.html import Kpi
from finlab.errors import ConfigurationError

__all__ = ["ORDER_STATUSES", "SPEND_PERIODS", "CarbonControls", "CarbonDashboard", "carbon_view"]

#: Periods the spend chart can be bucketed by.
SPEND_PERIODS = ("month", "quarter", "year")
#: Stripe's climate order statuses, in lifecycle order (unknown ones found in the data follow).
ORDER_STATUSES = ("open", "awaiting_funds", "confirmed", "delivered", "canceled")
SPEND_COLUMNS = (
    "period_start",
    "period_end",
    "currency",
    "product_name",
    "supplier_name",
    "order_count",
    "amount_subtotal",
    "amount_fees",
    "amount_total",
)
STATUS_COLUMNS = (
    "status",
    "currency",
    "order_count",
    "metric_tons",
    "amount_subtotal",
    "amount_fees",
    "amount_total",
)


@dataclass(frozen=True)
class CarbonControls(Controls):
    """The carbon dashboard's widgets; ``statuses`` maps each order status to its toggle button."""

    stripe_account: widgets.Dropdown
    currency: widgets.Dropdown
    statuses: dict[str, widgets.ToggleButton]
    period: widgets.ToggleButtons
    timezone: widgets.Dropdown
    start: widgets.DatePicker
    end: widgets.DatePicker

    def box(self) -> widgets.Box:
        """Status toggles on their own labelled row, the other controls wrapping below."""
        toggles = widgets.HBox([widgets.Label("Order status"), *self.statuses.values()])
        toggles.add_class("finlab-statuses")
        rest = [self.stripe_account, self.currency, self.period, self.timezone, self.start, self.end]
        row = widgets.HBox(rest, layout=widgets.Layout(flex_flow="row wrap"))
        box = widgets.VBox([toggles, row])
        box.add_class("finlab-controls")
        return box


def carbon_view(
    orders: pl.DataFrame,
    products: pl.DataFrame,
    suppliers: pl.DataFrame | None = None,
    *,
    currency: str | None = None,
    statuses: Iterable[str] | None = None,
    period: str = "month",
    timezone: str = "UTC",
    start: date | None = None,
    end: date | None = None,
) -> View:
    """The carbon `View`: spend, tonnes, pathway mix, cost per tonne and orders per status.

    ``statuses`` None means every status; ``end`` is inclusive. Frames: ``orders`` (the selected
    orders), ``spend``, ``tonnes``, ``pathways``, ``cost_per_tonne``, ``statuses`` (schemas of
    :mod:`finlab.analysis.carbon`).
    """
    first, stop, notes = date_window(start, end)
    condition = between("created", first, stop, timezone) & _of(currency, statuses)
    chosen = orders.filter(condition)
    spend = carbon_spend(chosen, products, period=period, timezone=timezone, suppliers=suppliers)
    tonnes = carbon_tonnes(chosen, products)
    mix = pathway_mix(chosen, products, suppliers=suppliers)
    costs = cost_per_tonne(chosen)
    by_status = orders_by_status(chosen)
    return View(
        frames={
            "orders": chosen,
            "spend": spend,
            "tonnes": tonnes,
            "pathways": mix,
            "cost_per_tonne": costs,
            "statuses": by_status,
        },
        kpis=_kpis(chosen, spend, tonnes, costs),
        charts={
            "spend": spend_chart(spend),
            "tonnes": tonnes_chart(tonnes),
            "pathways": pathway_mix_chart(mix),
        },
        tables={
            "spend": Table("Spend per period, product and supplier", _display(spend, SPEND_COLUMNS)),
            "pathways": Table("Tonnes per removal pathway", mix),
            "statuses": Table("Orders per status (canceled included)", _display(by_status, STATUS_COLUMNS)),
        },
        notes=notes,
    )


def _of(currency: str | None, statuses: Iterable[str] | None) -> pl.Expr:
    """Orders in this currency and these statuses (None: any)."""
    condition = pl.lit(True)
    if currency is not None:
        condition &= pl.col("currency") == currency
    if statuses is not None:
        condition &= pl.col("status").is_in(list(statuses))
    return condition


def _kpis(
    chosen: pl.DataFrame, spend: pl.DataFrame, tonnes: pl.DataFrame, costs: pl.DataFrame
) -> dict[str, Kpi]:
    """The tiles: spend, fees and cost per tonne per currency, tonnes, and order counts."""
    per_tonne = {
        code: value
        for code, value in costs.select("currency", "cost_per_tonne_major").iter_rows()
        if value is not None
    }
    return {
        "spend": Kpi("Spend (not canceled)", money_totals(costs, "amount_total")),
        "fees": Kpi("Fees", money_totals(spend, "amount_fees")),
        "cost_per_tonne": Kpi("Average cost per tonne", per_tonne),
        "tonnes_ordered": Kpi("Tonnes ordered", number=_tonnes(tonnes, "tonnes_ordered"), unit="t"),
        "tonnes_delivered": Kpi("Tonnes delivered", number=_tonnes(tonnes, "tonnes_delivered"), unit="t"),
        "tonnes_outstanding": Kpi(
            "Tonnes outstanding", number=_tonnes(tonnes, "tonnes_outstanding"), unit="t"
        ),
        "orders": Kpi("Orders (not canceled)", number=int(costs["order_count"].sum())),
        "canceled": Kpi("Canceled orders", number=int(chosen["status"].eq("canceled").sum())),
    }


def _tonnes(frame: pl.DataFrame, column: str) -> Decimal:
    total: Decimal | None = frame.select(pl.col(column).sum()).item()
    return total if total is not None else Decimal(0)


def _display(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    names = list(columns)
    return frame.select(*names, *(c + "_major" for c in names if c + "_major" in frame.columns))


class CarbonDashboard(Dashboard[CarbonControls]):
    """Stripe Climate spend, tonnes and pathways, recomputed from frames in memory on each change.

    Parameters
    ----------
    orders, products, suppliers
        ``climate.order``, ``climate.product`` and (optional) ``climate.supplier`` frames; or use
        `from_connection`, which fetches them once.
    stripe_account, currency, statuses, period, timezone, start, end
        Initial control values: a connected account (``acct_...``, ``"own"``; None: all), a currency
        (None: all), the order statuses included (None: all),
        ``month``/``quarter``/``year`` for spend, an IANA timezone, the first and last creation day
        shown (inclusive; dates or ISO strings).

    Attributes
    ----------
    controls : CarbonControls
        The widgets. ``spend``, ``tonnes``, ``pathways``, ``kpis``, ``chart`` give what is shown now.
    """

    title = "Carbon removal"
    slug = "carbon"

    def __init__(
        self,
        orders: pl.DataFrame,
        products: pl.DataFrame,
        suppliers: pl.DataFrame | None = None,
        *,
        stripe_account: str | None = None,
        currency: str | None = None,
        statuses: Iterable[str] | None = None,
        period: str = "month",
        timezone: str = "UTC",
        start: date | str | None = None,
        end: date | str | None = None,
    ) -> None:
        require_columns(orders, ("status", "currency", "created"), "a climate.order frame")
        self.orders = orders
        self.products = products
        self.suppliers = suppliers
        found = [s for s in orders["status"].unique().sort().to_list() if s and s not in ORDER_STATUSES]
        known = (*ORDER_STATUSES, *found)
        wanted = set(known if statuses is None else statuses)
        unknown = sorted(wanted - set(known))
        if unknown:
            msg = f"statuses: {unknown!r} are not order statuses; use some of: {', '.join(known)}."
            raise ConfigurationError(msg)
        controls = CarbonControls(
            stripe_account=account_control(orders, stripe_account),
            currency=currency_control(orders["currency"].unique().to_list(), currency),
            statuses={status: _status_toggle(status, status in wanted) for status in known},
            period=choice_control(SPEND_PERIODS, period, "Period", "period"),
            timezone=timezone_control(timezone),
            start=date_control(as_date(start, "start"), "From", "start"),
            end=date_control(as_date(end, "end"), "To", "end"),
        )
        super().__init__(controls)

    @classmethod
    def from_connection(cls, stripe: Connection, **options: Any) -> CarbonDashboard:
        """Fetch climate orders, products and suppliers once, then build the dashboard.

        ``options`` are the class's keyword arguments.
        """
        return cls(stripe.climate_orders(), stripe.climate_products(), stripe.climate_suppliers(), **options)

    @property
    def spend(self) -> pl.DataFrame:
        """Spend per period, currency, product and supplier (``CARBON_SPEND_SCHEMA``)."""
        return self.frames["spend"]

    @property
    def tonnes(self) -> pl.DataFrame:
        """Tonnes per product (``CARBON_TONNES_SCHEMA``)."""
        return self.frames["tonnes"]

    @property
    def pathways(self) -> pl.DataFrame:
        """Tonnes per removal pathway (``PATHWAY_MIX_SCHEMA``)."""
        return self.frames["pathways"]

    def _compute(self) -> View:
        controls = self.controls
        return carbon_view(
            of_account(self.orders, controls.stripe_account.value),
            self.products,
            self.suppliers,
            currency=selected_currency(controls.currency.value),
            statuses=[status for status, toggle in controls.statuses.items() if toggle.value],
            period=controls.period.value,
            timezone=controls.timezone.value,
            start=controls.start.value,
            end=controls.end.value,
        )


def _status_toggle(status: str, value: bool) -> widgets.ToggleButton:
    toggle = widgets.ToggleButton(
        value=value, description=status.replace("_", " "), tooltip=f"Include {status} orders"
    )
    toggle.add_class("finlab-control")
    toggle.add_class("finlab-status")
    toggle.add_class(f"finlab-status-{status}")
    return toggle
