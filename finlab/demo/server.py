"""A fake Stripe: the read endpoints finlab uses, answered from a `Dataset` the way Stripe would.

`DemoStripe.handle` turns one `httpx.Request` into one `httpx.Response`, so the server plugs into
`httpx.MockTransport` (sync and async clients) or a real socket (`finlab.demo.loopback`). It checks
the API key and its permissions, validates query parameters like Stripe (unknown parameters,
``limit``, cursors, ranges), lists newest first and answers errors with Stripe's error body.

Examples
--------
>>> import httpx
>>> from finlab.demo import DEMO_API_KEY, DemoStripe, default_dataset
>>> stripe = DemoStripe(default_dataset())
>>> client = httpx.Client(
...     transport=stripe.transport(),
...     base_url="https://api.stripe.com",
...     headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
... )
>>> client.get("/v1/climate/orders", params={"limit": 2}).json()["has_more"]
True
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qsl

import httpx

from finlab.client import API_VERSION
from finlab.demo.clock import DEMO_NOW
from finlab.demo.dataset import ACCOUNT, REFRESH_PREFIX, TRANSACTION, Dataset, Json
from finlab.demo.faults import Faults
from finlab.demo.limits import Limits
from finlab.demo.reporting import FILE, FILES_HOST, REPORT_RUN, REPORT_TYPE, RefusedError, RunDesk

#: The bundled demo account's restricted test key (public: it only opens the demo server).
DEMO_API_KEY = "rk_test_51FinlabDemoAccount0fflineNotebooksSyntheticData7"
DEMO_ACCOUNT_ID = "acct_1FinlabDemo000000"
#: The demo server's default time: a day after the demo account's "now" (2026-11-02 00:00 UTC).
DEMO_CLOCK = int(DEMO_NOW.timestamp()) + 86_400
#: How many recent requests `DemoStripe.requests` keeps.
REQUEST_LOG_SIZE = 100_000

Predicate = Callable[[Json], bool]
_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using "
    "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
    "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
)
_KEY_PREFIX = re.compile(r"(sk|rk|pk)_(test|live)_")
_QUERY_KEY = re.compile(r"(?P<name>\w+)(?:\[(?P<sub>\w*)\])?")
_REFRESH_ID = re.compile(re.escape(REFRESH_PREFIX) + "[0-9A-Za-z]{24}")


def mask_key(key: str) -> str:
    """Return ``key`` the way Stripe prints it: its prefix, ``****`` and its last four characters.

    >>> mask_key("rk_test_1234567890abcdef")
    'rk_test_****cdef'
    """
    prefix = match.group(0) if (match := _KEY_PREFIX.match(key)) else ""
    tail = key[-4:] if len(key) - len(prefix) >= 12 else ""
    return f"{prefix}****{tail}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered: what was asked and the status it got."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    status: int
    account: str | None = None  # the Stripe-Account header, if any


class _StripeError(Exception):
    """An error answer: HTTP status and the fields of Stripe's error object."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self, request_id: str) -> Json:
        error: Json = {"type": "invalid_request_error", "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def _unknown(key: str) -> _StripeError:
    return _StripeError(400, f"Received unknown parameter: {key}", code="parameter_unknown", param=key)


def _missing(object_type: str, object_id: str, param: str, status: int = 404) -> _StripeError:
    return _StripeError(status, f"No such {object_type}: '{object_id}'", code="resource_missing", param=param)


def _unrecognized(method: str, path: str) -> _StripeError:
    msg = (
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/."
    )
    return _StripeError(404, msg)


def _invalid_integer(raw: str, param: str) -> _StripeError:
    return _StripeError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=param)


# ------------------------------------------------------------------------------------ parameters


@dataclass
class _Query:
    """A request's query string, split into ``name=value``, ``name[key]=value`` and ``expand[]``."""

    scalars: dict[str, str] = field(default_factory=dict)
    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    expand: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: httpx.QueryParams) -> _Query:
        query = cls()
        for key, value in params.multi_items():
            match = _QUERY_KEY.fullmatch(key)
            if match is None:
                raise _unknown(key)
            name, sub = match["name"], match["sub"]
            if name == "expand":
                if sub is None or not (sub == "" or sub.isdigit()):
                    msg = "Invalid array"
                    raise _StripeError(400, msg, param="expand")
                query.expand.append(value)
            elif sub is None:
                query.scalars[name] = value
            else:
                query.objects.setdefault(name, {})[sub] = value
        return query

    def get(self, name: str) -> str | dict[str, str] | None:
        return self.objects.get(name, self.scalars.get(name))

    def check(self, specs: Mapping[str, _Spec]) -> None:
        """Reject parameters (or keys of parameters) the endpoint does not take."""
        for name in self.scalars:
            if name not in specs or not specs[name].scalar:
                raise _unknown(name)
        for name, values in self.objects.items():
            for key in values:
                if name not in specs or key not in specs[name].keys:
                    unknown = f"{name}[{key}]"
                    raise _unknown(unknown)


