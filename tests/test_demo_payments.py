"""The demo's payments and Stripe's Reporting API: PaymentIntents, refunds, report runs, files host."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from finlab.demo import DEMO_API_KEY, Dataset, DemoStripe, default_dataset, serve
from finlab.demo.dataset import Json
from finlab.demo.payments import UNTAXED_PAYMENTS, paid
from finlab.demo.reporting import FILES_HOST, POLLS_TO_SUCCEED
from finlab.demo.server import DEMO_CLOCK, REPORT_RUN_WRITE
from finlab.demo.tax_exports import planted

AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
DAY = 86_400


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return default_dataset()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A client on a fresh copy of the account (report runs change as they are polled and created)."""
    with httpx.Client(
        transport=DemoStripe(default_dataset()).transport(), base_url="https://api.stripe.com", headers=AUTH
    ) as http:
        yield http


def _lines(dataset: Dataset, txn_id: str) -> list[Json]:
    return [item for item in dataset["tax.transaction_line_item"] if dataset.parents[item["id"]] == txn_id]


def _every(http: httpx.Client, path: str, **params: object) -> list[Json]:
    found: list[Json] = []
    while True:
        after = {"starting_after": found[-1]["id"]} if found else {}
        page = http.get(path, params={"limit": 100, **params, **after}).json()
        found += page["data"]
        if not page["has_more"]:
            return found


# ------------------------------------------------------------------------------------ payments


def test_each_committed_association_has_its_payment_intent_for_what_was_paid(dataset: Dataset) -> None:
    intents = {pi["id"]: pi for pi in dataset["payment_intent"]}
    transactions = {txn["id"]: txn for txn in dataset["tax.transaction"]}
    for association in dataset["tax.association"]:
        intent = intents[association["payment_intent"]]
        sale = association["tax_transaction_attempts"][0]
        if sale["status"] == "committed":
            txn = transactions[sale["committed"]["transaction"]]
            expected = (paid(txn, _lines(dataset, txn["id"])), txn["currency"], "succeeded")
            assert expected == (intent["amount"], intent["currency"], intent["status"])
            assert 0 < txn["posted_at"] - intent["created"] <= 900


def test_some_payment_intents_have_no_tax_association(client: httpx.Client, dataset: Dataset) -> None:
    associated = {a["payment_intent"] for a in dataset["tax.association"]}
    untaxed = [pi["id"] for pi in dataset["payment_intent"] if pi["id"] not in associated]
    errored = [
        a["payment_intent"]
        for a in dataset["tax.association"]
        if a["tax_transaction_attempts"][0]["status"] == "errored"
    ]
    assert (UNTAXED_PAYMENTS, 12) == (len(untaxed), len(errored))
    answer = client.get("/v1/tax/associations/find", params={"payment_intent": untaxed[0]})
    assert (404, "payment_intent") == (answer.status_code, answer.json()["error"]["param"])
    assert client.get("/v1/payment_intents/" + errored[0]).json()["status"] == "succeeded"


def test_each_reversal_has_a_refund_named_by_its_association(dataset: Dataset) -> None:
    refunds = {refund["id"]: refund for refund in dataset["refund"]}
    transactions = {txn["id"]: txn for txn in dataset["tax.transaction"]}
    reversals = [txn for txn in dataset["tax.transaction"] if txn["type"] == "reversal"]
    named = {}
    for association in dataset["tax.association"]:
        for attempt in association["tax_transaction_attempts"][1:]:
            refund = refunds[attempt["source"]]
            reversal = transactions[attempt["committed"]["transaction"]]
            named[reversal["id"]] = refund
            assert refund["payment_intent"] == association["payment_intent"]
            assert refund["amount"] == -paid(reversal, _lines(dataset, reversal["id"])) > 0
            assert 0 < reversal["posted_at"] - refund["created"] <= 300
    assert {txn["id"] for txn in reversals} == set(named)
    assert len(refunds) == len(reversals)


