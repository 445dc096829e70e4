"""What a client is built from: the key and where requests go (checked here), retries, read limits.

`ClientConfig` holds all of it, frozen and checked when it is made, so that a `finlab.Connection`
can validate its arguments without opening a client and build its one client from it later.

Examples
--------
>>> config = ClientConfig("rk_test_" + "x" * 24)
>>> config
ClientConfig(key='rk_test_…', stripe_account=None, base_url='https://api.stripe.com')
>>> redact("sk_live_" + "y" * 24)
'sk_live_…'
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from finlab import errors, resources

if TYPE_CHECKING:
    from finlab.policy import RateGate

#: The Stripe API version every request pins (``Stripe-Version``).
API_VERSION = "2026-07-29.dahlia"
DEFAULT_BASE_URL = "https://api.stripe.com"
#: Where Stripe serves file contents (report results): the only host besides the API's finlab talks to.
DEFAULT_FILES_URL = "https://files.stripe.com"
KEY_PATTERN = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$")


def key_mode(api_key: str) -> str:
    """``'live'`` or ``'test'`` for a well-formed secret or restricted key."""
    return "live" if api_key.split("_")[1] == "live" else "test"


def redact(api_key: str) -> str:
    """What may be shown of a key: its kind and mode only, e.g. ``'rk_live_…'``."""
    return api_key[:8] + "…" if KEY_PATTERN.fullmatch(api_key) else "<key>"


def check_api_key(api_key: str | None) -> str:
    """Return ``api_key`` if it is a usable secret or restricted key, else raise a clear error."""
    if api_key is None or not api_key.strip():
        msg = (
            "No Stripe API key: pass api_key='rk_live_...' or set STRIPE_API_KEY. "
            "Call finlab.connect() without a key to use the bundled demo account."
        )
        raise errors.AuthenticationError(msg)
    if api_key.startswith("pk_"):
        msg = (
            "That is a publishable key (pk_...), which cannot read data. Create a restricted key "
            "(rk_...) with read permissions in the Stripe Dashboard under Developers > API keys."
        )
        raise errors.ConfigurationError(msg)
    if not KEY_PATTERN.fullmatch(api_key):
        msg = (
            "The Stripe API key is malformed: expected sk_live_..., sk_test_..., rk_live_... or "
            "rk_test_... followed by letters and digits. Check for a truncated copy or stray spaces."
        )
        raise errors.ConfigurationError(msg)
    return api_key


def usable_key(key: str | None, notices: set[str]) -> str:
    """The key, checked; a missing one is an error, a live secret key gets advice once (``notices``)."""
    if not key:
        msg = (
            "No Stripe API key: pass api_key='rk_live_...' or set STRIPE_API_KEY. "
            "Leave out demo=False to use the bundled demo account instead."
        )
        raise errors.AuthenticationError(msg)
    if check_api_key(key).startswith("sk_live_") and "sk_live" not in notices:
        notices.add("sk_live")
        warnings.warn(
            "finlab only reads: a secret key (sk_live_...) can also move money. Create a restricted "
            "key (rk_live_...) with read-only permissions and use that instead.",
            UserWarning,
            stacklevel=3,
        )
    return key


def check_base_url(base_url: str) -> str:
    """Refuse a base URL that would send the key in clear text to another machine."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return base_url.rstrip("/")
    if parts.scheme == "http" and is_loopback(host):
        return base_url.rstrip("/")
    msg = (
        f"base_url {base_url!r} is not allowed: the API key may only travel over https, "
        "or over http to a loopback address (127.0.0.1, ::1, localhost) for a local test server."
    )
    raise errors.ConfigurationError(msg)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry: retries per request, exponential backoff, full jitter."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                wait = max(wait, min(float(retry_after), self.max_delay))
        return wait


@dataclass(frozen=True)
class ReadLimits:
    """How long to wait for one answer and how much of it to read.

    Parameters
    ----------
    timeout, connect_timeout
        Seconds one read (or the connection) may take.
    deadline
        Seconds one attempt may take in all, body included: a body that trickles in fails then.
    max_body
        Bytes of one answer finlab reads at most, counted after decompression (a Stripe page of 100
        objects is well under 1 MB): a bigger body, such as a gzip bomb, fails as soon as it is.
    max_file
        The same for a file download (a report run's CSV from the files host).
    """

    timeout: float = 60.0
    connect_timeout: float = 10.0
    deadline: float = 120.0
    max_body: int = 64 * 2**20
    max_file: int = 2**30


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client is built from, checked on creation (the key never shows in its repr).

    Parameters
    ----------
    api_key
        A secret or restricted key.
    stripe_account
        Optional connected account (``acct_...``) sent as ``Stripe-Account``.
    base_url, files_url
        The API's and the files' host: https, or http to a loopback test server.
    retry, limits
        Retries, and how long and how much of an answer to read.
    transport
        An httpx transport, e.g. ``httpx.MockTransport(demo_server.handle)`` in tests.
    budget
        A rate budget every request waits on (see :mod:`finlab.budget`).
    """

    api_key: str = field(repr=False)
    stripe_account: str | None = None
    base_url: str = DEFAULT_BASE_URL
    files_url: str = field(default=DEFAULT_FILES_URL, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy, repr=False)
    limits: ReadLimits = field(default_factory=ReadLimits, repr=False)
    transport: Any = field(default=None, repr=False, compare=False)
    budget: RateGate | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_api_key(self.api_key)
        object.__setattr__(self, "stripe_account", check_stripe_account(self.stripe_account))
        object.__setattr__(self, "base_url", check_base_url(self.base_url))
        object.__setattr__(self, "files_url", check_base_url(self.files_url))

    def __repr__(self) -> str:
        return (
            f"ClientConfig(key={redact(self.api_key)!r}, stripe_account={self.stripe_account!r}, "
            f"base_url={self.base_url!r})"
        )

    @property
    def livemode(self) -> bool:
        """True for live keys."""
        return key_mode(self.api_key) == "live"


def check_stripe_account(stripe_account: str | None) -> str | None:
    """A connected account id (``acct_...``), or None; anything else raises a clear error."""
    if stripe_account is None:
        return None
    if not stripe_account.startswith("acct_"):
        # Never echo a key passed here by mistake.
        shown = redact(stripe_account) if stripe_account.startswith(("sk_", "rk_")) else stripe_account
        msg = f"stripe_account must be a connected account id (acct_...), got {shown!r}."
        raise errors.ConfigurationError(msg)
    return resources.check_id(stripe_account, "Account")
