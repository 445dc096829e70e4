"""Financial Connections: bank accounts (with their balances) and their transactions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finlab.resources.model import Col, Resource, first_value


def _balance(kind: str) -> Callable[[Mapping[str, Any]], Any]:
    """An FC account's balance in its own currency (``current`` or ``available``)."""
    currency_of = first_value(("balance", "current"))

    def get(obj: Mapping[str, Any]) -> Any:
        currency = currency_of(obj)
        balance = obj.get("balance") or {}
        source = balance.get("current") if kind == "current" else (balance.get("cash") or {}).get("available")
        return (source or {}).get(currency) if currency else None

    return get


#: Financial Connections accounts and transactions.
BANKING: tuple[Resource, ...] = (
    Resource(
        "financial_connections.account",
        "accounts",
        "fca_",
        "rak_financial_connections_account_read",
        (
            Col("id"),
            Col("display_name"),
            Col("institution_name"),
            Col("last4"),
            Col("category", enum=("cash", "credit", "investment", "other")),
            Col(
                "subcategory",
                enum=("checking", "credit_card", "line_of_credit", "mortgage", "other", "savings"),
            ),
            Col("status", enum=("active", "disconnected", "inactive")),
            Col("currency", derive=first_value(("balance", "current"))),
            Col("balance_current", "money", derive=_balance("current")),
            Col("balance_available", "money", derive=_balance("available")),
            Col("balance.as_of", "time"),
            Col("balance.type", enum=("cash", "credit")),
            Col("transaction_refresh.id"),
            Col("transaction_refresh.last_attempted_at", "time"),
            Col("transaction_refresh.status", enum=("failed", "pending", "succeeded")),
            Col("account_holder.type", enum=("account", "customer")),
            Col("account_holder.customer"),
            Col("permissions", "strings"),
            Col("subscriptions", "strings"),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/financial_connections/accounts",
        retrieve_path="/v1/financial_connections/accounts/{id}",
        filters=frozenset({"account_holder", "session"}),
        hidden=frozenset(
            {
                "object",
                "balance",
                "balance_refresh",
                "ownership",
                "ownership_refresh",
                "supported_payment_method_types",
                "inactive_at",
                "status_details",
            }
        ),
    ),
    Resource(
        "financial_connections.transaction",
        "transactions",
        "fctxn_",
        "rak_financial_connections_transaction_read",
        (
            Col("id"),
            Col("account"),
            Col("amount", "money"),
            Col("currency"),
            Col("description"),
            Col("status", enum=("pending", "posted", "void")),
            Col("transacted_at", "time"),
            Col("status_transitions.posted_at", "time"),
            Col("status_transitions.void_at", "time"),
            Col("transaction_refresh"),
            Col("updated", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/financial_connections/transactions",
        retrieve_path="/v1/financial_connections/transactions/{id}",
        filters=frozenset({"account", "transacted_at", "transaction_refresh"}),
        hidden=frozenset({"object"}),
    ),
)
