"""A platform of any size whose FC transactions are computed on demand, never held in memory.

`SyntheticPlatform` spreads ``transactions`` Financial Connections transactions evenly over
``connected_accounts`` connected accounts with ``fc_accounts`` FC accounts each. Every transaction is
a pure function of its FC account and its position in that account's newest-first list, so a
`DemoStripe` serves ten million of them from a few kilobytes: each list is a `Sequence` that makes an
object when indexed, its sort keys are computed the same way, and a cursor id is parsed back into
its position (`finlab.demo.server.Listing`). Answers are the same on every run and every machine.

The connected account of each FC account is fixed (`SyntheticPlatform.connected`), so a server that
routes ``Stripe-Account`` can serve each one its own share (``dataset(stripe_account)``,
``listings(stripe_account)``); without one, every FC account belongs to the key's own account.

Examples
--------
>>> from finlab.demo import DemoStripe
>>> platform = SyntheticPlatform(transactions=10_000_000)
>>> stripe = DemoStripe(platform.dataset(), listings=platform.listings())
>>> first = platform.listings()[(TRANSACTION, platform.fc_account_ids()[0])].items[0]
>>> first["object"], first["account"] == platform.fc_account_ids()[0]
('financial_connections.transaction', True)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

from finlab.demo.clock import DAY, DEMO_NOW, Calendar
from finlab.demo.dataset import (
    ACCOUNT,
    ALPHABET,
    TRANSACTION,
    Dataset,
    Json,
    base62,
    fc_account,
    fc_balance,
    refresh_id,
    timestamp,
)
from finlab.demo.server import Listing

__all__ = ["SyntheticPlatform"]

T = TypeVar("T")
_MASK = (1 << 64) - 1
_CURRENCIES = ("usd", "eur", "gbp")
_MERCHANTS = ("AWS", "Payroll", "Stripe payout", "Office rent", "Card spend", "Wire in", "Refund")
#: Transactions younger than this may still be pending, as at a real bank.
_PENDING_AGE = 2 * DAY


def _mix(value: int) -> int:
    """A 64-bit hash of ``value`` (splitmix64's finaliser): the source of every synthetic choice."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _number(code: str) -> int:
    value = 0
    for char in code:
        value = value * len(ALPHABET) + ALPHABET.index(char)
    return value


@dataclass(frozen=True)
class _Account:
    """One FC account's share: where its transactions sit in time and how many there are."""

    index: int
    id: str
    currency: str
    count: int
    first: int  # transacted_at of the oldest transaction
    last: int  # transacted_at of the newest
    refresh: str
    seed: int

    def transacted_at(self, position: int) -> int:
        """Newest first: ``last`` at position 0, falling evenly to ``first``."""
        return self.last - (position * (self.last - self.first)) // max(1, self.count)

    def txn_id(self, position: int) -> str:
        filler = base62(_mix(self.seed ^ (self.index << 40) ^ position), 14)
        return f"fctxn_{base62(self.index, 4)}{base62(position, 6)}{filler}"

    def key(self, position: int) -> int:
        """The negated ``transacted_at`` at ``position`` (ascending), for the server's bisection."""
        return -self.transacted_at(position)

    def transaction(self, position: int) -> Json:
        """The transaction at ``position`` of this account's newest-first list."""
        at = self.transacted_at(position)
        draw = _mix(self.seed ^ (self.index << 40) ^ position ^ (1 << 63))
        roll, size = draw % 1000, (draw >> 16) % 200_000
        posted: int | None = min(self.last, at + (draw >> 40) % DAY)
        void: int | None = None
        if roll < 10:
            posted, void = None, at + 3_600
        elif roll < 300 and at > self.last - _PENDING_AGE:
            posted = None
        amount = -(100 + size) if roll < 700 else 1_000 + size * 10
        return {
            "account": self.id,
            "amount": amount,
            "currency": self.currency,
            "description": _MERCHANTS[(draw >> 8) % len(_MERCHANTS)],
            "id": self.txn_id(position),
            "livemode": False,
            "object": TRANSACTION,
            "status": "posted" if posted is not None else "void" if void is not None else "pending",
            "status_transitions": {"posted_at": posted, "void_at": void},
            "transacted_at": at,
            "transaction_refresh": self.refresh,
            "updated": max(at, posted or 0, void or 0),
        }


class _Computed(Sequence[T]):
    """``count`` items, each made by ``item(position)`` when indexed (nothing is held)."""

    def __init__(self, length: int, item: Callable[[int], T]) -> None:
        self.length, self.item = length, item

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self.item(i) for i in range(*index.indices(len(self)))]
        return self.item(_checked(index, len(self)))


