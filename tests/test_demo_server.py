"""The fake Stripe: lists, cursors, filters, errors, auth, mutations and the loopback socket."""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from finlab.demo import DEMO_API_KEY, Dataset, DemoStripe, default_dataset, mask_key, serve
from finlab.demo.dataset import ACCOUNT, TRANSACTION, Json
from finlab.demo.generator import DEMO_NOW

BASE = "https://api.stripe.com"
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
#: List endpoints without a required parameter, and the object type each lists.
LISTS = {
    "/v1/financial_connections/accounts": ACCOUNT,
    "/v1/tax/registrations": "tax.registration",
    "/v1/climate/orders": "climate.order",
    "/v1/climate/products": "climate.product",
    "/v1/climate/suppliers": "climate.supplier",
    "/v1/identity/verification_sessions": "identity.verification_session",
    "/v1/identity/verification_reports": "identity.verification_report",
    "/v1/forwarding/requests": "forwarding.request",
    "/v1/webhook_endpoints": "webhook_endpoint",
    "/v1/crypto/onramp_sessions": "crypto.onramp_session",
}
RETRIEVES = {object_type: f"{path}/{{id}}" for path, object_type in LISTS.items()} | {
    TRANSACTION: "/v1/financial_connections/transactions/{id}",
    "tax.transaction": "/v1/tax/transactions/{id}",
    "tax.calculation": "/v1/tax/calculations/{id}",
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return default_dataset()


@pytest.fixture(scope="module")
def stripe(dataset: Dataset) -> DemoStripe:
    return DemoStripe(dataset)


@pytest.fixture(scope="module")
def client(stripe: DemoStripe) -> Iterator[httpx.Client]:
    with httpx.Client(transport=stripe.transport(), base_url=BASE, headers=AUTH) as client:
        yield client


def page_forward(client: httpx.Client, path: str, params: dict[str, Any], limit: int) -> list[Json]:
    """Every object of a list, following ``starting_after``."""
    objects: list[Json] = []
    while True:
        cursor = {"starting_after": objects[-1]["id"]} if objects else {}
        body = client.get(path, params={**params, **cursor, "limit": limit}).json()
        objects += body["data"]
        if not body["has_more"]:
            return objects


def page_backward(
    client: httpx.Client, path: str, params: dict[str, Any], limit: int, oldest: str
) -> list[Json]:
    """Every object newer than ``oldest``, following ``ending_before``; newest first."""
    objects: list[Json] = []
    cursor = oldest
    while True:
        body = client.get(path, params={**params, "ending_before": cursor, "limit": limit}).json()
        objects = body["data"] + objects
        if not body["has_more"]:
            return objects
        cursor = body["data"][0]["id"]


def newest_first(objects: list[Json], field: str = "created") -> list[str]:
    return [obj["id"] for obj in sorted(objects, key=lambda obj: (obj[field], obj["id"]), reverse=True)]


def error_of(response: httpx.Response) -> Json:
    error: Json = response.json()["error"]
    return error


# -------------------------------------------------------------------------------------- pagination


@pytest.mark.parametrize(("path", "object_type"), LISTS.items())
def test_lists_cover_every_object_once_newest_first(
    client: httpx.Client, dataset: Dataset, path: str, object_type: str
) -> None:
    params = {"status": "all"} if object_type == "tax.registration" else {}
    listed = [obj["id"] for obj in page_forward(client, path, params, limit=3)]
    if object_type == "climate.supplier":  # no `created`: listed in the account's order
        expected = [obj["id"] for obj in dataset[object_type]]
    else:
        expected = newest_first(dataset[object_type])
    assert expected == listed


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_transactions_page_both_ways(client: httpx.Client, dataset: Dataset, limit: int) -> None:
    account = dataset[ACCOUNT][1]["id"]
    mine = [txn for txn in dataset[TRANSACTION] if txn["account"] == account]
    expected = newest_first(mine, "transacted_at")
    path, params = "/v1/financial_connections/transactions", {"account": account}
    assert expected == [txn["id"] for txn in page_forward(client, path, params, limit)]
    backward = page_backward(client, path, params, limit, oldest=expected[-1])
    assert expected[:-1] == [txn["id"] for txn in backward]


def test_ties_are_ordered_by_id_descending(client: httpx.Client, dataset: Dataset) -> None:
    account = dataset[ACCOUNT][0]["id"]
    listed = page_forward(client, "/v1/financial_connections/transactions", {"account": account}, 100)
    keys = [(txn["transacted_at"], txn["id"]) for txn in listed]
    assert sorted(keys, reverse=True) == keys
    assert len({txn["transacted_at"] for txn in listed}) < len(listed)


def test_full_listing_takes_one_request_per_page(dataset: Dataset) -> None:
    stripe = DemoStripe(dataset)
    account = max(
        dataset[ACCOUNT], key=lambda acct: sum(t["account"] == acct["id"] for t in dataset[TRANSACTION])
    )
    count = sum(txn["account"] == account["id"] for txn in dataset[TRANSACTION])
    with httpx.Client(transport=stripe.transport(), base_url=BASE, headers=AUTH) as client:
        listed = page_forward(
            client, "/v1/financial_connections/transactions", {"account": account["id"]}, 100
        )
    assert count == len(listed)
    assert math.ceil(count / 100) == len(stripe.requests)
    assert {200} == {request.status for request in stripe.requests}


def test_child_lists_page_a_parents_line_items(client: httpx.Client, dataset: Dataset) -> None:
    parent = max(dataset["tax.transaction"], key=lambda txn: list(dataset.parents.values()).count(txn["id"]))
    expected = [
        item["id"]
        for item in dataset["tax.transaction_line_item"]
        if dataset.parents[item["id"]] == parent["id"]
    ]
    listed = page_forward(client, f"/v1/tax/transactions/{parent['id']}/line_items", {}, limit=1)
    assert expected == [item["id"] for item in listed]
    assert len(expected) > 1


def test_default_limit_is_ten_and_url_is_the_path(client: httpx.Client) -> None:
    body = client.get("/v1/climate/orders").json()
    expected = ("list", 10, True, "/v1/climate/orders")
    assert expected == (body["object"], len(body["data"]), body["has_more"], body["url"])


# ------------------------------------------------------------------------------------------ filters


def test_transacted_at_ranges(client: httpx.Client, dataset: Dataset) -> None:
    account = dataset[ACCOUNT][0]["id"]
    mine = [txn for txn in dataset[TRANSACTION] if txn["account"] == account]
    tied = max(mine, key=lambda txn: sum(t["transacted_at"] == txn["transacted_at"] for t in mine[:2_000]))
    at = tied["transacted_at"]
    cases = {
        "transacted_at": (str(at), lambda t: t == at),
        "transacted_at[gt]": (str(at), lambda t: t > at),
        "transacted_at[gte]": (str(at), lambda t: t >= at),
        "transacted_at[lt]": (str(at), lambda t: t < at),
        "transacted_at[lte]": (str(at), lambda t: t <= at),
    }
    for param, (value, keep) in cases.items():
        expected = newest_first([txn for txn in mine if keep(txn["transacted_at"])], "transacted_at")
        params = {"account": account, param: value}
        listed = page_forward(client, "/v1/financial_connections/transactions", params, 100)
        assert expected == [txn["id"] for txn in listed], param


def test_combined_range_with_cursor(client: httpx.Client, dataset: Dataset) -> None:
    account = dataset[ACCOUNT][2]["id"]
    mine = [txn for txn in dataset[TRANSACTION] if txn["account"] == account]
    low, high = sorted(txn["transacted_at"] for txn in mine)[len(mine) // 4 :: len(mine) // 2][:2]
    expected = newest_first([t for t in mine if low <= t["transacted_at"] < high], "transacted_at")
    params = {"account": account, "transacted_at[gte]": low, "transacted_at[lt]": high}
    assert expected == [
        txn["id"] for txn in page_forward(client, "/v1/financial_connections/transactions", params, 37)
    ]


def test_created_filters(client: httpx.Client, dataset: Dataset) -> None:
    sessions = dataset["identity.verification_session"]
    middle = sorted(session["created"] for session in sessions)[len(sessions) // 2]
    expected = newest_first([s for s in sessions if s["created"] > middle])
    params = {"created[gt]": middle}
    assert expected == [
        s["id"] for s in page_forward(client, "/v1/identity/verification_sessions", params, 100)
    ]
    requests = dataset["forwarding.request"]
    first = min(request["created"] for request in requests)
    expected = newest_first([r for r in requests if r["created"] <= first])
    params = {"created[lte]": first}
    assert expected == [r["id"] for r in page_forward(client, "/v1/forwarding/requests", params, 100)]


def test_forwarding_created_takes_only_a_range(client: httpx.Client) -> None:
    response = client.get("/v1/forwarding/requests", params={"created": 1})
    expected = (400, "Received unknown parameter: created", "created")
    assert expected == (response.status_code, error_of(response)["message"], error_of(response)["param"])


@pytest.mark.parametrize(
    ("path", "params", "object_type"),
    [
        ("/v1/identity/verification_sessions", {"status": "requires_input"}, "identity.verification_session"),
        ("/v1/identity/verification_reports", {"type": "id_number"}, "identity.verification_report"),
        ("/v1/tax/registrations", {"status": "expired"}, "tax.registration"),
        ("/v1/tax/registrations", {"status": "scheduled"}, "tax.registration"),
        ("/v1/tax/registrations", {"status": "active"}, "tax.registration"),
    ],
)
def test_equality_filters(
    client: httpx.Client, dataset: Dataset, path: str, params: dict[str, str], object_type: str
) -> None:
    [(field, value)] = params.items()
    expected = newest_first([obj for obj in dataset[object_type] if obj[field] == value])
    assert expected
    assert expected == [obj["id"] for obj in page_forward(client, path, params, 100)]


def test_reports_of_one_session(client: httpx.Client, dataset: Dataset) -> None:
    report = dataset["identity.verification_report"][0]
    params = {"verification_session": report["verification_session"]}
    expected = [report["id"]]
    assert expected == [
        r["id"] for r in page_forward(client, "/v1/identity/verification_reports", params, 10)
    ]


def test_accounts_by_holder_and_session(client: httpx.Client, dataset: Dataset) -> None:
    holder = dataset[ACCOUNT][0]["account_holder"]["customer"]
    params = {"account_holder[customer]": holder, "session": "fcsess_anything"}
    expected = newest_first(dataset[ACCOUNT])
    assert expected == [
        a["id"] for a in page_forward(client, "/v1/financial_connections/accounts", params, 10)
    ]
    none: list[Json] = []
    assert (
        none
        == client.get(
            "/v1/financial_connections/accounts", params={"account_holder[customer]": "cus_x"}
        ).json()["data"]
    )


def test_invalid_enum_value(client: httpx.Client) -> None:
    response = client.get("/v1/identity/verification_sessions", params={"status": "done"})
    expected = (400, "status")
    assert expected == (response.status_code, error_of(response)["param"])


def test_transactions_need_an_existing_account(client: httpx.Client) -> None:
    missing = client.get("/v1/financial_connections/transactions")
    expected = (400, "parameter_missing", "account")
    assert expected == (missing.status_code, error_of(missing)["code"], error_of(missing)["param"])
    unknown = client.get("/v1/financial_connections/transactions", params={"account": "fca_nope"})
    expected = (404, "resource_missing", "account")
    assert expected == (unknown.status_code, error_of(unknown)["code"], error_of(unknown)["param"])


# ------------------------------------------------------------------------------ validation, errors


@pytest.mark.parametrize(
    ("limit", "status"), [("0", 400), ("101", 400), ("ten", 400), ("1.5", 400), ("1", 200), ("100", 200)]
)
def test_limit_bounds(client: httpx.Client, limit: str, status: int) -> None:
    response = client.get("/v1/climate/orders", params={"limit": limit})
    assert status == response.status_code
    if status == 400:
        expected = ("invalid_request_error", "limit")
        assert expected == (error_of(response)["type"], error_of(response)["param"])


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/financial_connections/transactions", "foo"),
        ("/v1/financial_connections/transactions", "transacted_at[foo]"),
        ("/v1/financial_connections/transactions", "limit[x]"),
        ("/v1/financial_connections/accounts", "account_holder"),
        ("/v1/climate/orders", "created"),
        ("/v1/tax/settings", "limit"),
    ],
)
def test_unknown_parameters(client: httpx.Client, dataset: Dataset, path: str, param: str) -> None:
    response = client.get(path, params={"account": dataset[ACCOUNT][0]["id"], param: "1"})
    if "transactions" not in path:
        response = client.get(path, params={param: "1"})
    expected = (400, f"Received unknown parameter: {param}", param)
    assert expected == (response.status_code, error_of(response)["message"], error_of(response)["param"])


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_unknown_cursor(client: httpx.Client, cursor: str) -> None:
    response = client.get("/v1/climate/orders", params={cursor: "climorder_unknown"})
    expected = (400, "resource_missing", cursor)
    assert expected == (response.status_code, error_of(response)["code"], error_of(response)["param"])


def test_one_cursor_at_a_time(client: httpx.Client, dataset: Dataset) -> None:
    order = dataset["climate.order"][0]["id"]
    response = client.get("/v1/climate/orders", params={"starting_after": order, "ending_before": order})
    expected = 400
    assert expected == response.status_code


def test_expand_is_accepted(client: httpx.Client, dataset: Dataset) -> None:
    order = dataset["climate.order"][0]
    expected = order
    assert expected == client.get(f"/v1/climate/orders/{order['id']}", params={"expand[]": "product"}).json()
    listed = client.get("/v1/climate/orders", params={"expand[0]": "data.product", "limit": 1})
    expected = 200
    assert expected == listed.status_code


def test_expanding_line_items_embeds_them(client: httpx.Client, dataset: Dataset) -> None:
    txn = dataset["tax.transaction"][0]
    plain = client.get(f"/v1/tax/transactions/{txn['id']}").json()
    assert "line_items" not in plain
    expanded = client.get(f"/v1/tax/transactions/{txn['id']}", params={"expand[]": "line_items"}).json()
    expected = [
        item["id"]
        for item in dataset["tax.transaction_line_item"]
        if dataset.parents[item["id"]] == txn["id"]
    ]
    assert expected == [item["id"] for item in expanded["line_items"]["data"]]
    expected_url = f"/v1/tax/transactions/{txn['id']}/line_items"
    assert expected_url == expanded["line_items"]["url"]


@pytest.mark.parametrize("object_type", RETRIEVES)
def test_retrieve_returns_the_object(client: httpx.Client, dataset: Dataset, object_type: str) -> None:
    obj = dataset[object_type][-1]
    assert obj == client.get(RETRIEVES[object_type].format(id=obj["id"])).json()


def test_unknown_id_is_404_with_stripes_body(client: httpx.Client) -> None:
    response = client.get("/v1/climate/orders/climorder_nope")
    expected = 404
    assert expected == response.status_code
    error = error_of(response)
    expected = {"type", "code", "message", "param", "doc_url", "request_log_url"}
    assert expected == set(error)
    expected_values = ("invalid_request_error", "resource_missing", "id")
    assert expected_values == (error["type"], error["code"], error["param"])
    assert "climorder_nope" in error["message"]


def test_unknown_url_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/charges")
    expected = (404, "invalid_request_error")
    assert expected == (response.status_code, error_of(response)["type"])


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_writes_are_405(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/v1/climate/orders")
    expected = (405, "GET", "invalid_request_error")
    assert expected == (response.status_code, response.headers["Allow"], error_of(response)["type"])


def test_headers(client: httpx.Client) -> None:
    first, second = client.get("/v1/tax/settings"), client.get("/v1/tax/settings/nope")
    expected = "application/json"
    assert expected == first.headers["Content-Type"]
    assert first.headers["Request-Id"].startswith("req_")
    assert first.headers["Request-Id"] != second.headers["Request-Id"]
    assert second.headers["Request-Id"] in error_of(second)["request_log_url"]


def test_tax_lookups(client: httpx.Client, dataset: Dataset) -> None:
    association = dataset["tax.association"][0]
    found = client.get("/v1/tax/associations/find", params={"payment_intent": association["payment_intent"]})
    assert association == found.json()
    expected = (400, 404)
    missing = client.get("/v1/tax/associations/find")
    unknown = client.get("/v1/tax/associations/find", params={"payment_intent": "pi_nope"})
    assert expected == (missing.status_code, unknown.status_code)
    settings = dataset["tax.settings"][0]
    assert settings == client.get("/v1/tax/settings").json()
    calculation = dataset["tax.calculation"][0]
    items = client.get(f"/v1/tax/calculations/{calculation['id']}/line_items").json()["data"]
    expected_ids = [
        i["id"] for i in dataset["tax.calculation_line_item"] if dataset.parents[i["id"]] == calculation["id"]
    ]
    assert expected_ids == [item["id"] for item in items]
    expected = 404
    assert expected == client.get("/v1/tax/transactions/tax_nope/line_items").status_code


# -------------------------------------------------------------------------------------- auth


def test_missing_key_is_401(stripe: DemoStripe) -> None:
    response = httpx.Client(transport=stripe.transport(), base_url=BASE).get("/v1/climate/orders")
    expected = 401
    assert expected == response.status_code
    assert error_of(response)["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize(
    "key", ["sk_test_thisIsASecretKeyNobodyShouldSee9876", "rk_live_0123456789abcdefXYZW"]
)
def test_invalid_key_is_401_and_never_echoed(stripe: DemoStripe, key: str) -> None:
    client = httpx.Client(
        transport=stripe.transport(), base_url=BASE, headers={"Authorization": f"Bearer {key}"}
    )
    response = client.get("/v1/climate/orders")
    expected = (401, f"Invalid API Key provided: {mask_key(key)}")
    assert expected == (response.status_code, error_of(response)["message"])
    assert key[-4:] == mask_key(key)[-4:]
    assert key not in response.text
    assert key not in str(response.headers)


def test_basic_auth_works(stripe: DemoStripe) -> None:
    token = base64.b64encode(f"{DEMO_API_KEY}:".encode()).decode()
    client = httpx.Client(
        transport=stripe.transport(), base_url=BASE, headers={"Authorization": f"Basic {token}"}
    )
    expected = 200
    assert expected == client.get("/v1/climate/suppliers").status_code


def test_restricted_key_is_403_naming_the_permission(dataset: Dataset) -> None:
    key = "rk_test_climateOnlyRestrictedKey000000000042"
    stripe = DemoStripe(dataset, api_keys={key: frozenset({"rak_climate_order_read"})})
    client = httpx.Client(
        transport=stripe.transport(), base_url=BASE, headers={"Authorization": f"Bearer {key}"}
    )
    expected = 200
    assert expected == client.get("/v1/climate/orders").status_code
    response = client.get(
        "/v1/financial_connections/transactions", params={"account": dataset[ACCOUNT][0]["id"]}
    )
    expected = 403
    assert expected == response.status_code
    assert "'rak_financial_connections_transaction_read' permission" in error_of(response)["message"]
    assert mask_key(key) in error_of(response)["message"]
    assert key not in response.text


# --------------------------------------------------------------------------- mutations, bookkeeping


def test_transaction_refresh_after_follows_mutations() -> None:
    dataset = default_dataset()
    stripe = DemoStripe(dataset)
    client = httpx.Client(transport=stripe.transport(), base_url=BASE, headers=AUTH)
    account = dataset[ACCOUNT][0]
    path = "/v1/financial_connections/transactions"
    since = account["transaction_refresh"]["id"]
    none: list[Json] = []
    assert none == page_forward(
        client, path, {"account": account["id"], "transaction_refresh[after]": since}, 100
    )
    added = dataset.add_transactions(account["id"], 3, DEMO_NOW + timedelta(hours=1))
    expected = newest_first(added, "transacted_at")
    params = {"account": account["id"], "transaction_refresh[after]": since}
    assert expected == [txn["id"] for txn in page_forward(client, path, params, 100)]
    after_add = account["transaction_refresh"]["id"]
    posted = dataset.post_pending(account["id"], DEMO_NOW + timedelta(hours=2))
    params["transaction_refresh[after]"] = after_add
    expected = newest_first(posted, "transacted_at")
    assert expected == [txn["id"] for txn in page_forward(client, path, params, 100)]
    assert {"posted"} == {txn["status"] for txn in page_forward(client, path, params, 100)}
    assert account == client.get(f"/v1/financial_connections/accounts/{account['id']}").json()


def test_unknown_refresh_is_400(client: httpx.Client, dataset: Dataset) -> None:
    params = {"account": dataset[ACCOUNT][0]["id"], "transaction_refresh[after]": "fctxnref_nope"}
    response = client.get("/v1/financial_connections/transactions", params=params)
    expected = (400, "resource_missing", "transaction_refresh[after]")
    assert expected == (response.status_code, error_of(response)["code"], error_of(response)["param"])


def test_new_climate_orders_are_served_first() -> None:
    dataset = default_dataset()
    client = httpx.Client(transport=DemoStripe(dataset).transport(), base_url=BASE, headers=AUTH)
    order = dataset.add_climate_order(DEMO_NOW)
    assert [order["id"]] == [
        o["id"] for o in client.get("/v1/climate/orders", params={"limit": 1}).json()["data"]
    ]
    dataset.set_order_status(order["id"], "canceled", DEMO_NOW + timedelta(days=1))
    expected = "canceled"
    assert expected == client.get(f"/v1/climate/orders/{order['id']}").json()["status"]


def test_requests_are_recorded(dataset: Dataset) -> None:
    stripe = DemoStripe(dataset)
    client = httpx.Client(transport=stripe.transport(), base_url=BASE, headers=AUTH)
    client.get("/v1/climate/orders", params={"limit": 5})
    client.post("/v1/climate/orders")
    expected = [
        ("GET", "/v1/climate/orders", (("limit", "5"),), 200),
        ("POST", "/v1/climate/orders", (), 405),
    ]
    assert expected == [(r.method, r.path, r.params, r.status) for r in stripe.requests]


def test_async_clients_work(stripe: DemoStripe) -> None:
    async def fetch() -> int:
        async with httpx.AsyncClient(transport=stripe.transport(), base_url=BASE, headers=AUTH) as client:
            response = await client.get("/v1/climate/products")
            return len(response.json()["data"])

    expected = 5
    assert expected == asyncio.run(fetch())


# ---------------------------------------------------------------------------------------- loopback


def test_loopback_round_trip_over_a_socket(dataset: Dataset) -> None:
    stripe = DemoStripe(dataset)
    with serve(stripe) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, headers=AUTH) as client:
            orders = client.get("/v1/climate/orders", params={"limit": 100})
            expected = newest_first(dataset["climate.order"])
            assert expected == [order["id"] for order in orders.json()["data"]]
            assert orders.headers["Request-Id"].startswith("req_")
            expected = 405
            assert expected == client.post("/v1/climate/orders", json={"metric_tons": "1"}).status_code
            expected = 401
            assert expected == httpx.get(f"{server.url}/v1/climate/orders").status_code
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(
                    pool.map(lambda _: client.get("/v1/climate/suppliers").status_code, range(40))
                )
        url = server.url
    expected = [200] * 40
    assert expected == statuses
    expected = 43
    assert expected == len(stripe.requests)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/climate/orders", headers=AUTH)