@dataclass(frozen=True)
class _Spec:
    """The forms a parameter takes: ``name=value`` (``scalar``) and/or ``name[key]=value``."""

    scalar: bool = True
    keys: frozenset[str] = frozenset()


_SCALAR = _Spec()
_PAGINATION = {"limit": _SCALAR, "starting_after": _SCALAR, "ending_before": _SCALAR}
_RANGE_KEYS = frozenset({"gt", "gte", "lt", "lte"})


@dataclass(frozen=True)
class _Range:
    """``field=<int>`` or ``field[gt|gte|lt|lte]=<int>`` on the field a list is sorted by."""

    scalar: bool = True

    @property
    def spec(self) -> _Spec:
        return _Spec(self.scalar, _RANGE_KEYS)

    @staticmethod
    def bounds(name: str, value: str | dict[str, str]) -> dict[str, int]:
        """Return ``{operator: int}``; a plain integer means ``gte`` and ``lte`` it."""
        items = {"gte": value, "lte": value} if isinstance(value, str) else value
        bounds = {}
        for operator, raw in items.items():
            try:
                bounds[operator] = int(raw)
            except ValueError:
                raise _invalid_integer(
                    raw, name if isinstance(value, str) else f"{name}[{operator}]"
                ) from None
        return bounds


@dataclass(frozen=True)
class _Partition:
    """A required parameter naming the parent whose objects are listed (FC transactions' ``account``)."""

    parent: str
    spec: ClassVar[_Spec] = _SCALAR


@dataclass(frozen=True)
class _Equals:
    """``name=value`` keeps objects whose ``field`` equals it; ``every`` is the no-filter value."""

    field: str
    choices: tuple[str, ...] = ()
    every: str | None = None
    spec: ClassVar[_Spec] = _SCALAR

    def compile(self, name: str, value: str | dict[str, str], index: _Index) -> Predicate | None:
        if not isinstance(value, str):
            raise _unknown(name)
        if self.choices and value not in self.choices:
            msg = f"Invalid {name}: must be one of {', '.join(self.choices[:-1])} or {self.choices[-1]}"
            raise _StripeError(400, msg, code="parameter_invalid_string", param=name)
        if value == self.every:
            return None
        return lambda obj: obj.get(self.field) == value


@dataclass(frozen=True)
class _Nested:
    """``name[key]=value`` keeps objects whose ``obj[name][key]`` equals it."""

    keys: frozenset[str]

    @property
    def spec(self) -> _Spec:
        return _Spec(scalar=False, keys=self.keys)

    def compile(self, name: str, value: str | dict[str, str], index: _Index) -> Predicate | None:
        wanted = dict(value) if isinstance(value, dict) else {}
        return lambda obj: all((obj.get(name) or {}).get(key) == want for key, want in wanted.items())


@dataclass(frozen=True)
class _Ignored:
    """Accepted without effect (FC accounts' ``session``: the demo links every account at once)."""

    spec: ClassVar[_Spec] = _SCALAR

    def compile(self, name: str, value: str | dict[str, str], index: _Index) -> Predicate | None:
        return None


@dataclass(frozen=True)
class _RefreshAfter:
    """``transaction_refresh[after]=<refresh id>``: transactions created or updated by a later refresh."""

    spec: ClassVar[_Spec] = _Spec(scalar=False, keys=frozenset({"after"}))

    def compile(self, name: str, value: str | dict[str, str], index: _Index) -> Predicate | None:
        after = value["after"] if isinstance(value, dict) else value
        if not (_REFRESH_ID.fullmatch(after) and after <= index.last_refresh):
            msg = f"No such transaction refresh: '{after}'"
            raise _StripeError(400, msg, code="resource_missing", param=f"{name}[after]")
        return lambda obj: bool(obj["transaction_refresh"] > after)


