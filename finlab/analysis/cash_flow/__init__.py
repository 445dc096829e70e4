"""Cash flow of Financial Connections accounts: in, out, net and balance per period.

Input frames are ``financial_connections.transaction`` and ``financial_connections.account`` frames
(see :func:`finlab.resources.schema`). Choices, so that numbers add up the way an analyst expects:

- Only ``posted`` transactions count in ``inflow``, ``outflow``, ``net`` and the balance. ``pending``
  ones are shown apart (``pending_net``, ``pending_count``) and never enter ``net``; ``void`` ones are
  dropped.
- ``outflow`` is the sum of the negative amounts, kept **negative**, so ``net = inflow + outflow``.
- Each account and currency gets a row for *every* period between the first and the last one in range
  (zeros where nothing happened), so balances of accounts in one currency can be summed per period.
- ``running_balance`` is the balance at the end of the period, rebuilt from the account's
  ``balance_current`` at ``balance_as_of``. Stripe: a ``posted`` transaction "affects the account's
  balance", a ``pending`` one "does not yet", and a ``void`` one "no longer" does. So a transaction is
  in the balance from its posting (``status_transitions.posted_at``; ``transacted_at`` when a posted
  transaction lacks it) until it is voided (``status_transitions.void_at``), whatever its
  ``transacted_at``: a balance refreshed while transactions were pending, or before they posted,
  counts exactly those that had posted by ``as_of`` (`balance_at` gives it back). The balance moves
  on posting days, the flows on transaction days. It is null when the account, its balance or its
  ``as_of`` is unknown, or when the account's balance is in another currency.

The modules:

- :mod:`finlab.analysis.cash_flow.periods`: `cash_flow` and `cash_flow_from_daily`, the rows per period.
- :mod:`finlab.analysis.cash_flow.daily`: `daily_flows`, the per-day sums behind them, and the balance
  rebuild (`balance_at`).
- :mod:`finlab.analysis.cash_flow.filters`: `filter_transactions` and `filter_days`.
- :mod:`finlab.analysis.cash_flow.counterparties`: `top_counterparties`.

Examples
--------
>>> from finlab.frames import build
>>> jan_15, feb_1 = 1705312800, 1706745600
>>> transactions = build("financial_connections.transaction", [
...     {"id": "fctxn_1", "account": "fca_1", "amount": 5000, "currency": "usd", "status": "posted",
...      "description": "Sale", "transacted_at": jan_15},
...     {"id": "fctxn_2", "account": "fca_1", "amount": -1250, "currency": "usd", "status": "posted",
...      "description": "Rent", "transacted_at": jan_15},
... ])
>>> accounts = build("financial_connections.account", [
...     {"id": "fca_1", "display_name": "Checking", "balance": {"as_of": feb_1, "current": {"usd": 10000}}},
... ])
>>> cash_flow(transactions, accounts).select("inflow", "outflow", "net", "running_balance").row(0)
(5000, -1250, 3750, 10000)
"""

from __future__ import annotations

# Names written `X as X` are the modules' supporting constants: importable from here as before the
# split, but not part of `__all__`.
from finlab.analysis.cash_flow.counterparties import COUNTERPARTIES_SCHEMA, NO_DESCRIPTION, top_counterparties
from finlab.analysis.cash_flow.daily import ACCOUNT_COLUMNS as ACCOUNT_COLUMNS
from finlab.analysis.cash_flow.daily import COUNTS as COUNTS
from finlab.analysis.cash_flow.daily import DAILY_SCHEMA, balance_at, daily_flows
from finlab.analysis.cash_flow.daily import FLOWS as FLOWS
from finlab.analysis.cash_flow.daily import PAIR as PAIR
from finlab.analysis.cash_flow.daily import PENDING as PENDING
from finlab.analysis.cash_flow.daily import POSTED as POSTED
from finlab.analysis.cash_flow.daily import TRANSACTION_COLUMNS as TRANSACTION_COLUMNS
from finlab.analysis.cash_flow.filters import filter_days, filter_transactions
from finlab.analysis.cash_flow.periods import (
    CASH_FLOW_PERIODS,
    CASH_FLOW_SCHEMA,
    cash_flow,
    cash_flow_from_daily,
)
from finlab.analysis.cash_flow.periods import KEYS as KEYS

__all__ = [
    "CASH_FLOW_PERIODS",
    "CASH_FLOW_SCHEMA",
    "COUNTERPARTIES_SCHEMA",
    "DAILY_SCHEMA",
    "NO_DESCRIPTION",
    "balance_at",
    "cash_flow",
    "cash_flow_from_daily",
    "daily_flows",
    "filter_days",
    "filter_transactions",
    "top_counterparties",
]
