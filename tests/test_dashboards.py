"""finlab.dashboards: controls recompute frames, KPIs and chart specs in memory; identities on the demo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import finlab
import finlab.demo
from finlab.analysis.carbon import CARBON_SPEND_SCHEMA, CARBON_TONNES_SCHEMA, PATHWAY_MIX_SCHEMA
from finlab.analysis.cash_flow import CASH_FLOW_SCHEMA
from finlab.analysis.tax import REGISTRATION_FLAGS_SCHEMA, TAX_LIABILITY_SCHEMA
from finlab.connection import Connection
from finlab.dashboards import CarbonDashboard, CashFlowDashboard, Kpi, TaxLiabilityDashboard
from finlab.dashboards.accounts import ALL_ACCOUNTS, OWN_ACCOUNT
from finlab.dashboards.base import ALL
from finlab.dashboards.html import format_money, kpi_html, table_html
from finlab.dashboards.rendering import RENDERER, ChartWidget, bundle_path, enable_offline_rendering
from finlab.errors import ConfigurationError

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def stripe() -> Connection:
    return finlab.connect(demo=True)


@pytest.fixture(scope="module")
def bank(stripe: Connection) -> dict[str, pl.DataFrame]:
    return {"transactions": stripe.transactions(), "accounts": stripe.accounts()}


@pytest.fixture(scope="module")
def tax(stripe: Connection) -> dict[str, pl.DataFrame]:
    return {
        "line_items": stripe.tax_line_items(),
        "transactions": stripe.tax_transactions(),
        "registrations": stripe.tax_registrations(),
    }


@pytest.fixture(scope="module")
def climate(stripe: Connection) -> dict[str, pl.DataFrame]:
    return {
        "orders": stripe.climate_orders(),
        "products": stripe.climate_products(),
        "suppliers": stripe.climate_suppliers(),
    }


def cash_dashboard(bank: dict[str, pl.DataFrame], **options: Any) -> CashFlowDashboard:
    return CashFlowDashboard(bank["transactions"], bank["accounts"], **options)


def tax_dashboard(tax: dict[str, pl.DataFrame], **options: Any) -> TaxLiabilityDashboard:
    return TaxLiabilityDashboard(
        tax["line_items"], tax["transactions"], tax["registrations"], now=NOW, **options
    )


def carbon_dashboard(climate: dict[str, pl.DataFrame], **options: Any) -> CarbonDashboard:
    return CarbonDashboard(climate["orders"], climate["products"], climate["suppliers"], **options)


def inline_rows(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every data row of a Vega-Lite spec: Altair moves inline rows into top-level ``datasets``."""
    for rows in spec.get("datasets", {}).values():
        yield from rows


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


# -- cash flow -------------------------------------------------------------------------------------