_Filter = _Range | _Partition | _Equals | _Nested | _Ignored | _RefreshAfter


# ---------------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class _Route:
    """One endpoint: its path template, what it serves and how it may be filtered."""

    template: str
    object_type: str
    # "list", "retrieve", "children" (a parent's line items), "find", "singleton", "account", "catalog"
    # (a whole list in one answer, no cursors) or "contents" (a file's bytes, on the files host only)
    kind: str
    permission: str
    filters: Mapping[str, _Filter] = field(default_factory=dict)
    parent: str | None = None

    @property
    def partition(self) -> str | None:
        """The required parameter choosing whose objects are listed, if any."""
        return next((name for name, filter_ in self.filters.items() if isinstance(filter_, _Partition)), None)

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.template).replace(re.escape("{id}"), r"(?P<id>[^/]+)"))

    def specs(self) -> dict[str, _Spec]:
        """Return the parameters this endpoint takes (``expand`` is always allowed)."""
        specs = dict(_PAGINATION) if self.kind in {"list", "children"} else {}
        if self.kind == "find":
            specs["payment_intent"] = _SCALAR
        specs.update({name: filter_.spec for name, filter_ in self.filters.items()})
        return specs


def _read(resource: str) -> str:
    return f"rak_{resource}_read"


def _resource(
    path: str,
    object_type: str,
    *,
    filters: Mapping[str, _Filter] | None = None,
    permission: str | None = None,
) -> tuple[_Route, _Route]:
    """Return the list and retrieve routes of a listable resource."""
    permission = permission or _read(object_type.replace(".", "_"))
    return (
        _Route(path, object_type, "list", permission, filters or {}),
        _Route(f"{path}/{{id}}", object_type, "retrieve", permission),
    )


_TAX_TRANSACTIONS = _read("tax_transaction")
_TAX_CALCULATIONS = _read("tax_calculation")
_ROUTES = (
    *_resource(
        "/v1/financial_connections/accounts",
        ACCOUNT,
        filters={"account_holder": _Nested(frozenset({"account", "customer"})), "session": _Ignored()},
    ),
    *_resource(
        "/v1/financial_connections/transactions",
        TRANSACTION,
        filters={
            "account": _Partition(ACCOUNT),
            "transacted_at": _Range(),
            "transaction_refresh": _RefreshAfter(),
        },
    ),
    _Route("/v1/tax/transactions/{id}", "tax.transaction", "retrieve", _TAX_TRANSACTIONS),
    _Route(
        "/v1/tax/transactions/{id}/line_items",
        "tax.transaction_line_item",
        "children",
        _TAX_TRANSACTIONS,
        parent="tax.transaction",
    ),
    _Route("/v1/tax/associations/find", "tax.association", "find", _TAX_TRANSACTIONS),
    _Route("/v1/tax/calculations/{id}", "tax.calculation", "retrieve", _TAX_CALCULATIONS),
    _Route(
        "/v1/tax/calculations/{id}/line_items",
        "tax.calculation_line_item",
        "children",
        _TAX_CALCULATIONS,
        parent="tax.calculation",
    ),
    *_resource(
        "/v1/tax/registrations",
        "tax.registration",
        filters={"status": _Equals("status", ("active", "all", "expired", "scheduled"), every="all")},
    ),
    _Route("/v1/tax/settings", "tax.settings", "singleton", _read("tax_settings")),
    _Route("/v1/account", "account", "account", _read("account")),
    *_resource("/v1/accounts", "account", filters={"created": _Range()}, permission=_read("account")),
    *_resource("/v1/climate/orders", "climate.order"),
    *_resource("/v1/climate/products", "climate.product"),
    *_resource("/v1/climate/suppliers", "climate.supplier"),
    *_resource(
        "/v1/identity/verification_sessions",
        "identity.verification_session",
        filters={
            "created": _Range(),
            "status": _Equals("status", ("canceled", "processing", "requires_input", "verified")),
            "client_reference_id": _Equals("client_reference_id"),
            "related_customer": _Equals("related_customer"),
            "related_customer_account": _Equals("related_customer_account"),
        },
    ),
    *_resource(
        "/v1/identity/verification_reports",
        "identity.verification_report",
        filters={
            "created": _Range(),
            "type": _Equals("type"),
            "verification_session": _Equals("verification_session"),
            "client_reference_id": _Equals("client_reference_id"),
        },
    ),
    *_resource("/v1/forwarding/requests", "forwarding.request", filters={"created": _Range(scalar=False)}),
    *_resource("/v1/webhook_endpoints", "webhook_endpoint"),
    *_resource("/v1/crypto/onramp_sessions", "crypto.onramp_session"),
    *_resource(
        "/v1/payment_intents",
        "payment_intent",
        filters={"created": _Range(), "customer": _Equals("customer")},
    ),
    *_resource(
        "/v1/refunds",
        "refund",
        filters={
            "created": _Range(),
            "payment_intent": _Equals("payment_intent"),
            "charge": _Equals("charge"),
        },
    ),
    _Route("/v1/reporting/report_types", REPORT_TYPE, "catalog", _read("reporting_report_type")),
    _Route("/v1/reporting/report_types/{id}", REPORT_TYPE, "retrieve", _read("reporting_report_type")),
    *_resource("/v1/reporting/report_runs", REPORT_RUN, filters={"created": _Range()}),
    *_resource("/v1/files", FILE, filters={"created": _Range(), "purpose": _Equals("purpose")}),
    _Route("/v1/files/{id}/contents", FILE, "contents", _read("file")),
)
#: The one write the demo accepts, as Stripe does: creating a report run (``POST``), with this permission.
REPORT_RUN_WRITE = "rak_reporting_report_run_write"
_COMPILED = tuple((route.pattern, route) for route in _ROUTES)
_LISTED = {route.object_type: route for route in _ROUTES if route.kind in {"list", "children"}}
#: The field each listed type is sorted by, newest first (None: kept in dataset order).
_ORDER: dict[str, str | None] = {
    TRANSACTION: "transacted_at",
    "climate.supplier": None,
    "tax.transaction_line_item": None,
    "tax.calculation_line_item": None,
}
_LINE_ITEMS = {"tax.transaction": "tax.transaction_line_item", "tax.calculation": "tax.calculation_line_item"}


