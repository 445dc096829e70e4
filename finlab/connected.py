"""Connect platforms: which accounts a connection reads, and its frames across them.

``connect(api_key, stripe_account=...)`` takes ``None`` (the key's own account), one connected account
(``"acct_..."``), several (a list) or ``"all"``: the platform's own account and every connected account
``GET /v1/accounts`` lists. Every frame has a ``stripe_account`` column (`COLUMN`): the connected
account a row belongs to, null for the key's own account.

With several accounts a `Platform` asks each account in turn, through one HTTP client and one rate
budget (`finlab.client.AsyncClient.on_behalf_of`), and concatenates the frames. An account Stripe
refuses (403: the platform lost access, or a permission is missing; 404) is reported with an
`AccountSkippedWarning` and skipped; the others go on.

Examples
--------
>>> choose(["acct_1Abc", "acct_1Abc"])
Accounts(ids=('acct_1Abc',), everyone=False)
>>> choose("all")
Accounts(ids=(), everyone=True)
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from finlab.client import AsyncClient
from finlab.errors import (
    AccountSkippedWarning,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PaginationError,
    PermissionError,
    StripeError,
)
from finlab.pagination import aiter_objects
from finlab.resources import ACCOUNT_COLUMN
from finlab.settings import ClientConfig, check_stripe_account

if TYPE_CHECKING:
    from finlab.connection import Connection
    from finlab.session import Runner
    from finlab.sync import SyncReport

T = TypeVar("T")
ALL = "all"
#: The column every frame gains: the connected account of the row (null: the key's own account).
COLUMN = ACCOUNT_COLUMN
#: What skips one account instead of stopping the others: in a frame, Stripe refusing the account; in a
#: sync, any failure of the account's sync (it keeps what it committed) but a key Stripe does not accept.
SKIPPED = (PermissionError, NotFoundError)
SYNC_SKIPPED = (StripeError, PaginationError)
#: Methods that need ids, and those that take them (ids belong to one account: refused with several).
_BY_ID = frozenset({"tax_calculations", "tax_calculation_line_items"})
_ID_ARGUMENTS = {
    "tax_transactions": ("ids", "payment_intents"),
    "tax_line_items": ("ids", "payment_intents"),
    "transactions": ("account",),
}


@dataclass(frozen=True)
class Accounts:
    """Several accounts: these ``ids``, or (``everyone``) the platform and all it lists."""

    ids: tuple[str, ...]
    everyone: bool = False


def choose(stripe_account: str | Iterable[str] | None) -> str | Accounts | None:
    """The account (or accounts) asked for, checked before any request."""
    if stripe_account is None:
        return None
    if isinstance(stripe_account, str):
        return Accounts((), everyone=True) if stripe_account == ALL else check_stripe_account(stripe_account)
    ids = [check_stripe_account(account) for account in stripe_account]
    if not ids:
        msg = "stripe_account=[] names no account: pass 'acct_...' ids, 'all', or leave it out."
        raise ConfigurationError(msg)
    return Accounts(tuple(str(account) for account in dict.fromkeys(ids)))


def tag(frame: pl.DataFrame, account: str | None) -> pl.DataFrame:
    """``frame`` with its `COLUMN` set to ``account`` (the last column, also on an empty frame)."""
    return frame.drop(COLUMN, strict=False).with_columns(pl.lit(account, pl.String).alias(COLUMN))


async def listed(client: AsyncClient) -> list[str]:
    """The connected accounts ``GET /v1/accounts`` lists, 100 a page."""
    return [str(account["id"]) async for account in aiter_objects(client, "/v1/accounts")]


class AccountSession:
    """A connection's session, reading on behalf of one connected account (shares client and budget)."""

    def __init__(self, session: Runner, config: ClientConfig) -> None:
        self._session = session
        self.config = config

    def run(self, job: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``job`` on the shared client, with this account's ``Stripe-Account`` header."""
        account = self.config.stripe_account
        return self._session.run(lambda client: job(client.on_behalf_of(account)))

    def close(self) -> None:
        """Nothing to close: the platform's connection owns the client."""


@dataclass
class PlatformSyncReport:
    """What a sync of several accounts did: each account's `finlab.sync.SyncReport`, or why it was skipped."""

    synced: dict[str, SyncReport] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        """Requests sent for every account."""
        return sum(report.requests for report in self.synced.values())

    def __str__(self) -> str:
        lines = [f"Synced {len(self.synced)} accounts, skipped {len(self.skipped)}: {self.requests} requests"]
        lines += [f"  {account}: synced, {r.requests} requests" for account, r in self.synced.items()]
        lines += [f"  {account}: skipped, {reason}" for account, reason in self.skipped.items()]
        return "\n".join(lines)


class Platform:
    """The accounts of one connection with several: each read through its own child `Connection`."""

    def __init__(
        self, chosen: Accounts, session: Runner, config: ClientConfig, *, store: str | None, is_demo: bool
    ) -> None:
        self._chosen, self._session, self._config = chosen, session, config
        self._store, self._is_demo = store, is_demo
        self._ids: list[str | None] | None = None
        self._children: dict[str | None, Connection] = {}

    def accounts(self) -> list[str | None]:
        """The accounts read, in order (None: the key's own account); "all" lists them once."""
        if self._ids is None:
            chosen = self._chosen
            self._ids = [None, *self._session.run(listed)] if chosen.everyone else list(chosen.ids)
        return self._ids

    def child(self, account: str | None) -> Connection:
        """The connection reading ``account`` (made once)."""
        if account not in self._children:
            from finlab.connection import Connection

            config = dataclasses.replace(self._config, stripe_account=account)
            session = AccountSession(self._session, config)
            self._children[account] = Connection(
                config.api_key,
                stripe_account=account,
                base_url=config.base_url,
                retry=config.retry,
                limits=config.limits,
                transport=config.transport,
                budget=config.budget,  # the config as the parent's; requests go through its session
                is_demo=self._is_demo,
                store=self._store,
                session=session,
            )
        return self._children[account]

    def each(self, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> pl.DataFrame:
        """``method`` of every account, concatenated; a refused account is reported and skipped."""
        frames, refused = [], None
        for account in self.accounts():
            try:
                frame: pl.DataFrame = getattr(self.child(account), method)(*args, **kwargs)
                frames.append(frame)
            except SKIPPED as exc:
                refused = refused or exc
                warnings.warn(skip_message(account, exc), AccountSkippedWarning, stacklevel=3)
        if not frames and refused is not None:
            raise refused
        return pl.concat(frames, how="vertical")

    def sync(self, resources: Any, progress: bool, batch_pages: int = 10) -> PlatformSyncReport:
        """Sync every account into its own part of the store; a refused account is skipped."""
        report, failed = PlatformSyncReport(), None
        for account in self.accounts():
            try:
                done = self.child(account).sync(resources, progress=progress, batch_pages=batch_pages)
            except SYNC_SKIPPED as exc:
                if isinstance(exc, AuthenticationError):  # the key, not the account: every one would fail
                    raise
                failed = failed or exc
                report.skipped[account or "own account"] = str(exc)
                warnings.warn(skip_message(account, exc), AccountSkippedWarning, stacklevel=3)
                continue
            assert not isinstance(done, PlatformSyncReport)
            report.synced[done.account] = done
        if not report.synced and failed is not None:
            raise failed
        return report


def skip_message(account: str | None, exc: StripeError | PaginationError) -> str:
    """Why ``account`` was skipped, and what to do about it."""
    who = account or "the key's own account"
    status = exc.status if isinstance(exc, StripeError) else None
    said = (exc.stripe_message if isinstance(exc, StripeError) else None) or str(exc)
    if status in (403, 404):
        return (
            f"finlab skipped {who}: Stripe answered {status} ({said.rstrip('.')}). Check that the account "
            "is still connected to the platform and that the key may read it (Dashboard > Connect); "
            "the other accounts were read."
        )
    return f"finlab skipped {who}: {said.rstrip('.')}. The other accounts were read; run the sync again."


def per_account(method: Callable[..., pl.DataFrame]) -> Callable[..., pl.DataFrame]:
    """Wrap a frame method of `finlab.Connection`: tag its frame, or ask each account if there are several."""

    @functools.wraps(method)
    def wrapper(self: Connection, *args: Any, **kwargs: Any) -> pl.DataFrame:
        platform = self._platform
        if platform is None:
            return tag(method(self, *args, **kwargs), self.config.stripe_account)
        if method.__name__ in _BY_ID or _with_ids(method.__name__, args, kwargs):
            msg = (
                f"stripe.{method.__name__}() with ids reads one account's objects: connect with "
                "stripe_account='acct_...' (the account they belong to) instead of several."
            )
            raise ConfigurationError(msg)
        return platform.each(method.__name__, args, kwargs)

    return wrapper


def per_account_methods(cls: type[Connection], names: Iterable[str]) -> None:
    """Wrap each frame method of ``cls`` named in ``names`` with `per_account`."""
    for name in names:
        if hasattr(cls, name):
            setattr(cls, name, per_account(getattr(cls, name)))


def _with_ids(method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """Whether a call of ``method`` names ids (positionally or by keyword)."""
    names = _ID_ARGUMENTS.get(method, ())
    given = dict(zip(names, args, strict=False))
    given.update((name, kwargs[name]) for name in names if name in kwargs)
    return any(value is not None for value in given.values())