def test_granularity_change_recomputes_flows_and_chart_in_place(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    widget = dashboard.chart_widgets["cash_flow"]
    monthly = dashboard.flows["period_start"].unique()

    dashboard.controls.granularity.value = "week"

    weeks = dashboard.flows["period_start"]
    assert {1} == set(weeks.dt.weekday().to_list())  # every week starts on a Monday
    assert weeks.n_unique() > 4 * monthly.len()
    spec = dashboard.chart.to_dict()
    assert {d.isoformat() for d in weeks.to_list()} == {row["period_start"] for row in inline_rows(spec)}
    assert widget is dashboard.chart_widgets["cash_flow"]
    assert spec == widget.spec


def test_net_per_account_and_currency_is_sum_of_posted_amounts_in_range(
    bank: dict[str, pl.DataFrame],
) -> None:
    timezone, start, end = "America/New_York", date(2025, 1, 1), date(2025, 6, 30)
    dashboard = cash_dashboard(bank, start=start, end=end, timezone=timezone, granularity="day")
    txns = bank["transactions"]
    expected = (
        txns.filter(
            (pl.col("status") == "posted")
            & (pl.col("transacted_at") >= local_midnight(start, timezone))
            & (pl.col("transacted_at") < local_midnight(end + timedelta(days=1), timezone))
        )
        .group_by("account", "currency")
        .agg(pl.col("amount").sum().alias("net"))
        .sort("account", "currency")
    )
    actual = (
        dashboard.flows.group_by("account", "currency").agg(pl.col("net").sum()).sort("account", "currency")
    )
    assert expected.rows() == actual.rows()
    assert date(2025, 1, 1) == dashboard.flows["period_start"].min()
    assert date(2025, 6, 30) == dashboard.flows["period_start"].max()
    # The KPI is the same net per currency, in major units; XCG, which finlab cannot scale, in minor units.
    per_currency = expected.group_by("currency").agg(pl.col("net").sum()).sort("currency").rows()
    scale = {"usd": 100, "eur": 100, "xcg": 1}
    assert {code: Decimal(net) / scale[code] for code, net in per_currency} == dashboard.kpis["net"].money


def test_timezone_moves_day_boundaries(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank, start="2025-03-01", end="2025-03-01", granularity="day")
    utc_count = dashboard.kpis["transactions"].number
    dashboard.controls.timezone.value = "Asia/Tokyo"
    day = (local_midnight(date(2025, 3, 1), "Asia/Tokyo"), local_midnight(date(2025, 3, 2), "Asia/Tokyo"))
    txns = bank["transactions"]
    in_tokyo = txns.filter(
        (pl.col("status") == "posted") & pl.col("transacted_at").is_between(*day, closed="left")
    )
    assert in_tokyo.height == dashboard.kpis["transactions"].number
    assert utc_count != dashboard.kpis["transactions"].number


def test_a_timezone_outside_the_list_is_offered_first(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank, timezone="Pacific/Auckland")
    assert "Pacific/Auckland" == dashboard.controls.timezone.options[0]
    assert "Pacific/Auckland" == dashboard.controls.timezone.value
    assert "UTC" in dashboard.controls.timezone.options


def test_currency_and_account_filters(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    dashboard.controls.currency.value = "eur"
    assert ["eur"] == dashboard.flows["currency"].unique().to_list()
    assert ["eur"] == list(dashboard.kpis["net"].money)
    first = bank["accounts"]["id"][0]
    dashboard.controls.currency.value = ALL
    dashboard.controls.accounts.value = (first,)
    assert [first] == dashboard.flows["account"].unique().to_list()


def test_include_pending_toggle_keeps_net_and_hides_pending(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    net = dashboard.kpis["net"].money
    assert dashboard.kpis["pending_transactions"].number == bank["transactions"]["status"].eq("pending").sum()
    assert "pending_net" in dashboard.tables["flows"].frame.columns

    dashboard.controls.include_pending.value = False

    assert net == dashboard.kpis["net"].money
    assert "pending" not in dashboard.kpis
    assert 0 == dashboard.flows["pending_count"].sum()
    assert "pending_net" not in dashboard.tables["flows"].frame.columns


def test_closing_balance_kpi_matches_account_balances(bank: dict[str, pl.DataFrame]) -> None:
    """Over the whole history the balance at the end is each currency's current balance, plus what
    posted after the balance was refreshed (the demo's balances were refreshed mid-stream)."""
    dashboard = cash_dashboard(bank)
    accounts = bank["accounts"].select(pl.col("id").alias("account"), "balance_as_of")
    later = (
        bank["transactions"]
        .join(accounts, on="account")
        .filter(
            (pl.col("status") == "posted")
            & (pl.col("status_transitions_posted_at") > pl.col("balance_as_of"))
        )
        .group_by("currency")
        .agg(pl.col("amount").sum())
    )
    balances = (
        bank["accounts"]
        .group_by("currency")
        .agg(pl.col("balance_current").sum())
        .join(later, on="currency", how="left")
        .select("currency", pl.col("balance_current") + pl.col("amount").fill_null(0))
        .rows()
    )
    scale = {"usd": 100, "eur": 100, "xcg": 1}
    assert {code: Decimal(total) / scale[code] for code, total in balances} == dashboard.kpis["balance"].money
    assert later["amount"].abs().sum() > 0


def test_empty_selection_keeps_the_schema(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    dashboard.controls.accounts.value = ()
    assert CASH_FLOW_SCHEMA == dashboard.flows.schema
    assert dashboard.flows.is_empty()
    assert ["—"] == dashboard.kpis["net"].lines()
    assert 0 == dashboard.kpis["transactions"].number
    assert "bar" in str(dashboard.chart.to_dict())


def test_start_after_end_explains_and_selects_nothing(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    dashboard.controls.start.value = date(2025, 6, 1)
    dashboard.controls.end.value = date(2025, 5, 1)
    assert dashboard.flows.is_empty()
    assert "pick a From date on or before the To date" in dashboard.notes[0]
    dashboard.controls.end.value = date(2025, 6, 30)
    assert not any("From date" in note for note in dashboard.notes)
    assert not dashboard.flows.is_empty()


def test_bad_initial_values_say_what_is_allowed(bank: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(ConfigurationError, match=r"currency='gbp'.*eur, usd"):
        cash_dashboard(bank, currency="gbp")
    with pytest.raises(ConfigurationError, match=r"granularity='year'.*day, week, month, quarter"):
        cash_dashboard(bank, granularity="year")
    with pytest.raises(ConfigurationError, match="start='01/02/2025' is not a date"):
        cash_dashboard(bank, start="01/02/2025")
    with pytest.raises(ConfigurationError, match="accounts: \\['fca_nope'\\] not in the data"):
        cash_dashboard(bank, selected_accounts=["fca_nope"])
    with pytest.raises(ConfigurationError, match="Unknown timezone 'Mars/Olympus'"):
        cash_dashboard(bank, timezone="Mars/Olympus")


# -- tax -------------------------------------------------------------------------------------------


def test_total_tax_liability_is_sum_of_line_item_tax_in_range(tax: dict[str, pl.DataFrame]) -> None:
    timezone, start, end = "Europe/Paris", date(2025, 4, 1), date(2025, 9, 30)
    dashboard = tax_dashboard(tax, start=start, end=end, timezone=timezone, period="quarter")
    dates = tax["transactions"].select(pl.col("id").alias("tax_transaction"), "posted_at")
    shipping = (
        tax["transactions"]
        .filter(pl.col("shipping_cost_amount").is_not_null())
        .select(
            pl.col("id").alias("tax_transaction"),
            "currency",
            pl.col("shipping_cost_amount_tax").alias("amount_tax"),
        )
    )  # shipping is taxed like a line
    expected = (
        pl.concat([tax["line_items"].select("tax_transaction", "currency", "amount_tax"), shipping])
        .join(dates, on="tax_transaction")
        .filter(  # the default basis: periods and dates follow posted_at, when the liability posts
            (pl.col("posted_at") >= local_midnight(start, timezone))
            & (pl.col("posted_at") < local_midnight(end + timedelta(days=1), timezone))
        )
        .group_by("currency")
        .agg(pl.col("amount_tax").sum())
        .sort("currency")
    )
    actual = dashboard.liability.group_by("currency").agg(pl.col("net_tax").sum()).sort("currency")
    assert expected.rows() == actual.rows()
    assert [date(2025, 4, 1), date(2025, 7, 1)] == sorted(dashboard.liability["period_start"].unique())


def test_jpy_tax_is_in_yen(tax: dict[str, pl.DataFrame]) -> None:
    dashboard = tax_dashboard(tax, currency="jpy")
    shipping = tax["transactions"].filter(pl.col("currency") == "jpy")["shipping_cost_amount_tax"].sum()
    yen = tax["line_items"].filter(pl.col("currency") == "jpy")["amount_tax"].sum() + shipping
    assert {"jpy": Decimal(yen)} == dashboard.kpis["net_tax"].money
    assert f"{yen:,} JPY" == dashboard.kpis["net_tax"].lines()[0]
    table = dashboard._tables["liability"].value  # the table widget: major units with the currency
    first = dashboard.liability.row(0, named=True)
    assert f">{first['net_tax']:,} JPY</td>" in table


def test_period_and_jurisdiction_controls(tax: dict[str, pl.DataFrame]) -> None:
    dashboard = tax_dashboard(tax)
    dashboard.controls.period.value = "year"
    assert {1} == set(dashboard.liability["period_start"].dt.month().to_list())
    dashboard.controls.jurisdictions.value = ("DE", "FR")
    assert ["DE", "FR"] == sorted(dashboard.liability["jurisdiction"].unique())
    assert 2 == dashboard.kpis["jurisdictions"].number
    spec = dashboard.charts["heatmap"].to_dict()
    assert {"DE", "FR"} == {row["jurisdiction"] for row in inline_rows(spec)}
    assert dashboard.chart_widgets["heatmap"].spec == spec


def test_tax_empty_selection_keeps_the_schemas(tax: dict[str, pl.DataFrame]) -> None:
    dashboard = tax_dashboard(tax)
    dashboard.controls.jurisdictions.value = ()
    assert TAX_LIABILITY_SCHEMA == dashboard.liability.schema
    assert REGISTRATION_FLAGS_SCHEMA == dashboard.flags.schema
    assert dashboard.liability.is_empty()
    assert {} == dashboard.kpis["net_tax"].money


def test_registration_flags_follow_now(tax: dict[str, pl.DataFrame]) -> None:
    """The demo's Texas registration expires 2026-12-16: flagged 60 days before, not earlier."""
    soon = TaxLiabilityDashboard(
        tax["line_items"], tax["transactions"], tax["registrations"], now=date(2026, 11, 1)
    )
    early = TaxLiabilityDashboard(
        tax["line_items"], tax["transactions"], tax["registrations"], now=date(2026, 1, 1)
    )
    assert 1 == soon.kpis["expiring"].number
    assert ["US-TX"] == soon.flags.filter(pl.col("flag") == "registration_expiring")["jurisdiction"].to_list()
    assert 0 == early.kpis["expiring"].number


def test_tax_without_registrations_has_no_flags(tax: dict[str, pl.DataFrame]) -> None:
    dashboard = TaxLiabilityDashboard(tax["line_items"], tax["transactions"])
    assert "flags" not in dashboard.tables
    assert "unregistered" not in dashboard.kpis
    assert dashboard.flags.is_empty()


# -- carbon ----------------------------------------------------------------------------------------


def test_carbon_spend_is_sum_of_non_canceled_orders(climate: dict[str, pl.DataFrame]) -> None:
    dashboard = carbon_dashboard(climate)
    active = climate["orders"].filter(pl.col("status") != "canceled")
    totals = active.group_by("currency").agg(pl.col("amount_total").sum()).sort("currency").rows()
    assert {code: Decimal(total) / 100 for code, total in totals} == dashboard.kpis["spend"].money
    spend = dashboard.spend.group_by("currency").agg(pl.col("amount_total").sum()).sort("currency").rows()
    assert totals == spend
    assert active.height == dashboard.kpis["orders"].number


def test_status_toggles(climate: dict[str, pl.DataFrame]) -> None:
    dashboard = carbon_dashboard(climate)
    canceled = climate["orders"]["status"].eq("canceled").sum()
    assert canceled == dashboard.kpis["canceled"].number
    spend = dashboard.kpis["spend"].money

    dashboard.controls.statuses["canceled"].value = False
    assert 0 == dashboard.kpis["canceled"].number
    assert spend == dashboard.kpis["spend"].money  # canceled orders never count in spend

    dashboard.controls.statuses["delivered"].value = False
    delivered = climate["orders"].filter(pl.col("status") == "delivered")
    assert Decimal(0) == dashboard.kpis["tonnes_delivered"].number
    assert dashboard.kpis["orders"].number == climate["orders"].height - canceled - delivered.height
    assert "delivered" not in dashboard.frames["statuses"]["status"].to_list()


def test_carbon_period_and_currency(climate: dict[str, pl.DataFrame]) -> None:
    dashboard = carbon_dashboard(climate, period="quarter")
    assert {1, 4, 7, 10} >= set(dashboard.spend["period_start"].dt.month().to_list())
    dashboard.controls.currency.value = "eur"
    assert ["eur"] == dashboard.spend["currency"].unique().to_list()
    assert ["eur"] == list(dashboard.kpis["cost_per_tonne"].money)
    rows = list(inline_rows(dashboard.charts["spend"].to_dict()))
    assert rows
    assert {"eur"} == {row["currency"] for row in rows}


def test_carbon_empty_selection_keeps_the_schemas(climate: dict[str, pl.DataFrame]) -> None:
    dashboard = carbon_dashboard(climate)
    for toggle in dashboard.controls.statuses.values():
        toggle.value = False
    assert CARBON_SPEND_SCHEMA == dashboard.spend.schema
    assert CARBON_TONNES_SCHEMA == dashboard.tonnes.schema
    assert PATHWAY_MIX_SCHEMA == dashboard.pathways.schema
    assert dashboard.spend.is_empty()
    assert Decimal(0) == dashboard.kpis["tonnes_ordered"].number
    assert "arc" in str(dashboard.charts["pathways"].to_dict())


def test_carbon_rejects_unknown_statuses(climate: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(ConfigurationError, match=r"'shipped'.*open, awaiting_funds"):
        carbon_dashboard(climate, statuses=["shipped"])


# -- no fetch after construction -------------------------------------------------------------------


class Guarded:
    """A connection that fails the test on any use once `lock` is called."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._locked = False
        self.calls: list[str] = []

    def lock(self) -> None:
        self._locked = True

    def __getattr__(self, name: str) -> Any:
        if self._locked:
            pytest.fail(f"the dashboard used the connection ({name}) after it was built")
        self.calls.append(name)
        return getattr(self._connection, name)


def test_cash_flow_over_a_store_scans_it_and_shows_the_same_numbers(
    bank: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    stored = finlab.connect(demo=True, store=tmp_path)
    stored.sync(["transactions"], progress=False)
    scanned = CashFlowDashboard.from_connection(stored)
    assert isinstance(scanned.transactions, pl.LazyFrame)  # the store's files, never loaded whole
    plan = scanned.transactions.select("currency").explain()
    assert "Parquet SCAN" in plan
    assert "PROJECT 1/" in plan  # a scan reads the columns a plan uses, never the raw JSON
    loaded = cash_dashboard(bank)
    changes = [("timezone", "Europe/Paris"), ("granularity", "day"), ("include_pending", False)]
    for name, value in [(None, None), *changes]:
        if name is not None:
            getattr(scanned.controls, name).value = value
            getattr(loaded.controls, name).value = value
        assert loaded.flows.equals(scanned.flows)
        assert loaded.kpis == scanned.kpis
        assert loaded.chart.to_dict() == scanned.chart.to_dict()
    assert loaded.controls.currency.options == scanned.controls.currency.options
    points = scanned.chart.to_dict()["datasets"]
    days = scanned.flows.select("currency", "period_start").n_unique()
    assert days == sum(len(rows) for rows in points.values())  # one point per currency and day


def test_control_changes_never_fetch(stripe: Connection) -> None:
    guarded = Guarded(stripe)
    cash = CashFlowDashboard.from_connection(guarded)  # type: ignore[arg-type]
    taxes = TaxLiabilityDashboard.from_connection(guarded, now=NOW)  # type: ignore[arg-type]
    carbon = CarbonDashboard.from_connection(guarded)  # type: ignore[arg-type]
    assert {
        "scan_transactions",
        "accounts",
        "tax_line_items",
        "tax_transactions",
        "tax_registrations",
        "tax_report",
        "climate_orders",
        "climate_products",
        "climate_suppliers",
    } == set(guarded.calls)
    guarded.lock()

    cash.controls.granularity.value = "quarter"
    cash.controls.timezone.value = "Europe/Paris"
    cash.controls.start.value = date(2025, 1, 1)
    cash.controls.include_pending.value = False
    taxes.controls.period.value = "year"
    taxes.controls.currency.value = "usd"
    taxes.controls.end.value = date(2025, 12, 31)
    carbon.controls.statuses["open"].value = False
    carbon.controls.period.value = "year"
    carbon.controls.timezone.value = "Asia/Tokyo"
    assert not cash.flows.is_empty()
    assert not taxes.liability.is_empty()
    assert not carbon.spend.is_empty()


# -- display and markup ----------------------------------------------------------------------------


# -- the connected-account control (Connect platforms) --------------------------------------------


@pytest.fixture(scope="module")
def connected(stripe: Connection) -> Connection:
    """One of the demo platform's connected accounts."""
    account = next(iter(finlab.demo.default_dataset().connected))
    return finlab.connect(demo=True, stripe_account=account)


def test_one_account_hides_the_account_control(climate: dict[str, pl.DataFrame]) -> None:
    control = carbon_dashboard(climate).controls.stripe_account
    assert "none" == control.layout.display
    assert ALL_ACCOUNTS == control.value


def test_the_carbon_account_control_shows_one_accounts_orders(
    climate: dict[str, pl.DataFrame], connected: Connection
) -> None:
    theirs = {"orders": connected.climate_orders(), "products": climate["products"], "suppliers": None}
    both = {**climate, "orders": pl.concat([climate["orders"], theirs["orders"]])}
    dashboard = carbon_dashboard(both)
    control = dashboard.controls.stripe_account
    account = theirs["orders"]["stripe_account"][0]
    assert [ALL_ACCOUNTS, OWN_ACCOUNT, account] == [value for _, value in control.options]
    assert control.layout.display != "none"
    assert both["orders"].height == dashboard.frames["orders"].height
    control.value = account
    assert {account} == set(dashboard.frames["orders"]["stripe_account"])
    assert carbon_dashboard(theirs).kpis["spend"].money == dashboard.kpis["spend"].money
    control.value = OWN_ACCOUNT
    assert carbon_dashboard(climate).kpis["spend"].money == dashboard.kpis["spend"].money


def test_the_cash_flow_account_control_narrows_the_bank_accounts(
    bank: dict[str, pl.DataFrame], connected: Connection
) -> None:
    theirs = {"transactions": connected.transactions(), "accounts": connected.accounts()}
    both = {name: pl.concat([bank[name], theirs[name]]) for name in bank}
    dashboard = cash_dashboard(both, start="2026-01-01")
    account = theirs["accounts"]["stripe_account"][0]
    dashboard.controls.stripe_account.value = account
    assert set(theirs["accounts"]["id"]) >= set(dashboard.flows["account"])
    assert_frame_equal(cash_dashboard(theirs, start="2026-01-01").flows, dashboard.flows)
    dashboard.controls.stripe_account.value = OWN_ACCOUNT
    assert_frame_equal(cash_dashboard(bank, start="2026-01-01").flows, dashboard.flows)


def test_the_tax_account_control_shows_one_accounts_liability(
    tax: dict[str, pl.DataFrame], connected: Connection
) -> None:
    theirs = {
        "line_items": connected.tax_line_items(),
        "transactions": connected.tax_transactions(),
        "registrations": connected.tax_registrations(),
    }
    both = {name: pl.concat([tax[name], theirs[name]]) for name in tax}
    dashboard = tax_dashboard(both)
    account = theirs["transactions"]["stripe_account"][0]
    dashboard.controls.stripe_account.value = account
    alone = tax_dashboard(theirs)
    assert_frame_equal(alone.liability, dashboard.liability)
    assert_frame_equal(alone.flags, dashboard.flags)
    dashboard.controls.stripe_account.value = OWN_ACCOUNT
    assert_frame_equal(tax_dashboard(tax).liability, dashboard.liability)


def test_dashboard_displays_as_its_widget(bank: dict[str, pl.DataFrame]) -> None:
    dashboard = cash_dashboard(bank)
    bundle = dashboard._repr_mimebundle_()
    assert bundle is not None
    assert dashboard.widget.model_id == bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert bundle["text/plain"].startswith("<CashFlowDashboard")
    assert {"finlab-dashboard", "finlab-dashboard-cash-flow"} <= set(dashboard.widget._dom_classes)
    assert "finlab-granularity" in dashboard.controls.granularity._dom_classes
    tiles = dashboard._tile_box.children
    assert [f"finlab-kpi-{name}" for name in dashboard.kpis] == [tile._dom_classes[1] for tile in tiles]
    assert 'data-name="net"' in tiles[2].value


def test_money_markup_uses_major_units_and_currency() -> None:
    frame = pl.DataFrame(
        {"currency": ["usd", "jpy"], "net": [1999, 1500], "net_major": [Decimal("19.99"), Decimal("1500")]}
    )
    html = table_html(frame, "demo")
    assert ">19.99 USD<" in html
    assert ">1,500 JPY<" in html
    assert "net_major" not in html
    assert "1,500.000" not in html
    assert "1,234.568 KWD" == format_money(Decimal("1234.568"), "kwd")
    tile = kpi_html("net", Kpi("Net", money={"usd": Decimal("-2.5")}))
    assert 'data-name="net"' in tile
    assert 'data-currency="usd"' in tile
    assert ">-2.50 USD<" in tile
    assert "No rows for this selection." in table_html(frame.clear(), "empty")


def test_table_cells_follow_each_values_type() -> None:
    """Cells are made a column at a time: each column's rules equal the per-value ones."""
    frame = pl.DataFrame(
        {
            "name": ["<b>A & B</b>", None],
            "currency": ["usd", "xcg"],
            "count": [1234, None],
            "share": [0.5, float("nan")],
            "tons": [Decimal("1.500"), None],
            "flag": [True, False],
            "day": [date(2025, 1, 2), None],
            "at": [datetime(2025, 1, 2, 3, 4, tzinfo=UTC), None],
            "tags": [["x", "<y>"], []],
            "net": [-123456, None],
            "net_major": [Decimal("-1234.56"), None],
        },
        schema_overrides={"tons": pl.Decimal(38, 3)},
    )
    html = table_html(frame, "mixed")
    cells = [
        (
            cell.split('data-column="')[1].split('"')[0],
            cell.split("text-align:")[1].split('"')[0],
            cell.split(">", 1)[1],
        )
        for row in html.split("<tbody>")[1].split("<tr>")[1:]
        for cell in row.split("</td>")[:-1]
    ]
    assert cells == [
        ("name", "left", "&lt;b&gt;A &amp; B&lt;/b&gt;"),
        ("currency", "left", "usd"),
        ("count", "right", "1,234"),
        ("share", "right", "0.500"),
        ("tons", "right", "1.5"),
        ("flag", "right", "True"),
        ("day", "left", "2025-01-02"),
        ("at", "left", "2025-01-02 03:04 UTC"),
        ("tags", "left", "x, &lt;y&gt;"),
        ("net", "right", "-1,234.56 USD"),
        ("name", "left", "—"),
        ("currency", "left", "xcg"),
        ("count", "left", "—"),
        ("share", "right", "nan"),
        ("tons", "left", "—"),
        ("flag", "right", "False"),
        ("day", "left", "—"),
        ("at", "left", "—"),
        ("tags", "left", ""),
        ("net", "right", "—"),
    ]
    unknown = frame.with_columns(net=pl.lit(5000), net_major=pl.lit(None, pl.Decimal(38, 3)))
    assert ">5,000 XCG (minor units)</td>" in table_html(unknown, "minor")


# -- offline rendering -----------------------------------------------------------------------------


@pytest.fixture
def fresh_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory, and a `ChartWidget` that has not loaded the bundle yet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(ChartWidget, "_offline", False)
    monkeypatch.setattr(ChartWidget, "_source", ChartWidget._source)
    return tmp_path


def test_offline_bundle_is_built_once_then_read_from_the_cache(fresh_bundle: Path) -> None:
    enable_offline_rendering()
    path = bundle_path()
    assert fresh_bundle / "finlab" == path.parent
    bundle = path.read_text(encoding="utf-8")
    assert bundle == ChartWidget._source
    assert "esm.sh" not in bundle  # Altair's online module imports Vega from esm.sh
    assert "vega" in bundle

    path.write_text("// from the cache", encoding="utf-8")
    ChartWidget._offline = False
    enable_offline_rendering()
    assert "// from the cache" == ChartWidget._source


def test_unwritable_cache_still_renders_offline(fresh_bundle: Path) -> None:
    (fresh_bundle / "finlab").write_text("a file where the cache directory should be")
    enable_offline_rendering()
    assert "esm.sh" not in ChartWidget._source
    assert [] == [p.name for p in fresh_bundle.iterdir() if p.name != "finlab"]


def test_bare_multi_currency_chart_renders_as_an_offline_widget(bank: dict[str, pl.DataFrame]) -> None:
    """Altair's "jupyter" renderer refuses this spec (theme width/height on a vconcat); ours shows it."""
    enable_offline_rendering()
    assert RENDERER == alt.renderers.active
    chart = cash_dashboard(bank).chart
    assert "vconcat" in chart.to_dict()
    data, _ = chart._repr_mimebundle_()
    assert "ChartWidget" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data