def test_a_refund_comes_months_after_its_sale(dataset: Dataset) -> None:
    intents = {pi["id"]: pi for pi in dataset["payment_intent"]}
    gaps = [refund["created"] - intents[refund["payment_intent"]]["created"] for refund in dataset["refund"]]
    assert max(gaps) > 120 * DAY


def test_payment_intents_and_refunds_list_newest_first_with_created_ranges(
    client: httpx.Client, dataset: Dataset
) -> None:
    for path, kind in (("/v1/payment_intents", "payment_intent"), ("/v1/refunds", "refund")):
        listed = _every(client, path)
        assert sorted(o["id"] for o in dataset[kind]) == sorted(o["id"] for o in listed)
        assert [o["created"] for o in listed] == sorted((o["created"] for o in listed), reverse=True)
        since = listed[len(listed) // 3]["created"]
        recent = _every(client, path, **{"created[gte]": since})
        assert recent == [o for o in listed if o["created"] >= since]
    intent = dataset["refund"][0]["payment_intent"]
    of_one = client.get("/v1/refunds", params={"payment_intent": intent}).json()["data"]
    assert of_one
    assert {r["payment_intent"] for r in of_one} == {intent}


# ------------------------------------------------------------------------------------ reporting


def test_the_tax_report_types_span_the_tax_history(client: httpx.Client, dataset: Dataset) -> None:
    kinds = client.get("/v1/reporting/report_types").json()["data"]
    expected = ["tax.transactions.itemized.2", "tax.itemized_export.1", "tax.summarized_export.1"]
    assert expected == [kind["id"] for kind in kinds]
    posted = [txn["posted_at"] for txn in dataset["tax.transaction"]]
    for kind in kinds:
        assert kind["data_available_start"] <= min(posted)
        assert max(posted) < kind["data_available_end"]
        assert client.get(f"/v1/reporting/report_types/{kind['id']}").json() == kind


def test_report_runs_in_every_state_newest_first(client: httpx.Client) -> None:
    runs = client.get("/v1/reporting/report_runs", params={"limit": 100}).json()["data"]
    assert [run["created"] for run in runs] == sorted((run["created"] for run in runs), reverse=True)
    states = {(run["report_type"].startswith("tax."), run["status"]) for run in runs}
    assert {(True, "succeeded"), (True, "failed"), (True, "pending"), (False, "succeeded")} == states
    failed = next(run for run in runs if run["status"] == "failed")
    assert failed["error"]
    assert failed["result"] is None
    expired = [run for run in runs if run["result"] and run["result"]["expires_at"] < DEMO_CLOCK]
    assert len(expired) == 1


def test_a_pending_run_succeeds_after_polls_and_its_file_is_on_the_files_host(client: httpx.Client) -> None:
    runs = client.get("/v1/reporting/report_runs").json()["data"]
    pending = next(run for run in runs if run["status"] == "pending")
    polls = [
        client.get(f"/v1/reporting/report_runs/{pending['id']}").json() for _ in range(POLLS_TO_SUCCEED + 1)
    ]
    assert [poll["status"] for poll in polls] == ["pending"] * (POLLS_TO_SUCCEED - 1) + ["succeeded"] * 2
    result = polls[-1]["result"]
    assert result["url"] == f"https://{FILES_HOST}/v1/files/{result['id']}/contents"
    contents = client.get(result["url"])
    assert (200, "text/csv", result["size"]) == (
        contents.status_code,
        contents.headers["content-type"],
        len(contents.content),
    )
    assert client.get(f"/v1/files/{result['id']}/contents").status_code == 404  # not on the API host
    assert client.get(f"https://{FILES_HOST}/v1/refunds").status_code == 404  # nothing else on the files host


def test_an_expired_file_is_refused(client: httpx.Client) -> None:
    runs = client.get("/v1/reporting/report_runs").json()["data"]
    expired = next(run for run in runs if run["result"] and run["result"]["expires_at"] < DEMO_CLOCK)
    answer = client.get(expired["result"]["url"])
    assert answer.status_code == 404
    assert "expired" in answer.json()["error"]["message"]


def test_creating_a_run_needs_the_write_permission_and_an_interval_inside_the_data(dataset: Dataset) -> None:
    kind = dataset["reporting.report_type"][0]
    form = {
        "report_type": kind["id"],
        "parameters[interval_start]": kind["data_available_start"],
        "parameters[interval_end]": kind["data_available_end"],
    }
    reader = "rk_test_readonly0000000000000000"
    stripe = DemoStripe(default_dataset(), api_keys={DEMO_API_KEY: None, reader: frozenset()})
    with httpx.Client(transport=stripe.transport(), base_url="https://api.stripe.com") as http:
        refused = http.post(
            "/v1/reporting/report_runs", data=form, headers={"Authorization": f"Bearer {reader}"}
        )
        assert refused.status_code == 403
        assert REPORT_RUN_WRITE in refused.json()["error"]["message"]
        http.headers.update(AUTH)
        early = {**form, "parameters[interval_start]": kind["data_available_start"] - 1}
        assert http.post("/v1/reporting/report_runs", data=early).status_code == 400
        created = http.post("/v1/reporting/report_runs", data=form).json()
        assert (created["status"], created["created"]) == ("pending", DEMO_CLOCK)
        assert (
            http.get("/v1/reporting/report_runs", params={"limit": 1}).json()["data"][0]["id"]
            == created["id"]
        )
        assert http.post("/v1/refunds", data={"payment_intent": "pi_1"}).status_code == 405


def test_the_export_has_the_planted_sale_and_the_api_does_not(client: httpx.Client, dataset: Dataset) -> None:
    txn, _ = planted()
    assert datetime.fromtimestamp(txn["posted_at"], UTC).strftime("%Y-%m") == "2026-03"
    assert client.get(f"/v1/tax/transactions/{txn['id']}").status_code == 404
    runs = client.get("/v1/reporting/report_runs").json()["data"]
    whole = next(
        run
        for run in runs
        if run["report_type"] == "tax.transactions.itemized.2"
        and run["status"] == "succeeded"
        and run["result"]["expires_at"] > DEMO_CLOCK
    )
    assert txn["id"].encode() in client.get(whole["result"]["url"]).content


def test_the_files_host_is_a_second_loopback_port(dataset: Dataset) -> None:
    with serve(DemoStripe(default_dataset())) as server:
        runs = httpx.get(f"{server.url}/v1/reporting/report_runs", headers=AUTH).json()["data"]
        file_id = next(run["result"]["id"] for run in runs if run["report_type"] == "tax.summarized_export.1")
        on_files = httpx.get(f"{server.files_url}/v1/files/{file_id}/contents", headers=AUTH)
        on_api = httpx.get(f"{server.url}/v1/files/{file_id}/contents", headers=AUTH)
    assert (200, 404) == (on_files.status_code, on_api.status_code)
    assert on_files.content.startswith(b"country_code,state_code,")


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/v1/payment_intents", "rak_payment_intent_read"),
        ("/v1/refunds", "rak_refund_read"),
        ("/v1/reporting/report_types", "rak_reporting_report_type_read"),
        ("/v1/reporting/report_runs", "rak_reporting_report_run_read"),
        (f"https://{FILES_HOST}/v1/files/file_1/contents", "rak_file_read"),
    ],
)
def test_a_key_without_the_permission_gets_403_naming_it(path: str, permission: str) -> None:
    reader = "rk_test_nothingallowed00000000000"
    stripe = DemoStripe(default_dataset(), api_keys={reader: frozenset()})
    with httpx.Client(transport=stripe.transport(), base_url="https://api.stripe.com") as http:
        refused = http.get(path, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403
    assert f"'{permission}'" in refused.json()["error"]["message"]
