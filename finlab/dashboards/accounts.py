"""The connected-account control: which Stripe account's rows a dashboard shows (Connect platforms).

Frames of a connection that reads several accounts carry `finlab.resources.ACCOUNT_COLUMN`
(``stripe_account``: the connected account, null for the platform's own rows). The control offers
"All accounts", the platform's own account and each connected account found; it is hidden when the
frames hold one account only, so single-account dashboards look as before.

Examples
--------
>>> import polars as pl
>>> orders = pl.DataFrame({"id": ["a", "b"], "stripe_account": [None, "acct_1Abc"]})
>>> control = account_control(orders)
>>> [value for _, value in control.options]
['all', 'own', 'acct_1Abc']
>>> of_account(orders, "acct_1Abc")["id"].to_list()
['b']
"""

from __future__ import annotations

import ipywidgets as widgets
import polars as pl

from finlab.dashboards.base import check_choice
from finlab.resources import ACCOUNT_COLUMN

#: The control's value for every account, and for the platform's own rows (``stripe_account`` null).
ALL_ACCOUNTS = "all"
OWN_ACCOUNT = "own"


def account_control(frame: pl.DataFrame, value: str | None = None) -> widgets.Dropdown:
    """Dropdown of the accounts in ``frame`` plus "All accounts" (class ``finlab-stripe-account``)."""
    found = frame.get_column(ACCOUNT_COLUMN).unique().to_list() if ACCOUNT_COLUMN in frame.columns else []
    options = [("All accounts", ALL_ACCOUNTS)]
    if None in found:
        options.append(("Platform (own account)", OWN_ACCOUNT))
    options += [(account, account) for account in sorted(a for a in found if a is not None)]
    chosen = value or ALL_ACCOUNTS
    check_choice(chosen, [option for _, option in options], "stripe_account")
    dropdown = widgets.Dropdown(options=options, value=chosen, description="Account")
    if len(found) <= 1:
        dropdown.layout.display = "none"
    dropdown.add_class("finlab-control")
    dropdown.add_class("finlab-stripe-account")
    return dropdown


def of_account(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """The rows of the account the control chose (`ALL_ACCOUNTS`, or no such column: every row)."""
    if value == ALL_ACCOUNTS or ACCOUNT_COLUMN not in frame.columns:
        return frame
    if value == OWN_ACCOUNT:
        return frame.filter(pl.col(ACCOUNT_COLUMN).is_null())
    return frame.filter(pl.col(ACCOUNT_COLUMN) == value)