# ----------------------------------------------------------------------------------------- index


@dataclass(frozen=True)
class Listing:
    """Objects of one list, newest first, with positions for cursors and keys for ranges.

    The sequences may make their items on demand (`finlab.demo.synthetic`): a page reads only its own.
    """

    items: Sequence[Json]
    keys: Sequence[int]  # negated sort keys (ascending), empty when kept in dataset order
    position: Mapping[str, int]

    @classmethod
    def build(cls, objects: list[Json], order: str | None) -> Listing:
        if order is not None:
            objects = sorted(objects, key=lambda obj: (obj[order], obj["id"]), reverse=True)
        keys = [-obj[order] for obj in objects] if order is not None else []
        return cls(objects, keys, {obj["id"]: index for index, obj in enumerate(objects)})

    def bounds(self, ranges: dict[str, int]) -> tuple[int, int]:
        """Return the slice of items whose sort key satisfies every ``{operator: value}``."""
        low, high = 0, len(self.items)
        for operator, value in ranges.items():
            if operator == "gte":
                high = min(high, bisect.bisect_right(self.keys, -value))
            elif operator == "gt":
                high = min(high, bisect.bisect_left(self.keys, -value))
            elif operator == "lte":
                low = max(low, bisect.bisect_left(self.keys, -value))
            else:
                low = max(low, bisect.bisect_right(self.keys, -value))
        return low, high

    def page(
        self, low: int, high: int, keep: list[Predicate], limit: int, *, backward: bool
    ) -> tuple[list[Json], bool]:
        """Return up to ``limit`` kept items of ``items[low:high]`` (the last ones if ``backward``)."""
        found: list[Json] = []
        for index in range(high - 1, low - 1, -1) if backward else range(low, high):
            if all(predicate(self.items[index]) for predicate in keep):
                found.append(self.items[index])
                if len(found) > limit:
                    break
        has_more, found = len(found) > limit, found[:limit]
        return (found[::-1] if backward else found), has_more