class _Positions(Mapping[str, int]):
    """Transaction id -> position, by parsing the id (no table of ten million entries)."""

    def __init__(self, account: _Account) -> None:
        self.account = account

    def __getitem__(self, key: str) -> int:
        code = key.removeprefix("fctxn_")
        if len(code) == 24 and all(char in ALPHABET for char in code):
            position = _number(code[4:10])
            if position < self.account.count and self.account.txn_id(position) == key:
                return position
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (self.account.txn_id(position) for position in range(self.account.count))

    def __len__(self) -> int:
        return self.account.count


def _checked(index: int, length: int) -> int:
    position = index + length if index < 0 else index
    if not 0 <= position < length:
        msg = "synthetic transaction index out of range"
        raise IndexError(msg)
    return position


@dataclass(frozen=True)
class SyntheticPlatform:
    """``transactions`` FC transactions over ``connected_accounts`` x ``fc_accounts`` FC accounts.

    The history is the demo account's two years; currencies rotate through usd, eur and gbp.
    """

    transactions: int
    connected_accounts: int = 10
    fc_accounts: int = 5
    seed: int = 1

    def _accounts(self) -> list[_Account]:
        calendar = Calendar(timestamp(DEMO_NOW))
        total = self.connected_accounts * self.fc_accounts
        rng = random.Random(self.seed)
        base, extra = divmod(self.transactions, total)
        return [
            _Account(
                index=index,
                id=f"fca_{base62(self.seed, 4)}Synthetic{base62(index, 11)}",
                currency=_CURRENCIES[index % len(_CURRENCIES)],
                count=base + (index < extra),
                first=calendar.start,
                last=calendar.cutoff - 600,
                refresh=refresh_id(rng, 1_000 + index),
                seed=self.seed,
            )
            for index in range(total)
        ]

    def connected_ids(self) -> list[str]:
        """The connected accounts' ids (``acct_...``), in order."""
        return [f"acct_1Synthetic{base62(k, 8)}" for k in range(self.connected_accounts)]

    def connected(self, fc_index: int) -> str:
        """The connected account that owns the ``fc_index``-th FC account."""
        return self.connected_ids()[fc_index // self.fc_accounts]

    def fc_account_ids(self, stripe_account: str | None = None) -> list[str]:
        """FC account ids: of one connected account, or (None) all of them."""
        return [account.id for account in self._mine(stripe_account)]

    def _mine(self, stripe_account: str | None) -> list[_Account]:
        accounts = self._accounts()
        if stripe_account is None:
            return accounts
        return [account for account in accounts if self.connected(account.index) == stripe_account]

    def dataset(self, stripe_account: str | None = None) -> Dataset:
        """A `Dataset` with the FC accounts (of one connected account, or all) and no transactions:
        serve it with `listings`."""
        calendar = Calendar(timestamp(DEMO_NOW))
        return Dataset({ACCOUNT: [_fc_account(a, calendar) for a in self._mine(stripe_account)]})

    def listings(self, stripe_account: str | None = None) -> dict[tuple[str, str | None], Listing]:
        """Each FC account's transaction list, for ``DemoStripe(..., listings=...)``."""
        return {
            (TRANSACTION, a.id): Listing(
                _Computed(a.count, a.transaction),
                _Computed(a.count, a.key),
                _Positions(a),
            )
            for a in self._mine(stripe_account)
        }


def _fc_account(account: _Account, calendar: Calendar) -> Json:
    """The ``financial_connections.account`` object of a synthetic FC account."""
    as_of = calendar.cutoff
    current = 1_000_000_000 + _mix(account.seed ^ account.index) % 1_000_000_000
    return fc_account(
        account_id=account.id,
        holder=f"cus_Synthetic{base62(account.index, 15)}",
        balance=fc_balance(account.currency, current, 0, as_of),
        created=account.first,
        names=(f"Synthetic {account.index:04d}", "Synthetic Bank", f"{account.index % 10_000:04d}"),
        subcategory="checking",
        refreshed=(account.refresh, calendar.cutoff),
    )
