"""finlab.analysis.cash_flow: flows, pending, balances, timezones, counterparties, filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from framekit import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from finlab.analysis import to_utc
from finlab.analysis.cash_flow import (
    CASH_FLOW_SCHEMA,
    COUNTERPARTIES_SCHEMA,
    DAILY_SCHEMA,
    NO_DESCRIPTION,
    balance_at,
    cash_flow,
    cash_flow_from_daily,
    daily_flows,
    filter_days,
    filter_transactions,
    top_counterparties,
)
from finlab.errors import ConfigurationError

TXN = "financial_connections.transaction"
ACCOUNT = "financial_connections.account"
CURRENCY_OF = {"fca_usd": "usd", "fca_jpy": "jpy", "fca_eur": "eur"}


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def txn(
    amount: int, when: datetime, status: str = "posted", account: str = "fca_usd", **extra: Any
) -> dict[str, Any]:
    return {
        "account": account,
        "amount": amount,
        "currency": CURRENCY_OF[account],
        "status": status,
        "transacted_at": when,
        "description": extra.pop("description", "Shop"),
        **extra,
    }


FAR_FUTURE = at(2030, 1, 1)


def accounts(balance: int | None = 0, as_of: datetime | None = FAR_FUTURE) -> pl.DataFrame:
    return frame(
        ACCOUNT,
        [
            {"id": "fca_usd", "display_name": "Checking", "currency": "usd", "balance_current": balance,
             "balance_as_of": as_of},
            {"id": "fca_jpy", "display_name": "Tokyo", "currency": "jpy", "balance_current": 0,
             "balance_as_of": FAR_FUTURE},
        ],
    )  # fmt: skip


def test_posted_flows_are_split_into_inflow_and_negative_outflow() -> None:
    rows = [txn(5000, at(2024, 1, 3)), txn(-1250, at(2024, 1, 9)), txn(-750, at(2024, 1, 20))]

    flows = cash_flow(frame(TXN, rows), accounts())

    assert flows.select("inflow", "outflow", "net", "transaction_count").rows() == [(5000, -2000, 3000, 3)]
    assert (date(2024, 1, 1), date(2024, 2, 1)) == flows.select("period_start", "period_end").row(0)
    assert flows["account_name"].item() == "Checking"


def test_pending_is_shown_apart_and_void_is_never_counted() -> None:
    rows = [txn(1000, at(2024, 1, 3)), txn(400, at(2024, 1, 4), "pending"), txn(9999, at(2024, 1, 5), "void")]

    flows = cash_flow(frame(TXN, rows), accounts())

    expected = [(1000, 1000, 1, 400, 1)]
    assert (
        expected == flows.select("inflow", "net", "transaction_count", "pending_net", "pending_count").rows()
    )


def test_jpy_major_column_is_in_yen_and_usd_in_dollars() -> None:
    rows = [txn(1500, at(2024, 1, 3), account="fca_jpy"), txn(1999, at(2024, 1, 3))]

    flows = cash_flow(frame(TXN, rows), accounts()).sort("currency")

    assert [Decimal("1500"), Decimal("19.99")] == flows["net_major"].to_list()


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("UTC", date(2024, 1, 15)),
        ("Europe/Paris", date(2024, 1, 16)),
        ("America/New_York", date(2024, 1, 15)),
    ],
)
def test_day_buckets_follow_the_local_calendar(timezone: str, expected: date) -> None:
    rows = [txn(100, at(2024, 1, 15, 23, 30))]

    flows = cash_flow(frame(TXN, rows), accounts(), period="day", timezone=timezone)

    assert [expected] == flows["period_start"].to_list()


def test_weeks_start_on_monday_and_quarters_on_the_quarter() -> None:
    rows = [txn(100, at(2024, 5, 16))]  # a Thursday

    week = cash_flow(frame(TXN, rows), accounts(), period="week")
    quarter = cash_flow(frame(TXN, rows), accounts(), period="quarter")

    assert (date(2024, 5, 13), date(2024, 5, 20)) == week.select("period_start", "period_end").row(0)
    assert (date(2024, 4, 1), date(2024, 7, 1)) == quarter.select("period_start", "period_end").row(0)


def test_quiet_periods_get_zero_rows_and_every_account_gets_every_period() -> None:
    rows = [txn(100, at(2024, 1, 5)), txn(-40, at(2024, 3, 5)), txn(7, at(2024, 2, 5), account="fca_jpy")]

    flows = cash_flow(frame(TXN, rows), accounts(balance=60))

    usd = flows.filter(pl.col("account") == "fca_usd")
    assert usd["net"].to_list() == [100, 0, -40]
    assert usd["running_balance"].to_list() == [100, 100, 60]
    assert flows.filter(pl.col("account") == "fca_jpy").height == 3


def test_running_balance_counts_back_from_the_current_balance() -> None:
    rows = [txn(3000, at(2024, 1, 10)), txn(-1000, at(2024, 2, 3)), txn(500, at(2024, 2, 20))]
    as_of = at(2024, 2, 15)  # the February 20 transaction is not in the current balance yet

    flows = cash_flow(frame(TXN, rows), accounts(balance=10_000, as_of=as_of))

    assert flows["running_balance"].to_list() == [11_000, 10_500]


def test_running_balance_ends_at_the_current_balance_when_as_of_is_after_everything() -> None:
    rows = [txn(3000, at(2024, 1, 10)), txn(-1000, at(2024, 2, 3)), txn(-50, at(2024, 3, 1), "pending")]

    flows = cash_flow(frame(TXN, rows), accounts(balance=12_345, as_of=at(2024, 6, 1)))

    assert flows["running_balance"][-1] == 12_345


def test_running_balance_is_null_without_a_balance_or_as_of() -> None:
    rows = [txn(100, at(2024, 1, 5)), txn(100, at(2024, 1, 5), account="fca_eur")]

    flows = cash_flow(frame(TXN, rows), accounts(balance=500, as_of=None))

    assert flows["running_balance"].to_list() == [None, None]


def test_start_and_end_limit_flows_but_not_the_balance_history() -> None:
    rows = [txn(100, at(2024, 1, 5)), txn(20, at(2024, 2, 5)), txn(3, at(2024, 4, 5))]

    flows = cash_flow(frame(TXN, rows), accounts(balance=123), start=date(2024, 2, 1), end=date(2024, 4, 1))

    assert [date(2024, 2, 1), date(2024, 3, 1)] == flows["period_start"].to_list()
    assert flows["net"].to_list() == [20, 0]
    assert flows["running_balance"].to_list() == [120, 120]


def test_empty_inputs_give_the_fixed_schemas() -> None:
    no_transactions = frame(TXN, [])

    assert cash_flow(no_transactions, frame(ACCOUNT, [])).schema == CASH_FLOW_SCHEMA
    assert cash_flow(no_transactions, accounts(), start=date(2024, 1, 1)).schema == CASH_FLOW_SCHEMA
    assert top_counterparties(no_transactions).schema == COUNTERPARTIES_SCHEMA
    assert cash_flow(no_transactions, accounts()).height == 0


def test_only_void_transactions_give_no_rows() -> None:
    flows = cash_flow(frame(TXN, [txn(5, at(2024, 1, 1), "void")]), accounts())

    assert (flows.height, flows.schema) == (0, CASH_FLOW_SCHEMA)


def test_bad_arguments_raise_configuration_errors() -> None:
    transactions = frame(TXN, [txn(5, at(2024, 1, 1))])

    with pytest.raises(ConfigurationError, match="period"):
        cash_flow(transactions, accounts(), period="fortnight")
    with pytest.raises(ConfigurationError, match="timezone"):
        cash_flow(transactions, accounts(), timezone="Mars/Olympus")
    with pytest.raises(ConfigurationError, match=r"financial_connections\.account"):
        cash_flow(transactions, transactions)
    with pytest.raises(ConfigurationError, match="n must be"):
        top_counterparties(transactions, -1)


def test_top_counterparties_rank_posted_outflow_per_currency() -> None:
    rows = [
        txn(-500, at(2024, 1, 1), description="Rent"),
        txn(-300, at(2024, 1, 2), description="AWS"),
        txn(-300, at(2024, 1, 3), description="AWS"),
        txn(-100, at(2024, 1, 4), description=None),
        txn(-900, at(2024, 1, 5), "pending", description="Pending"),
        txn(5000, at(2024, 1, 6), description="Customer"),
        txn(-70, at(2024, 1, 7), account="fca_jpy", description="Rent"),
    ]

    top = top_counterparties(frame(TXN, rows), n=2)

    expected = [("jpy", 1, "Rent", -70, 1), ("usd", 1, "AWS", -600, 2), ("usd", 2, "Rent", -500, 1)]
    assert expected == top.select("currency", "rank", "counterparty", "outflow", "transaction_count").rows()
    assert NO_DESCRIPTION in top_counterparties(frame(TXN, rows), n=5)["counterparty"].to_list()


def test_filter_transactions_combines_every_filter() -> None:
    rows = [
        txn(1, at(2024, 1, 31, 23, 30)),  # February 1 in Paris
        txn(2, at(2024, 2, 10), "pending"),
        txn(3, at(2024, 2, 10), account="fca_jpy"),
        txn(4, at(2024, 3, 1)),
    ]
    transactions = frame(TXN, rows)

    def amounts(**filters: Any) -> list[int]:
        return filter_transactions(transactions, **filters)["amount"].to_list()

    assert amounts(
        accounts="fca_usd", start=date(2024, 2, 1), end=date(2024, 3, 1), timezone="Europe/Paris"
    ) == [1, 2]
    assert amounts(accounts="fca_usd", start=date(2024, 2, 1), end=date(2024, 3, 1)) == [2]
    assert amounts(currencies=["JPY"]) == [3]
    assert amounts(statuses=["posted"]) == [1, 3, 4]
    assert amounts() == [1, 2, 3, 4]


# -- identities on generated frames --------------------------------------------------------------

transaction_rows = st.lists(
    st.builds(
        txn,
        amount=st.integers(-(10**9), 10**9),
        when=st.datetimes(datetime(2023, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)),
        status=st.sampled_from(["posted", "posted", "pending", "void"]),
        account=st.sampled_from(sorted(CURRENCY_OF)),
    ),
    max_size=40,
)
periods = st.sampled_from(["day", "week", "month", "quarter", "year"])
timezones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
instants = st.datetimes(datetime(2022, 6, 1), datetime(2026, 6, 1), timezones=st.just(UTC))


def posted_sums(transactions: pl.DataFrame, status: str = "posted") -> dict[tuple[str, str], int]:
    sums = (
        transactions.filter(pl.col("status") == status)
        .group_by("account", "currency")
        .agg(pl.col("amount").sum())
    )
    return {(a, c): s for a, c, s in sums.rows() if s != 0}


def flow_sums(flows: pl.DataFrame, column: str) -> dict[tuple[str, str], int]:
    sums = flows.group_by("account", "currency").agg(pl.col(column).sum())
    return {(a, c): s for a, c, s in sums.rows() if s != 0}


@settings(max_examples=30, deadline=None)
@given(
    rows=transaction_rows,
    period=periods,
    timezone=timezones,
    as_of=instants,
    balance=st.integers(-(10**9), 10**9),
)
def test_net_adds_up_to_posted_amounts_and_balances_chain(
    rows: list[dict[str, Any]], period: str, timezone: str, as_of: datetime, balance: int
) -> None:
    transactions = frame(TXN, rows)

    flows = cash_flow(transactions, accounts(balance, as_of), period=period, timezone=timezone)

    assert flows.schema == CASH_FLOW_SCHEMA
    assert posted_sums(transactions) == flow_sums(flows, "net")
    assert posted_sums(transactions, "pending") == flow_sums(flows, "pending_net")
    assert flows.select((pl.col("inflow") + pl.col("outflow") == pl.col("net")).all()).item() in (True, None)
    usd = flows.filter(pl.col("account") == "fca_usd")
    if usd.height:
        posted = transactions.filter((pl.col("status") == "posted") & (pl.col("account") == "fca_usd"))
        after_as_of = posted.filter(pl.col("transacted_at") > as_of)["amount"].sum()
        assert balance + after_as_of == usd["running_balance"][-1]
        steps = usd["running_balance"].diff().drop_nulls()
        assert usd["net"].slice(1).to_list() == steps.to_list()


@settings(max_examples=30, deadline=None)
@given(
    rows=transaction_rows,
    period=periods,
    timezone=timezones,
    bounds=st.lists(instants, min_size=2, max_size=2),
)
def test_net_in_a_range_equals_posted_amounts_in_that_range(
    rows: list[dict[str, Any]], period: str, timezone: str, bounds: list[datetime]
) -> None:
    start, end = sorted(bounds)
    transactions = frame(TXN, rows)

    flows = cash_flow(transactions, accounts(), period=period, timezone=timezone, start=start, end=end)

    in_range = filter_transactions(transactions, start=start, end=end)
    assert posted_sums(in_range) == flow_sums(flows, "net")


@settings(max_examples=40, deadline=None)
@given(
    rows=transaction_rows,
    period=periods,
    timezone=timezones,
    bounds=st.lists(st.none() | st.dates(date(2022, 12, 1), date(2026, 1, 31)), min_size=2, max_size=2),
    chosen=st.none() | st.lists(st.sampled_from(sorted(CURRENCY_OF)), max_size=3),
    currency=st.none() | st.sampled_from(["USD", "jpy"]),
    include_pending=st.booleans(),
    as_of=instants,
)
def test_cash_flow_from_daily_equals_cash_flow_of_the_same_transactions(
    rows: list[dict[str, Any]],
    period: str,
    timezone: str,
    bounds: list[date | None],
    chosen: list[str] | None,
    currency: str | None,
    include_pending: bool,
    as_of: datetime,
) -> None:
    start, end = bounds
    if start is not None and end is not None and start > end:
        start, end = end, start
    transactions, balances = frame(TXN, rows), accounts(1_000, as_of)
    statuses = ("posted", "pending") if include_pending else ("posted",)
    expected = cash_flow(
        filter_transactions(transactions, accounts=chosen, currencies=currency, statuses=statuses),
        balances,
        period=period,
        timezone=timezone,
        start=start,
        end=end,
    )

    days = daily_flows(transactions, balances, timezone)
    chosen_days = filter_days(days, accounts=chosen, currencies=currency, include_pending=include_pending)
    got = cash_flow_from_daily(chosen_days, balances, period=period, start=start, end=end)

    assert DAILY_SCHEMA == days.schema
    assert expected.equals(got)


def test_daily_flows_of_no_transactions_has_the_schema() -> None:
    days = daily_flows(frame(TXN, []), accounts())
    assert (DAILY_SCHEMA, 0) == (days.schema, days.height)
    assert CASH_FLOW_SCHEMA == cash_flow_from_daily(days, accounts(), start=date(2024, 1, 1)).schema


# -- balances follow postings, not transaction dates ----------------------------------------------


def test_balance_counts_what_had_posted_by_as_of_not_what_was_transacted() -> None:
    as_of = at(2024, 1, 15, 12)
    rows = [
        txn(100, at(2024, 1, 10), status_transitions_posted_at=at(2024, 1, 11)),  # in the balance
        txn(20, at(2024, 1, 14), status_transitions_posted_at=at(2024, 1, 16)),  # posted after as_of
        txn(7, at(2024, 1, 14), "void", status_transitions_void_at=at(2024, 1, 16)),  # pending, then void
        txn(3, at(2024, 1, 15), "pending"),  # still pending
    ]
    transactions, balances = frame(TXN, rows), accounts(1_000, as_of)

    flows = cash_flow(transactions, balances, period="day", start=date(2024, 1, 13), end=date(2024, 1, 18))

    assert [(1_000,)] == balance_at(transactions, balances, as_of).filter(
        pl.col("account") == "fca_usd"
    ).select("balance").rows()
    expected = {date(2024, 1, 13): 1_000, date(2024, 1, 15): 1_000, date(2024, 1, 16): 1_020}
    got = dict(flows.filter(pl.col("account") == "fca_usd").select("period_start", "running_balance").rows())
    assert expected == {day: got[day] for day in expected}
    assert 20 == flows["net"].sum()  # flows stay on transaction days: only the Jan 14 posting is in range


def test_a_transaction_voided_after_posting_leaves_the_balance_when_voided() -> None:
    rows = [
        txn(50, at(2024, 1, 10), "void", status_transitions_posted_at=at(2024, 1, 10),
            status_transitions_void_at=at(2024, 1, 20)),
    ]  # fmt: skip
    transactions, balances = frame(TXN, rows), accounts(500, at(2024, 1, 15))

    balances_on = [
        balance_at(transactions, balances, moment).filter(pl.col("account") == "fca_usd")["balance"].item()
        for moment in (at(2024, 1, 9), at(2024, 1, 15), at(2024, 1, 21))
    ]

    assert [450, 500, 450] == balances_on


lifecycles = st.lists(
    st.builds(
        lambda amount, when, status, posts_after, voided_after, account: txn(
            amount,
            when,
            status,
            account,
            status_transitions_posted_at=when + posts_after if status == "posted" else None,
            status_transitions_void_at=when + voided_after if status == "void" else None,
        ),
        amount=st.integers(-(10**9), 10**9),
        when=st.datetimes(datetime(2023, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)),
        status=st.sampled_from(["posted", "posted", "pending", "void"]),
        posts_after=st.timedeltas(timedelta(0), timedelta(days=45)),
        voided_after=st.timedeltas(timedelta(0), timedelta(days=10)),
        account=st.sampled_from(sorted(CURRENCY_OF)),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(rows=lifecycles, as_of=instants, balance=st.integers(-(10**9), 10**9), timezone=timezones)
def test_rebuilt_balance_at_as_of_is_balance_current_and_each_day_ends_at_balance_at(
    rows: list[dict[str, Any]], as_of: datetime, balance: int, timezone: str
) -> None:
    transactions, balances = frame(TXN, rows), accounts(balance, as_of)

    assert (
        balance
        == balance_at(transactions, balances, as_of).filter(pl.col("account") == "fca_usd")["balance"].item()
    )
    days = cash_flow(transactions, balances, period="day", timezone=timezone).filter(
        pl.col("account") == "fca_usd"
    )
    for index in {0, days.height // 2, days.height - 1} if days.height else ():
        row = days.row(index, named=True)
        end_of_day = to_utc(row["period_end"], timezone) - timedelta(microseconds=1)
        expected = balance_at(transactions, balances, end_of_day).filter(pl.col("account") == "fca_usd")
        assert expected["balance"].item() == row["running_balance"]