class _Index:
    """Lookups and newest-first lists of one version of a dataset."""

    def __init__(self, dataset: Dataset, listings: Mapping[tuple[str, str | None], Listing]):
        objects = dataset.objects
        self.version = dataset.version
        self.by_id = {
            kind: {obj["id"]: obj for obj in items if "id" in obj} for kind, items in objects.items()
        }
        self.settings = next(iter(objects.get("tax.settings", [])), None)
        self.associations = {obj["payment_intent"]: obj for obj in objects.get("tax.association", [])}
        # Refresh ids are numbered densely and sort by number: every id up to the latest was issued.
        self.last_refresh = max(
            (
                account["transaction_refresh"]["id"]
                for account in objects.get(ACCOUNT, [])
                if account["transaction_refresh"]
            ),
            default="",
        )
        groups: dict[tuple[str, str | None], list[Json]] = collections.defaultdict(list)
        for object_type, route in _LISTED.items():
            partition = route.partition
            for obj in objects.get(object_type, []):
                # A list holds one parent's objects: a transaction's line items, an account's transactions.
                if route.parent:
                    group = dataset.parents.get(obj["id"])
                else:
                    group = obj[partition] if partition else None
                groups[(object_type, group)].append(obj)
        self.lists = {
            key: Listing.build(items, _ORDER.get(key[0], "created")) for key, items in groups.items()
        }
        self.lists.update(listings)

    def lists_all(self, object_type: str) -> list[Json]:
        """Every object of ``object_type``, in dataset order."""
        return list(self.by_id.get(object_type, {}).values())

    def listing(self, object_type: str, group: str | None) -> Listing:
        return self.lists.get((object_type, group)) or Listing([], [], {})


# ---------------------------------------------------------------------------------------- server


