"""Conformance with Stripe's own OpenAPI spec (``tests/stripe/``), through the validator in ``tests/spec.py``.

(a) the validator accepts Stripe's own example objects and rejects broken ones where it should;
(b) hand-made requests: valid ones pass, invalid ones fail with a precise reason;
(c) finlab's whole public API runs against the demo server through a validating transport, so every
    request finlab sends and every response the demo server returns is checked; the demo server's
    error responses match the ``error`` schema; every GET operation the server offers is conformant;
(d) finlab's frames, built from every example object, have exactly the registry's schema, and the
    registry only names fields, paths and filters that Stripe documents.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import polars as pl
import pytest

from finlab import frames, resources
from finlab.client import API_VERSION, Client
from finlab.connection import Connection
from finlab.errors import SchemaDriftWarning

try:
    import spec
except ImportError:  # tests/ became a package
    from tests import spec  # type: ignore[no-redef]

BASE = "https://api.stripe.com"
KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
HEADERS = {"Authorization": f"Bearer {KEY}", "Stripe-Version": spec.SPEC_VERSION}
EXAMPLES: dict[str, dict[str, Any]] = spec.FIXTURES["resources"]
ONRAMP_EXAMPLE: dict[str, Any] = spec.FIXTURES["private_preview_resources"]["crypto.onramp_session"]
NO_FRAME = ("tax.association", "deleted_webhook_endpoint")


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> httpx.Request:
    """A request as finlab would send it (auth + version pin) unless ``headers`` says otherwise."""
    return httpx.Request(method, BASE + url, headers=HEADERS if headers is None else headers)


def answer(body: Any, status: int = 200) -> httpx.Response:
    """A JSON response, as Stripe sends it."""
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def raises(fn: Callable[[], object], *fragments: str) -> str:
    """Run ``fn``, expect an AssertionError whose message holds every fragment; return the message."""
    with pytest.raises(AssertionError) as info:
        fn()
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    return text


# ---------------------------------------------------------------------------------------------
# (a) the validator against Stripe's own data
# ---------------------------------------------------------------------------------------------


def test_spec_is_the_pinned_version_and_a_valid_openapi_document() -> None:
    from openapi_spec_validator import validate

    assert spec.SPEC_VERSION == API_VERSION == "2026-07-29.dahlia"
    assert spec.SPEC["openapi"] == "3.0.0"
    validate(spec.SPEC)


#: SHA-256 of the reference files as copied from ``../shared/stripe/`` (Stripe's data, unmodified).
REFERENCE_SHA256 = {
    "README.md": "bdb875e8dc019c0e34f713972a79d35aa36ccf2d26005293e53b61837195d036",
    "fixtures-subset.json": "3426d56246c06a42d676036af6b46360956b2d0d34a05f47cbe56b7d9c1ca0e9",
    "spec-subset.json": "74348199b0a53c7a4eebc91859f0f65e8414ea000c0643e0ad155cf85bcc9c54",
    "fixtures-subset-2024-04-10.json": "9eba8fb0b3f4195ab89d69fbbde44b2d8b7156be1aab30a1c86d1927555ed711",
    "spec-subset-2024-04-10.json": "51a141636afa918aa6c1330fabd4975400699203875a0222e54b04be4b6deb23",
}


@pytest.mark.parametrize("name", sorted(REFERENCE_SHA256))
def test_reference_data_is_the_verbatim_copy(name: str) -> None:
    digest = hashlib.sha256((spec.STRIPE_DIR / name).read_bytes()).hexdigest()
    assert digest == REFERENCE_SHA256[name], f"tests/stripe/{name} differs from Stripe's data"
    assert spec.FIXTURES["x-source"]["spec_version"] == spec.SPEC_VERSION
    assert len(spec.SPEC["paths"]) == 30


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_stripe_example_objects_validate_against_their_schema(name: str) -> None:
    assert spec.schema_errors(EXAMPLES[name], spec.schema_ref(name)) == []


def _list_operations() -> list[spec.Operation]:
    return [op for op in spec.GET_OPERATIONS.values() if op.is_list]


def _retrieve_operations() -> list[spec.Operation]:
    return [op for op in spec.GET_OPERATIONS.values() if not op.is_list]


def _example_for(op: spec.Operation) -> dict[str, Any]:
    name = op.object_schema
    assert name is not None
    return ONRAMP_EXAMPLE if name == "crypto.onramp_session" else EXAMPLES.get(name) or fc_account()


def _concrete(template: str, value: str = "obj_1") -> str:
    path = template
    while "{" in path:
        start = path.index("{")
        path = path[:start] + value + path[path.index("}") + 1 :]
    return path


def fc_account() -> dict[str, Any]:
    """A minimal Financial Connections account as Stripe documents it (not in the fixtures)."""
    return {
        "id": "fca_1",
        "object": "financial_connections.account",
        "balance": None,
        "status": "active",
        "created": 1_700_000_000,
        "livemode": False,
    }


@pytest.mark.parametrize("op", _list_operations(), ids=lambda op: op.template)
def test_a_list_of_the_example_object_is_a_valid_200(op: spec.Operation) -> None:
    path = _concrete(op.template)
    query = "?account=fca_1" if "account" in op.params and op.params["account"].required else ""
    body = {"object": "list", "data": [_example_for(op)], "has_more": False, "url": path}
    spec.validate_response(get(path + query), answer(body), semantics=False)


@pytest.mark.parametrize("op", _retrieve_operations(), ids=lambda op: op.template)
def test_the_example_object_is_a_valid_200_of_its_retrieve_operation(op: spec.Operation) -> None:
    example = _example_for(op)
    query = "?payment_intent=pi_1" if op.template.endswith("/find") else ""
    request = get(_concrete(op.template, str(example.get("id"))) + query)
    spec.validate_response(request, answer(example))


def test_an_error_body_as_stripe_sends_it_is_valid_for_any_operation() -> None:
    error = {
        "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such climate order: 'climorder_x'",
            "param": "order",
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_1",
            "type": "invalid_request_error",
        }
    }
    spec.validate_response(get("/v1/climate/orders/climorder_x"), answer(error, 404))
    spec.validate_response(get("/v1/no/such/path"), answer(error, 404))


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("undocumented field", lambda o: o.update(color="red"), "('color' was unexpected)"),
    ("wrong type", lambda o: o.update(amount_total="100"), "/amount_total: '100' is not of type 'integer'"),
    (
        "float for integer",
        lambda o: o.update(amount_total=100.0),
        "/amount_total: 100.0 is not of type 'integer'",
    ),
    ("null, not nullable", lambda o: o.update(currency=None), "/currency: None for not nullable"),
    (
        "milliseconds",
        lambda o: o.update(created=1_700_000_000_000),
        "/created: 1700000000000 is not a 'unix-time'",
    ),
    ("decimal", lambda o: o.update(metric_tons="1,5"), "/metric_tons: '1,5' is not a 'decimal'"),
    ("enum", lambda o: o.update(status="shipped"), "/status: 'shipped' is not one of"),
    ("missing field", lambda o: o.pop("amount_fees"), "'amount_fees' is a required property"),
    (
        "nested",
        lambda o: o["delivery_details"].append({"delivered_at": 1, "location": None}),
        "'metric_tons' is a required property",
    ),
]


@pytest.mark.parametrize(("case", "breaks", "reason"), BROKEN, ids=[c[0] for c in BROKEN])
def test_a_broken_object_fails_with_its_json_pointer(
    case: str, breaks: Callable[[dict[str, Any]], None], reason: str
) -> None:
    order = json.loads(json.dumps(EXAMPLES["climate.order"]))
    breaks(order)
    request = get(f"/v1/climate/orders/{order['id']}")
    raises(lambda: spec.validate_response(request, answer(order)), "GET /v1/climate/orders/", reason)
    listed = {"object": "list", "data": [order], "has_more": False, "url": "/v1/climate/orders"}
    raises(lambda: spec.validate_response(get("/v1/climate/orders"), answer(listed)), reason.split(":")[-1])


def _page(data: list[dict[str, Any]], url: str, has_more: bool = False) -> httpx.Response:
    return answer({"object": "list", "data": data, "has_more": has_more, "url": url})


def _with(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(obj)), **changes}


def test_semantic_checks_catch_what_the_schema_cannot() -> None:
    txn = EXAMPLES["financial_connections.transaction"]
    url = "/v1/financial_connections/transactions"
    ok = f"{url}?account={txn['account']}&transacted_at[gte]=1&transacted_at[lt]=2000000000&limit=2"
    spec.validate_response(get(ok), _page([txn], url))
    raises(
        lambda: spec.validate_response(get(ok), _page([txn] * 3, url)), "/data: 3 objects, more than limit=2"
    )
    raises(
        lambda: spec.validate_response(get(f"{url}?account={txn['account']}"), _page([txn] * 11, url)),
        "limit=10",
    )
    raises(
        lambda: spec.validate_response(get(ok), _page([txn], url + "/x")),
        "/url: is '/v1/financial_connections/transactions/x'",
    )
    raises(
        lambda: spec.validate_response(get(f"{url}?account=fca_other"), _page([txn], url)),
        "/data/0/account: is 'fca_1Pgc76B7WZ01zgkWc69S5C3k', but the request filtered account='fca_other'",
    )
    late = f"{url}?account={txn['account']}&transacted_at[gte]=2000000000"
    raises(
        lambda: spec.validate_response(get(late), _page([txn], url)),
        "/data/0/transacted_at: 1234567890 is not gte",
    )
    after = f"{url}?account={txn['account']}&starting_after={txn['id']}"
    raises(lambda: spec.validate_response(get(after), _page([txn], url)), "starting_after cursor")
    orders = [
        _with(EXAMPLES["climate.order"], id="climorder_a", created=1),
        _with(EXAMPLES["climate.order"], created=2),
    ]
    raises(
        lambda: spec.validate_response(get("/v1/climate/orders"), _page(orders, "/v1/climate/orders")),
        "newest first",
    )
    order = EXAMPLES["climate.order"]
    raises(
        lambda: spec.validate_response(get("/v1/climate/orders/climorder_other"), answer(order)), "/id: is"
    )
    expanded = _with(order, product=EXAMPLES["climate.product"])
    raises(
        lambda: spec.validate_response(get(f"/v1/climate/orders/{order['id']}"), answer(expanded)),
        "/product: an expanded object, but the request did not expand it",
    )
    spec.validate_response(get(f"/v1/climate/orders/{order['id']}?expand[]=product"), answer(expanded))
    raises(
        lambda: spec.validate_response(
            get(f"/v1/climate/orders/{order['id']}?expand[]=product"), answer(order)
        ),
        "/product: an id, but the request asked expand[]=product",
    )
    regs = "/v1/tax/registrations?status=all"
    spec.validate_response(get(regs), _page([EXAMPLES["tax.registration"]], "/v1/tax/registrations"))
    raises(
        lambda: spec.validate_response(
            get("/v1/tax/registrations?status=expired"),
            _page([EXAMPLES["tax.registration"]], "/v1/tax/registrations"),
        ),
        "/data/0/status: is 'active', but the request filtered status='expired'",
    )


def test_responses_must_be_json_objects_with_a_sensible_status() -> None:
    request = get("/v1/climate/orders")
    html = httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"})
    raises(lambda: spec.validate_response(request, html), "Content-Type is 'text/html'")
    raises(lambda: spec.validate_response(request, answer([1, 2])), "a JSON list")
    raises(lambda: spec.validate_response(request, answer({"error": {}}, 302)), "not 302")
    raises(
        lambda: spec.validate_response(request, answer({"message": "boom"}, 500)),
        "'error' is a required property",
    )
    raises(
        lambda: spec.validate_response(request, answer({"error": {"type": "oops"}}, 400)),
        "/error/type: 'oops' is not one of",
    )


def test_the_onramp_example_is_the_yardstick_for_onramp_sessions() -> None:
    ref = spec.schema_ref("crypto.onramp_session")
    assert spec.schema_errors(ONRAMP_EXAMPLE, ref) == []
    assert spec.schema_errors(_with(ONRAMP_EXAMPLE, metadata={"order": "42"}), ref) == []
    assert spec.schema_errors(_with(ONRAMP_EXAMPLE, wallet="0xabc"), ref) == [
        "/: Additional properties are not allowed ('wallet' was unexpected)"
    ]
    missing = json.loads(json.dumps(ONRAMP_EXAMPLE))
    del missing["transaction_details"]["fees"]
    assert spec.schema_errors(missing, ref) == ["/transaction_details: 'fees' is a required property"]
    assert spec.schema_errors(_with(ONRAMP_EXAMPLE, kyc_details_provided="no"), ref) == [
        "/kyc_details_provided: 'no' is not of type 'boolean'"
    ]


def test_fc_accounts_are_checked_loosely() -> None:
    ref = spec.schema_ref("financial_connections.account")
    assert spec.schema_errors(_with(fc_account(), display_name="Checking", extra=1), ref) == []
    assert spec.schema_errors(_with(fc_account(), object="account"), ref) == [
        "/object: 'account' is not one of ['financial_connections.account']"
    ]
    no_balance = fc_account()
    del no_balance["balance"]
    assert spec.schema_errors(no_balance, ref) == ["/: 'balance' is a required property"]


# ---------------------------------------------------------------------------------------------
# (b) hand-made requests
# ---------------------------------------------------------------------------------------------

VALID = [
    ("/v1/climate/orders?limit=100", {"limit": 100}),
    (
        "/v1/climate/orders?limit=100&starting_after=climorder_1",
        {"limit": 100, "starting_after": "climorder_1"},
    ),
    ("/v1/climate/orders/climorder_1?expand[]=product", {"expand": ["product"]}),
    ("/v1/climate/products", {}),
    ("/v1/climate/suppliers/climsup_1", {}),
    (
        "/v1/financial_connections/transactions?account=fca_1&transacted_at[gte]=1&transacted_at[lt]=9&limit=100",
        {"account": "fca_1", "transacted_at": {"gte": 1, "lt": 9}, "limit": 100},
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transacted_at=5",
        {"account": "fca_1", "transacted_at": 5},
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transaction_refresh[after]=fctxnref_1",
        {"account": "fca_1", "transaction_refresh": {"after": "fctxnref_1"}},
    ),
    ("/v1/financial_connections/transactions/fctxn_1", {}),
    (
        "/v1/financial_connections/accounts?account_holder[customer]=cus_1&limit=100",
        {"account_holder": {"customer": "cus_1"}, "limit": 100},
    ),
    ("/v1/financial_connections/accounts?session=fcsess_1", {"session": "fcsess_1"}),
    ("/v1/financial_connections/accounts/fca_1", {}),
    ("/v1/tax/associations/find?payment_intent=pi_1", {"payment_intent": "pi_1"}),
    ("/v1/tax/transactions/tax_1", {}),
    ("/v1/tax/transactions/tax_1/line_items?limit=100", {"limit": 100}),
    (
        "/v1/tax/calculations/taxcalc_1/line_items?limit=100&starting_after=tax_li_1",
        {"limit": 100, "starting_after": "tax_li_1"},
    ),
    ("/v1/tax/registrations?status=all&limit=100", {"status": "all", "limit": 100}),
    ("/v1/tax/settings", {}),
    (
        "/v1/identity/verification_sessions?status=verified&created[gt]=5",
        {"status": "verified", "created": {"gt": 5}},
    ),
    (
        "/v1/identity/verification_reports?type=document&verification_session=vs_1",
        {"type": "document", "verification_session": "vs_1"},
    ),
    # Stripe marks this enum x-stripeBypassValidation: new values are accepted.
    ("/v1/identity/verification_reports?type=verification_flow", {"type": "verification_flow"}),
    (
        "/v1/crypto/onramp_sessions?created[gte]=1&destination_network=ethereum&status=fulfillment_complete",
        {"created": {"gte": 1}, "destination_network": "ethereum", "status": "fulfillment_complete"},
    ),
    ("/v1/crypto/onramp_sessions/cos_1", {}),
    ("/v1/forwarding/requests?created[lte]=9&limit=1", {"created": {"lte": 9}, "limit": 1}),
    ("/v1/forwarding/requests/fwdreq_1", {}),
    ("/v1/webhook_endpoints?expand[]=data.x&expand[]=data.y", {"expand": ["data.x", "data.y"]}),
    ("/v1/webhook_endpoints/we_1", {}),
]


@pytest.mark.parametrize(("url", "decoded"), VALID, ids=[v[0] for v in VALID])
def test_valid_requests_pass(url: str, decoded: dict[str, Any]) -> None:
    assert spec.validate_request(get(url)).query == decoded


INVALID = [
    ("/v1/climate/orders?foo=1", "unknown query parameter 'foo' for GET /v1/climate/orders"),
    ("/v1/climate/orders?limit=abc", "query parameter 'limit'='abc'", "'abc' is not of type 'integer'"),
    ("/v1/climate/orders?limit=0", "0 is less than the minimum of 1"),
    ("/v1/climate/orders?limit=101", "101 is greater than the maximum of 100"),
    ("/v1/climate/orders?limit=1&limit=2", "parameter 'limit' is given more than once"),
    ("/v1/climate/orders?expand=product", "'product' is not of type 'array'"),
    ("/v1/climate/orders/climorder_1?limit=1", "unknown query parameter 'limit'"),
    (
        "/v1/financial_connections/transactions?account=fca_1&transacted_at[foo]=1",
        "query parameter 'transacted_at'",
        "Additional properties are not allowed ('foo' was unexpected)",
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transacted_at[gte]=soon",
        "'soon' is not of type 'integer'",
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transacted_at=1&transacted_at[gte]=1",
        "both as a value and as a nested object",
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transaction_refresh[before]=x",
        "'after' is a required property",
    ),
    (
        "/v1/financial_connections/transactions?account=fca_1&transaction_refresh=fctxnref_1",
        "is not of type 'object'",
    ),
    ("/v1/financial_connections/transactions?limit=100", "required query parameter(s) ['account'] missing"),
    (
        "/v1/financial_connections/transactions?account=fca_1&created[gte]=1",
        "unknown query parameter 'created'",
    ),
    ("/v1/financial_connections/accounts?account_holder[bogus]=x", "('bogus' was unexpected)"),
    ("/v1/financial_connections/accounts?status=active", "unknown query parameter 'status'"),
    ("/v1/crypto/onramp_sessions?status=done", "'done' is not one of"),
    ("/v1/tax/associations/find", "required query parameter(s) ['payment_intent'] missing"),
    (
        "/v1/tax/registrations?status=inactive",
        "'inactive' is not one of ['active', 'all', 'expired', 'scheduled']",
    ),
    ("/v1/identity/verification_sessions?status=approved", "'approved' is not one of"),
    ("/v1/tax/transactions", "no such path"),
    (
        "/v1/tax/transactions/create_reversal",
        "method not in the spec for /v1/tax/transactions/create_reversal",
    ),
    ("/v1/charges", "no such path"),
    ("/v1/climate/orders/" + "x" * 5001, "is too long"),
    ("/v1/climate/orders?expand[][x]=1", "'[]' may only end a parameter name"),
]


@pytest.mark.parametrize("case", INVALID, ids=[c[0][:80] for c in INVALID])
def test_invalid_requests_fail_with_a_precise_reason(case: tuple[str, ...]) -> None:
    url, *fragments = case
    raises(lambda: spec.validate_request(get(url)), *fragments)


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_anything_but_get_fails_even_where_the_spec_has_it(method: str) -> None:
    raises(
        lambda: spec.validate_request(get("/v1/climate/orders", method=method)),
        f"{method} /v1/climate/orders",
        "read-only",
    )
    raises(lambda: spec.validate_request(get("/v1/webhook_endpoints/we_1", method=method)), "only send GET")


def test_headers_are_checked() -> None:
    raises(lambda: spec.validate_request(get("/v1/climate/orders", headers={})), "Authorization")
    raises(
        lambda: spec.validate_request(
            get(
                "/v1/climate/orders",
                headers={"Authorization": f"Bearer {KEY}", "Stripe-Version": "2020-08-27"},
            )
        ),
        "Stripe-Version is '2020-08-27'",
    )
    body = httpx.Request("GET", BASE + "/v1/climate/orders", headers=HEADERS, content=b"limit=1")
    raises(lambda: spec.validate_request(body), "must not carry a body")


def test_finlab_builds_requests_the_spec_accepts() -> None:
    client = Client(KEY, transport=httpx.MockTransport(lambda r: answer({})))
    request = client.policy.build(
        "GET",
        "/v1/financial_connections/transactions",
        {"account": "fca_1", "transacted_at": {"gte": 1, "lt": 2}, "expand": ["data.account"], "limit": 100},
    )
    assert spec.validate_request(request).query == {
        "account": "fca_1",
        "transacted_at": {"gte": 1, "lt": 2},
        "expand": ["data.account"],
        "limit": 100,
    }


def test_the_validating_transport_raises_inside_the_handler_and_records() -> None:
    body = {"object": "list", "data": [], "has_more": False, "url": "/v1/climate/orders/x"}
    transport = spec.validating_transport(lambda r: answer(body))
    with httpx.Client(transport=transport) as http:
        raises(lambda: http.send(get("/v1/climate/orders?limit=100")), "/url: is '/v1/climate/orders/x'")
        raises(lambda: http.send(get("/v1/climate/orders?bogus=1")), "unknown query parameter 'bogus'")
    assert len(transport.failures) == 2
    raises(transport.assert_clean, "/url: is '/v1/climate/orders/x'", "'bogus'")


# ---------------------------------------------------------------------------------------------
# (c) finlab's public API against the demo server, every exchange validated
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Any:
    server_module = pytest.importorskip("finlab.demo.server", reason="the demo server is not written yet")
    from finlab.demo.dataset import default_dataset

    dataset = default_dataset()
    return dataset, server_module.DemoStripe(dataset), server_module.DEMO_API_KEY


def _objects(dataset: Any, kind: str) -> list[dict[str, Any]]:
    return list(dataset.objects.get(kind, []))


@pytest.fixture
def stripe(
    demo: Any, fresh_drift_reports: None
) -> Iterator[tuple[Connection, spec.ValidatingTransport, Any]]:
    dataset, server, key = demo
    transport = spec.validating_transport(server.handle)
    connection = Connection(key, transport=transport, is_demo=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SchemaDriftWarning)
        # The demo's Curaçao account is in XCG on purpose, a currency Stripe does not list: that one
        # warning is expected; any other drift is an error.
        warnings.filterwarnings(
            "ignore", "[^ ]+ has amounts in an unknown currency 'xcg'", SchemaDriftWarning
        )
        yield connection, transport, dataset
    transport.assert_clean()


def _window(dataset: Any) -> tuple[datetime, datetime]:
    last = max(t["transacted_at"] for t in _objects(dataset, "financial_connections.transaction"))
    end = datetime.fromtimestamp(last, UTC).replace(hour=0, minute=0, second=0) + timedelta(days=1)
    return end - timedelta(days=31), end


def _payment_intents(dataset: Any) -> list[str]:
    return [a["payment_intent"] for a in _objects(dataset, "tax.association")[:25]]


def _calculation_ids(dataset: Any) -> list[str]:
    return [c["id"] for c in _objects(dataset, "tax.calculation")[:50]]


CALLS: dict[str, tuple[str, Callable[[Connection, Any], pl.DataFrame]]] = {
    "accounts": ("financial_connections.account", lambda s, d: s.accounts()),
    "transactions (1 month, every account)": (
        "financial_connections.transaction",
        lambda s, d: s.transactions(start=_window(d)[0], end=_window(d)[1]),
    ),
    "transactions (1 account)": (
        "financial_connections.transaction",
        lambda s, d: s.transactions(_objects(d, "financial_connections.account")[0]["id"], *_window(d)),
    ),
    "transactions (transaction_refresh[after])": (
        "financial_connections.transaction",
        lambda s, d: s.frame(
            "financial_connections.transaction",
            account=(acct := _objects(d, "financial_connections.account")[0])["id"],
            transaction_refresh={"after": _late_refresh(d, acct["id"])},
        ),
    ),
    "tax_transactions (discovery)": ("tax.transaction", lambda s, d: s.tax_transactions()),
    "tax_transactions (discovery, one month)": (
        "tax.transaction",
        lambda s, d: s.tax_transactions(start=_window(d)[0], end=_window(d)[1]),
    ),
    "tax_transactions (payment_intents)": (
        "tax.transaction",
        lambda s, d: s.tax_transactions(payment_intents=_payment_intents(d)),
    ),
    "tax_line_items (discovery)": ("tax.transaction_line_item", lambda s, d: s.tax_line_items()),
    "tax_line_items (payment_intents)": (
        "tax.transaction_line_item",
        lambda s, d: s.tax_line_items(payment_intents=_payment_intents(d)),
    ),
    "tax_registrations": ("tax.registration", lambda s, d: s.tax_registrations()),
    "tax_registrations (active)": ("tax.registration", lambda s, d: s.tax_registrations("active")),
    "tax_registrations (expired)": ("tax.registration", lambda s, d: s.tax_registrations("expired")),
    "tax_registrations (scheduled)": ("tax.registration", lambda s, d: s.tax_registrations("scheduled")),
    "tax_settings": ("tax.settings", lambda s, d: s.tax_settings()),
    "tax_calculations": ("tax.calculation", lambda s, d: s.tax_calculations(_calculation_ids(d))),
    "tax_calculation_line_items": (
        "tax.calculation_line_item",
        lambda s, d: s.tax_calculation_line_items(_calculation_ids(d)),
    ),
    "climate_orders": ("climate.order", lambda s, d: s.climate_orders()),
    "climate_products": ("climate.product", lambda s, d: s.climate_products()),
    "climate_suppliers": ("climate.supplier", lambda s, d: s.climate_suppliers()),
    "verification_sessions": ("identity.verification_session", lambda s, d: s.verification_sessions()),
    "verification_sessions (status=verified)": (
        "identity.verification_session",
        lambda s, d: s.verification_sessions(status="verified"),
    ),
    "verification_reports": ("identity.verification_report", lambda s, d: s.verification_reports()),
    "verification_reports (type=document)": (
        "identity.verification_report",
        lambda s, d: s.verification_reports(type="document"),
    ),
    "onramp_sessions": ("crypto.onramp_session", lambda s, d: s.onramp_sessions()),
    "forwarding_requests": ("forwarding.request", lambda s, d: s.forwarding_requests()),
    "forwarding_requests (created range)": (
        "forwarding.request",
        lambda s, d: s.forwarding_requests(created={"gte": _median_created(d, "forwarding.request")}),
    ),
    "webhook_endpoints": ("webhook_endpoint", lambda s, d: s.webhook_endpoints()),
}


def _late_refresh(dataset: Any, account: str) -> str:
    """A refresh near the end of the account's history (few transactions come after it)."""
    refreshes = sorted(
        {
            t["transaction_refresh"]
            for t in _objects(dataset, "financial_connections.transaction")
            if t["account"] == account
        }
    )
    return refreshes[len(refreshes) * 9 // 10]


def _median_created(dataset: Any, kind: str) -> int:
    created = sorted(o["created"] for o in _objects(dataset, kind))
    return created[len(created) // 2] if created else 0


#: Calls that ran clean, and the operations they used (the coverage test only runs what is missing).
_RAN: set[str] = set()
_USED: set[str] = set()


@pytest.mark.parametrize("call", sorted(CALLS))
def test_public_api_against_the_demo_server_is_spec_conformant(call: str, stripe: Any) -> None:
    connection, transport, dataset = stripe
    kind, run = CALLS[call]
    frame = run(connection, dataset)
    transport.assert_clean()
    _RAN.add(call)
    _USED.update(template for (_, template, _) in transport.seen)
    assert frame.schema == resources.schema(kind)
    assert sum(transport.seen.values()) > 0
    assert all(
        status == 200 or (template, status) == ("/v1/tax/associations/find", 404)  # a PI without tax
        for (_, template, status) in transport.seen
    ), transport.seen
    if not call.startswith(("tax_registrations (", "verification_", "forwarding_requests (")):
        assert frame.height > 0, f"{call}: the demo account returned nothing, so nothing was validated"


def test_the_public_api_covers_every_get_operation_finlab_uses(stripe: Any) -> None:
    connection, transport, dataset = stripe
    for call in sorted(set(CALLS) - _RAN):
        CALLS[call][1](connection, dataset)
    used = _USED | {template for (_, template, _) in transport.seen}
    expected = {
        "/v1/financial_connections/accounts",
        "/v1/financial_connections/transactions",
        "/v1/tax/associations/find",
        "/v1/payment_intents",
        "/v1/refunds",
        "/v1/tax/transactions/{transaction}",
        "/v1/tax/calculations/{calculation}",
        "/v1/tax/registrations",
        "/v1/tax/settings",
        "/v1/climate/orders",
        "/v1/climate/products",
        "/v1/climate/suppliers",
        "/v1/identity/verification_sessions",
        "/v1/identity/verification_reports",
        "/v1/crypto/onramp_sessions",
        "/v1/forwarding/requests",
        "/v1/webhook_endpoints",
    }
    assert used == expected


@pytest.mark.parametrize(
    ("kind", "method"),
    [("tax.transaction", "tax_line_items"), ("tax.calculation", "tax_calculation_line_items")],
)
def test_line_items_beyond_the_embedded_first_page_are_paged(
    kind: str, method: str, fresh_drift_reports: None
) -> None:
    """Parents come with their first 10 line items (expand[]=line_items); the rest is paged, validated."""
    from finlab.demo.dataset import default_dataset
    from finlab.demo.server import DEMO_API_KEY, DemoStripe

    dataset = default_dataset()
    item_kind = f"{kind}_line_item"
    parent = _objects(dataset, kind)[0]["id"]
    template = next(i for i in dataset.objects[item_kind] if dataset.parents.get(i["id"]) == parent)
    for n in range(25):
        extra = template | {"id": f"{template['id'][:10]}{n:014d}", "reference": f"extra-{n}"}
        dataset.objects[item_kind].append(extra)
        dataset.parents[extra["id"]] = parent
    expected = sorted(i["id"] for i in dataset.objects[item_kind] if dataset.parents.get(i["id"]) == parent)
    transport = spec.validating_transport(DemoStripe(dataset).handle)
    connection = Connection(DEMO_API_KEY, transport=transport, is_demo=True)

    frame = getattr(connection, method)([parent])

    transport.assert_clean()
    assert expected == sorted(frame.get_column("id").to_list())
    assert 1 <= sum(n for (_, path, _), n in transport.seen.items() if path.endswith("/line_items"))


def test_the_validating_transport_catches_a_drifting_server(demo: Any) -> None:
    """The wiring works end to end: a violation inside finlab's async fetch fails the call."""
    _, server, key = demo

    def drifting(request: httpx.Request) -> httpx.Response:
        response = server.handle(request)
        body = json.loads(response.read())
        for obj in body.get("data", []):
            obj["color"] = "red"
        return answer(body, response.status_code)

    transport = spec.validating_transport(drifting)
    connection = Connection(key, transport=transport, is_demo=True)
    raises(
        connection.climate_suppliers,
        "GET /v1/climate/suppliers -> 200 violates",
        "/data/0: Additional properties are not allowed ('color' was unexpected)",
    )
    assert transport.failures


def _request_for(op: spec.Operation, dataset: Any) -> str | None:
    """A valid request for ``op`` with real ids from the demo dataset (None when it has no data)."""
    path, query = op.template, ""
    if op.is_list:
        query = "?limit=100"
        if "account" in op.params and op.params["account"].required:
            query += "&account=" + _objects(dataset, "financial_connections.account")[0]["id"]
        if "{" in path:
            parent = "tax.transaction" if "/transactions/" in path else "tax.calculation"
            items = _objects(dataset, parent)
            if not items:
                return None
            path = _concrete(path, items[0]["id"])
        return path + query
    if path.endswith("/find"):
        intents = _payment_intents(dataset)
        return f"{path}?payment_intent={intents[0]}" if intents else None
    if "{" not in path:
        return path
    name = op.object_schema
    items = _objects(dataset, name or "")
    return _concrete(path, items[0]["id"]) if items else None


@pytest.mark.parametrize("op", list(spec.GET_OPERATIONS.values()), ids=lambda op: op.template)
def test_every_get_operation_of_the_demo_server_is_conformant(op: spec.Operation, demo: Any) -> None:
    dataset, server, key = demo
    url = _request_for(op, dataset)
    if url is None:
        pytest.skip(f"the demo dataset has no {op.object_schema}")
    transport = spec.validating_transport(server.handle)
    with httpx.Client(
        transport=transport,
        base_url=BASE,
        headers={"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION},
    ) as http:
        response = http.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        if op.is_list and body["has_more"]:
            cursor = body["data"][-1]["id"]
            response = http.get(f"{url}&starting_after={cursor}")
            assert response.status_code == 200, response.text
            assert cursor not in {o["id"] for o in response.json()["data"]}
        if op.is_list and len(body["data"]) > 2:
            small = http.get(url.replace("limit=100", "limit=2"))
            assert [o["id"] for o in small.json()["data"]] == [o["id"] for o in body["data"][:2]]
            assert small.json()["has_more"] is True
    transport.assert_clean()


FC_TXNS = "/v1/financial_connections/transactions"
NO_AUTH: dict[str, str] = {}
WRONG_KEY = {"Authorization": "Bearer sk_test_wrongwrongwrong"}
#: (case, path with ``{order}`` for a real order id, headers (None: the demo key), status, error code)
ERROR_CASES: list[tuple[str, str, dict[str, str] | None, int, str | None]] = [
    ("404 unknown climate order", "/v1/climate/orders/climorder_nope", None, 404, "resource_missing"),
    ("404 unknown tax transaction", "/v1/tax/transactions/tax_nope", None, 404, "resource_missing"),
    ("404 unknown fc account", "/v1/financial_connections/accounts/fca_nope", None, 404, "resource_missing"),
    ("404 unknown onramp session", "/v1/crypto/onramp_sessions/cos_nope", None, 404, "resource_missing"),
    ("404 unknown path", "/v1/charges", None, 404, None),
    ("400 unknown param", "/v1/climate/orders?bogus=1", None, 400, "parameter_unknown"),
    ("400 unknown nested param", f"{FC_TXNS}?account=fca_1&transacted_at[foo]=1", None, 400, None),
    ("400 limit=abc", "/v1/climate/orders?limit=abc", None, 400, None),
    ("400 limit=101", "/v1/climate/orders?limit=101", None, 400, None),
    ("400 missing account", FC_TXNS, None, 400, "parameter_missing"),
    ("401 no key", "/v1/climate/orders/{order}", NO_AUTH, 401, None),
    ("401 wrong key", "/v1/climate/orders", WRONG_KEY, 401, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "url", "headers", "status", "code"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_demo_server_errors_match_the_error_schema(
    case: str, url: str, headers: dict[str, str] | None, status: int, code: str | None, demo: Any
) -> None:
    dataset, server, key = demo
    url = url.format(order=_objects(dataset, "climate.order")[0]["id"])
    if headers is None:
        headers = {"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION}
    request = get(url, headers=headers)
    response = server.handle(request)
    response.read()
    assert response.status_code == status, response.text
    body = spec.validate_response(request, response)
    assert body["error"]["type"] == "invalid_request_error", body
    assert body["error"].get("message"), body
    if code is not None:
        assert body["error"].get("code") == code, body
    if code == "parameter_unknown":
        assert body["error"].get("param") == "bogus", body


# ---------------------------------------------------------------------------------------------
# (d) frames from Stripe's example objects; the registry against the spec
# ---------------------------------------------------------------------------------------------

FRAME_EXAMPLES = {k: v for k, v in EXAMPLES.items() if k not in NO_FRAME} | {
    "crypto.onramp_session": ONRAMP_EXAMPLE
}


@pytest.mark.usefixtures("fresh_drift_reports")
@pytest.mark.parametrize("kind", sorted(FRAME_EXAMPLES))
def test_frames_from_stripe_examples_have_the_registry_schema(kind: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SchemaDriftWarning)
        frame = frames.build(kind, [FRAME_EXAMPLES[kind]])
    assert frame.schema == resources.get(kind).schema
    assert frame.height == 1
    if "id" in frame.columns:
        assert frame.item(0, "id") == FRAME_EXAMPLES[kind]["id"]


def test_frame_values_from_examples_are_converted() -> None:
    order = frames.build("climate.order", [EXAMPLES["climate.order"]]).row(0, named=True)
    example = EXAMPLES["climate.order"]
    assert order["created"] == datetime.fromtimestamp(example["created"], UTC)
    assert order["metric_tons"] == Decimal(example["metric_tons"])
    assert order["amount_total"] == example["amount_total"]
    txn = frames.build("financial_connections.transaction", [EXAMPLES["financial_connections.transaction"]])
    assert txn.item(0, "status_transitions_posted_at") == datetime.fromtimestamp(1721954068, UTC)


def _schema_at(name: str, path: tuple[str, ...]) -> Any:
    """The spec schema reached by following ``path`` from component ``name`` (None if undocumented)."""
    node: Any = spec.SCHEMAS[name]
    for part in path:
        node = _deref(node)
        if "anyOf" in node:
            node = next((_deref(b) for b in node["anyOf"] if "properties" in _deref(b)), node)
        props = node.get("properties") if isinstance(node, dict) else None
        if not props or part not in props:
            return None
        node = props[part]
    return _deref(node)


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = spec.SCHEMAS[node["$ref"].rsplit("/", 1)[1]]
    return node


def _documented_kinds() -> list[str]:
    return [k for k in resources.RESOURCES if k in spec.SCHEMAS]


@pytest.mark.parametrize("kind", _documented_kinds())
def test_every_field_stripe_documents_is_known_to_finlab(kind: str) -> None:
    documented = set(spec.SCHEMAS[kind]["properties"])
    assert documented - resources.RESOURCES[kind].known_fields == set()


@pytest.mark.parametrize("kind", _documented_kinds())
def test_every_column_finlab_reads_is_documented(kind: str) -> None:
    res = resources.RESOURCES[kind]
    undocumented = [c.spec for c in res.columns if c.derive is None and _schema_at(kind, c.path) is None]
    assert undocumented == []


def test_onramp_columns_exist_in_stripes_example() -> None:
    res = resources.RESOURCES["crypto.onramp_session"]
    for col in res.columns:
        node: Any = ONRAMP_EXAMPLE
        for part in col.path:
            assert isinstance(node, dict), col.spec
            assert part in node, col.spec
            node = node[part]


@pytest.mark.parametrize("kind", sorted(resources.RESOURCES))
def test_registry_paths_and_filters_are_declared(kind: str) -> None:
    res = resources.RESOURCES[kind]
    if res.retrieve_path is not None:
        op, _ = spec.find_operation("GET", res.retrieve_path.format(id=res.id_prefix + "1"))
        assert not op.is_list
        assert op.object_schema == kind
    if res.list_path is not None:
        op, _ = spec.find_operation("GET", res.list_path.format(parent="x_1"))
        assert op.is_list
        assert op.object_schema == kind
        declared = {p.name for p in op.params.values() if p.location == "query"}
        assert res.filters - declared == set(), f"{kind}: filters Stripe does not declare"


# ---------------------------------------------------------------------------------------------
# (e) payments, reporting and files: the older subset (issue 14), the one write, the files host
# ---------------------------------------------------------------------------------------------

FILES = "https://files.stripe.com"
OLDER_KINDS = ("payment_intent", "refund", "reporting.report_run", "reporting.report_type", "file")


@pytest.mark.parametrize("name", OLDER_KINDS)
def test_stripe_older_example_objects_validate_against_their_schema(name: str) -> None:
    example = spec.OLDER_FIXTURES["resources"][name]
    assert spec.schema_errors(example, spec.schema_ref(name)) == []


def _tax_file(dataset: Any) -> str:
    runs = _objects(dataset, "reporting.report_run")
    return next(r["result"]["id"] for r in runs if r["result"] and r["report_type"].startswith("tax."))


def _older_request(op: spec.Operation, dataset: Any) -> str:
    """A valid request for ``op`` with real ids from the demo dataset."""
    ids = {
        "{intent}": lambda: _objects(dataset, "payment_intent")[0]["id"],
        "{refund}": lambda: _objects(dataset, "refund")[0]["id"],
        "{report_type}": lambda: "tax.transactions.itemized.2",
        "{report_run}": lambda: _objects(dataset, "reporting.report_run")[0]["id"],
        "{file}": lambda: _tax_file(dataset),
        "{account}": lambda: _objects(dataset, "account")[0]["id"],  # the platform's connected accounts
    }
    path = op.template
    for name, value in ids.items():
        if name in path:
            path = path.replace(name, value())
    return path + ("?limit=100" if op.is_list else "")


def _http(server: Any, key: str, base: str = BASE) -> tuple[httpx.Client, spec.ValidatingTransport]:
    transport = spec.validating_transport(server.handle)
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION}
    return httpx.Client(transport=transport, base_url=base, headers=headers), transport


@pytest.mark.parametrize("op", list(spec.OLDER_GET_OPERATIONS.values()), ids=lambda op: op.template)
def test_every_payments_and_reporting_operation_of_the_demo_server_is_conformant(
    op: spec.Operation, demo: Any
) -> None:
    dataset, server, key = demo
    http, transport = _http(server, key, FILES if op.template == spec.FILE_CONTENTS else BASE)
    with http:
        url = _older_request(op, dataset)
        response = http.get(url)
        assert response.status_code == 200, response.text
        if op.is_list and response.json()["has_more"]:
            cursor = response.json()["data"][-1]["id"]
            assert http.get(f"{url}&starting_after={cursor}").status_code == 200
    transport.assert_clean()


@pytest.mark.parametrize("path", ["/v1/payment_intents", "/v1/refunds", "/v1/reporting/report_runs"])
def test_created_ranges_on_payments_and_runs_are_conformant(path: str, demo: Any) -> None:
    dataset, server, key = demo
    kind = {"/v1/payment_intents": "payment_intent", "/v1/refunds": "refund"}.get(
        path, "reporting.report_run"
    )
    middle = _median_created(dataset, kind)
    http, transport = _http(server, key)
    with http:
        for query in (f"created[gte]={middle}", f"created[lt]={middle}", f"created={middle}"):
            assert http.get(f"{path}?limit=100&{query}").status_code == 200
    transport.assert_clean()
    assert transport.seen[("GET", path, 200)] == 3


def test_creating_a_report_run_is_the_one_write_and_it_conforms() -> None:
    from finlab.demo import DemoStripe, default_dataset
    from finlab.demo.server import DEMO_API_KEY

    dataset = default_dataset()
    kind = dataset["reporting.report_type"][0]
    http, transport = _http(DemoStripe(dataset), DEMO_API_KEY)
    form = {
        "report_type": kind["id"],
        "parameters[interval_start]": str(kind["data_available_start"]),
        "parameters[interval_end]": str(kind["data_available_end"]),
        "parameters[timezone]": "Europe/Berlin",
        "parameters[columns][0]": "id",
        "parameters[columns][1]": "tax_amount",
    }
    with http:
        run = http.post("/v1/reporting/report_runs", data=form).json()
        polls = [http.get(f"/v1/reporting/report_runs/{run['id']}").json()["status"] for _ in range(3)]
        url = http.get(f"/v1/reporting/report_runs/{run['id']}").json()["result"]["url"]
        csv = http.get(url)
    transport.assert_clean()
    assert (run["status"], polls) == ("pending", ["pending", "succeeded", "succeeded"])
    assert csv.content.startswith(b"id,tax_amount\n")
    assert transport.seen[("POST", "/v1/reporting/report_runs", 200)] == 1


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/v1/refunds"),
        ("POST", "/v1/payment_intents/pi_1"),
        ("POST", "/v1/reporting/report_runs/frr_1"),
        ("DELETE", "/v1/reporting/report_runs"),
    ],
)
def test_every_other_write_still_fails(method: str, url: str) -> None:
    raises(lambda: spec.validate_request(get(url, method=method)), "read-only")


def test_file_contents_come_from_the_files_host_only() -> None:
    def files(path: str) -> httpx.Request:
        return httpx.Request("GET", f"{FILES}{path}", headers=HEADERS)

    raises(lambda: spec.validate_request(get("/v1/files/file_1/contents")), "come from files.stripe.com")
    raises(lambda: spec.validate_request(files("/v1/refunds")), "everything else from api.stripe.com")
    assert spec.validate_request(files("/v1/files/file_1/contents")).template == spec.FILE_CONTENTS


def test_a_report_run_form_is_checked_against_the_spec() -> None:
    def post(body: str) -> httpx.Request:
        headers = {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"}
        return httpx.Request("POST", f"{BASE}/v1/reporting/report_runs", headers=headers, content=body)

    assert (
        spec.validate_request(post("report_type=tax.itemized_export.1")).template
        == "/v1/reporting/report_runs"
    )
    raises(lambda: spec.validate_request(post("report_type=x&color=red")), "form body", "color")
    raises(
        lambda: spec.validate_request(post("report_type=x&parameters[interval_start]=soon")), "interval_start"
    )


@pytest.mark.parametrize(
    ("method", "url", "form", "status"),
    [
        ("POST", "/v1/reporting/report_runs", {"report_type": "tax.itemized_export.1"}, 400),
        ("POST", "/v1/reporting/report_runs", {"report_type": "nope.1"}, 404),
        ("GET", "/v1/reporting/report_runs/frr_missing", None, 404),
        ("GET", "/v1/reporting/report_types/nope.1", None, 404),
    ],
)
def test_reporting_errors_match_the_error_schema(
    method: str, url: str, form: dict[str, str] | None, status: int
) -> None:
    from finlab.demo import DemoStripe, default_dataset
    from finlab.demo.server import DEMO_API_KEY

    http, transport = _http(DemoStripe(default_dataset()), DEMO_API_KEY)
    with http:
        response = http.request(method, url, data=form)
    transport.assert_clean()
    assert response.status_code == status


@pytest.mark.parametrize("create", [False, True], ids=["newest run", "create=True"])
def test_tax_report_reads_and_creates_within_the_spec(create: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """tax_report() reads the newest succeeded run (GET only), or creates one: the one POST, validated."""
    from finlab import report_runs
    from finlab.demo.dataset import default_dataset
    from finlab.demo.server import DEMO_API_KEY, DemoStripe

    monkeypatch.setattr(report_runs, "POLL_EVERY", 0.0)
    transport = spec.validating_transport(DemoStripe(default_dataset()).handle)
    with Connection(DEMO_API_KEY, transport=transport, is_demo=True) as stripe:
        frame = stripe.tax_report(create=create)
    transport.assert_clean()
    assert frame.height > 0
    methods = {method for (method, _, _) in transport.seen}
    assert methods == ({"GET", "POST"} if create else {"GET"})
    assert all(status == 200 for (_, _, status) in transport.seen), transport.seen