class DemoStripe:
    """Stripe's read API over a `Dataset`, as a pure request handler.

    Parameters
    ----------
    dataset
        The account to serve. Changes made through its mutation methods (or followed by
        ``dataset.touch()``) are served from the next request on.
    api_keys
        API key -> the ``rak_*_read`` permissions it holds (``None``: every permission).
        Defaults to `DEMO_API_KEY` with full access.
    account_id
        The id ``GET /v1/account`` answers (another id simulates another key's account).
    faults
        Faults injected into answers (see `finlab.demo.faults`); None: every answer is sound.
    limits
        Latency and Stripe's rate limits (see `finlab.demo.limits`); None: instant and unlimited.
    clock
        Unix time now: when created report runs start and whether result files have expired.
        Defaults to `DEMO_CLOCK`, a day after the demo account's "now", so the bundled
        account answers the same whatever the date.
    files_host
        The host that serves file contents (``GET /v1/files/{id}/contents``), as files.stripe.com
        does; every other path is answered on any other host only.
    listings
        Lists served instead of the dataset's, keyed by object type and parent, e.g.
        ``{("financial_connections.transaction", "fca_..."): Listing(...)}``: lists too big to hold,
        made on demand (`finlab.demo.synthetic`).

    Notes
    -----
    `handle` is the single entry point for every request, whatever carries it; simulated latency,
    rate limits (429) and injected faults belong there, as options of this class.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        api_keys: Mapping[str, frozenset[str] | None] | None = None,
        account_id: str = DEMO_ACCOUNT_ID,
        faults: Faults | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = lambda: DEMO_CLOCK,
        files_host: str = FILES_HOST,
        listings: Mapping[tuple[str, str | None], Listing] | None = None,
    ):
        self.dataset = dataset
        self.clock = clock
        self.files_host = files_host
        self.desk = RunDesk(dataset)
        self.account_id = account_id
        self.faults = faults
        self.limits = limits
        self.api_keys: dict[str, frozenset[str] | None] = dict(api_keys or {DEMO_API_KEY: None})
        #: The most recent requests answered (up to `REQUEST_LOG_SIZE`), oldest first.
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self._lock = threading.Lock()
        self._answered = 0
        self._listings = dict(listings or {})
        self._index = _Index(dataset, self._listings)
        #: The connected accounts' servers (a platform's `Stripe-Account` requests), made when first asked.
        self._connected: dict[str, DemoStripe] = {}

    def transport(self) -> httpx.MockTransport:
        """Return a transport for `httpx.Client` or `httpx.AsyncClient` that calls `handle`."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request like Stripe: JSON body, ``Request-Id`` header, Stripe's errors.

        With `faults`, the answer may be replaced, or `Reset` / `Stall` raised (see `finlab.demo.faults`).
        """
        with self._lock:
            self._answered += 1
            request_id = f"req_{self._answered:014d}"
        try:
            if self.limits is not None and (refusal := self.limits.admit(request.url.path)):
                raise _StripeError(429, refusal, code="rate_limit")
            status, body = 200, self._dispatch(request)
        except RefusedError as refused:
            error = _StripeError(refused.status, refused.message, code=refused.code, param=refused.param)
            status, body = error.status, error.body(request_id)
        except _StripeError as error:
            status, body = error.status, error.body(request_id)
        with self._lock:
            params = tuple(request.url.params.multi_items())
            account = request.headers.get("Stripe-Account")
            self.requests.append(RecordedRequest(request.method, request.url.path, params, status, account))
        headers = {
            "Content-Type": "text/csv" if isinstance(body, bytes) else "application/json",
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION),
        }
        if status == 405:
            headers["Allow"] = "GET"
        content = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        response = httpx.Response(status, headers=headers, content=content)
        if self.limits is not None:
            self.limits.wait()
        return response if self.faults is None else self.faults.inject(request, response)

    def _dispatch(self, request: httpx.Request) -> Json | bytes:
        key = self._authenticate(request)
        account = request.headers.get("Stripe-Account")
        target = self if account in (None, self.account_id) else self._on_behalf_of(account, key)
        return target._answer(request, key)

    def _on_behalf_of(self, account: str, key: str) -> DemoStripe:
        """The server of a connected account; Stripe's 403 for an unknown account or a revoked one."""
        dataset = self.dataset.connected.get(account)
        if dataset is None:
            msg = (
                f"The provided key '{mask_key(key)}' does not have access to account '{account}' "
                "(or that account does not exist). Application access may have been revoked."
            )
            raise _StripeError(403, msg, code="account_invalid")
        with self._lock:
            if account not in self._connected:
                self._connected[account] = DemoStripe(
                    dataset,
                    api_keys=self.api_keys,
                    account_id=account,
                    clock=self.clock,
                    files_host=self.files_host,
                )
            return self._connected[account]

    def _answer(self, request: httpx.Request, key: str) -> Json | bytes:
        """The answer of this account's data to an authenticated request."""
        path = request.url.path
        route, object_id = self._route(request.method, path)
        if (route.kind == "contents") != (request.url.host == self.files_host):
            raise _unrecognized(request.method, path)
        creates = request.method == "POST" and route.object_type == REPORT_RUN and route.kind == "list"
        if request.method != "GET" and not creates:
            msg = f"The demo Stripe only reads: {request.method} {path} is not supported. Use GET."
            raise _StripeError(405, msg)
        self._authorize(key, REPORT_RUN_WRITE if creates else route.permission)
        if creates:
            return self.desk.create(
                parse_qsl(request.content.decode(), keep_blank_values=True), int(self.clock())
            )
        query = _Query.parse(request.url.params)
        query.check(route.specs())
        index = self._current_index()
        if route.kind == "list":
            return self._list(route, query, index, path, None)
        if route.kind == "children":
            assert route.parent is not None
            assert object_id is not None
            if object_id not in index.by_id.get(route.parent, {}):
                raise _missing(route.parent, object_id, "id")
            return self._list(route, query, index, path, object_id)
        if route.kind == "find":
            return self._find(query, index)
        if route.kind == "account":
            return self._account()
        if route.kind == "catalog":
            return {
                "object": "list",
                "data": index.lists_all(route.object_type),
                "has_more": False,
                "url": path,
            }
        if route.kind == "contents":
            assert object_id is not None
            return self.desk.contents(object_id, int(self.clock()))
        if route.kind == "singleton":
            if index.settings is None:
                raise _missing(route.object_type, "", "id")
            return dict(index.settings)
        assert object_id is not None
        return self._retrieve(route, object_id, query, index)

    def _authorize(self, key: str, permission: str) -> None:
        """Answer 403 naming ``permission`` if the key lacks it."""
        allowed = self.api_keys[key]
        if allowed is not None and permission not in allowed:
            msg = (
                f"The provided key '{mask_key(key)}' does not have the required permissions for this "
                f"endpoint on account '{self.account_id}'. Having the '{permission}' permission would "
                "allow this request to continue."
            )
            raise _StripeError(403, msg)

    def _authenticate(self, request: httpx.Request) -> str:
        """Return the request's API key (Bearer or Basic auth), or answer 401."""
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        key = credentials.strip() if scheme.lower() == "bearer" else ""
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if not key:
            raise _StripeError(401, _NO_KEY)
        if key not in self.api_keys:
            msg = f"Invalid API Key provided: {mask_key(key)}"
            raise _StripeError(401, msg)
        return key

    @staticmethod
    def _route(method: str, path: str) -> tuple[_Route, str | None]:
        for pattern, route in _COMPILED:
            if match := pattern.fullmatch(path):
                return route, match.groupdict().get("id")
        raise _unrecognized(method, path)

    def _current_index(self) -> _Index:
        with self._lock:
            if self._index.version != self.dataset.version:
                self._index = _Index(self.dataset, self._listings)
            return self._index

    def _list(self, route: _Route, query: _Query, index: _Index, path: str, group: str | None) -> Json:
        limit = _limit(query.scalars.get("limit"))
        keep: list[Predicate] = []
        ranges: dict[str, int] = {}
        for name, filter_ in route.filters.items():
            value = query.get(name)
            if isinstance(filter_, _Partition):
                if not isinstance(value, str):
                    msg = f"Missing required param: {name}."
                    raise _StripeError(400, msg, code="parameter_missing", param=name)
                if value not in index.by_id.get(filter_.parent, {}):
                    raise _missing(filter_.parent, value, name)
                group = value
            elif value is None:
                continue
            elif isinstance(filter_, _Range):
                ranges.update(filter_.bounds(name, value))
            elif (predicate := filter_.compile(name, value, index)) is not None:
                keep.append(predicate)
        listing = index.listing(route.object_type, group)
        low, high = listing.bounds(ranges) if ranges else (0, len(listing.items))
        after, before = query.scalars.get("starting_after"), query.scalars.get("ending_before")
        if after is not None and before is not None:
            msg = "You may only specify one of these parameters: ending_before, starting_after."
            raise _StripeError(400, msg, param="ending_before")
        for name, cursor in (("starting_after", after), ("ending_before", before)):
            if cursor is not None and cursor not in listing.position:
                raise _missing(route.object_type, cursor, name, status=400)
        if after is not None:
            low = max(low, listing.position[after] + 1)
        if before is not None:
            high = min(high, listing.position[before])
        data, has_more = listing.page(low, high, keep, limit, backward=before is not None)
        return {"object": "list", "data": data, "has_more": has_more, "url": path}

    def _retrieve(self, route: _Route, object_id: str, query: _Query, index: _Index) -> Json:
        obj = index.by_id.get(route.object_type, {}).get(object_id)
        if obj is None:
            raise _missing(route.object_type, object_id, "id")
        if route.object_type == REPORT_RUN:
            self.desk.poll(obj)
        children = _LINE_ITEMS.get(route.object_type)
        if children is None or "line_items" not in query.expand:
            return obj
        path = f"{route.template.removesuffix('{id}')}{object_id}/line_items"
        listing = index.listing(children, object_id)
        data, has_more = listing.page(0, len(listing.items), [], 10, backward=False)
        return {**obj, "line_items": {"object": "list", "data": data, "has_more": has_more, "url": path}}

    def _account(self) -> Json:
        """The account the key belongs to, as ``GET /v1/account`` answers (the fields finlab needs)."""
        settings = self.dataset.objects.get("tax.settings") or [{}]
        address = (settings[0].get("head_office") or {}).get("address") or {}
        return {
            "id": self.account_id,
            "object": "account",
            "business_profile": {"name": "finlab demo"},
            "country": address.get("country") or "US",
            "default_currency": "usd",
            "type": "standard",
        }

    @staticmethod
    def _find(query: _Query, index: _Index) -> Json:
        payment_intent = query.scalars.get("payment_intent")
        if payment_intent is None:
            msg = "Missing required param: payment_intent."
            raise _StripeError(400, msg, code="parameter_missing", param="payment_intent")
        if payment_intent not in index.associations:
            msg = f"No such tax association for payment_intent: '{payment_intent}'"
            raise _StripeError(404, msg, code="resource_missing", param="payment_intent")
        return index.associations[payment_intent]


def _limit(raw: str | None) -> int:
    """Return the page size: 10 by default, else an integer from 1 to 100."""
    if raw is None:
        return 10
    try:
        limit = int(raw)
    except ValueError:
        raise _invalid_integer(raw, "limit") from None
    if not 1 <= limit <= 100:
        bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
        msg = f"This value must be {bound}."
        raise _StripeError(400, msg, code="parameter_invalid_integer", param="limit")
    return limit
