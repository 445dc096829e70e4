"""finlab.analysis.operations and finlab.charts.operations: funnel, forwarding, webhooks, onramp."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import finlab
from finlab.analysis.operations import (
    FORWARDING_SUMMARY_SCHEMA,
    ONRAMP_SUMMARY_SCHEMA,
    VERIFICATION_FUNNEL_SCHEMA,
    VERIFICATION_OUTCOMES_SCHEMA,
    WEBHOOK_OVERVIEW_SCHEMA,
    forwarding_summary,
    onramp_summary,
    verification_funnel,
    verification_outcomes,
    webhook_overview,
)
from finlab.charts.operations import forwarding_chart, funnel_chart
from finlab.errors import ConfigurationError
from finlab.frames import build, empty

SESSION = "identity.verification_session"


def session(status: str, report: str | None = None, error: str | None = None) -> dict[str, Any]:
    return {
        "id": f"vs_{status}_{report}_{error}",
        "status": status,
        "type": "document",
        "last_verification_report": report,
        "last_error": {"code": error} if error else None,
    }


def forwarded(url: str, status: int | None, duration: int) -> dict[str, Any]:
    return {
        "id": f"fwdreq_{url}_{status}_{duration}",
        "url": url,
        "response_details": None if status is None else {"status": status},
        "request_context": {"destination_duration": duration},
    }


def test_funnel_steps_are_nested_subsets() -> None:
    sessions = build(
        SESSION,
        [
            session("verified", "vr_1"),
            session("verified", "vr_2"),
            session("requires_input", "vr_3", "document_expired"),  # submitted and checked, failed
            session("processing"),  # submitted, not checked yet
            session("requires_input", error="abandoned"),
            session("canceled"),
        ],
    )
    funnel = verification_funnel(sessions)
    assert VERIFICATION_FUNNEL_SCHEMA == funnel.schema
    assert [("started", 6, 0), ("submitted", 4, 2), ("checked", 3, 1), ("verified", 2, 1)] == funnel.select(
        "step", "sessions", "drop_off"
    ).rows()
    assert [1.0, 4 / 6, 0.5, 2 / 6] == pytest.approx(funnel["share_of_started"].to_list())


def test_funnel_of_no_sessions_has_every_step() -> None:
    funnel = verification_funnel(empty(SESSION))
    assert VERIFICATION_FUNNEL_SCHEMA == funnel.schema
    assert [0, 0, 0, 0] == funnel["sessions"].to_list()
    assert [None] * 4 == funnel["share_of_started"].to_list()


def test_outcomes_name_the_reason() -> None:
    sessions = build(
        SESSION,
        [
            session("requires_input", error="abandoned"),
            session("requires_input", error="abandoned"),
            session("verified", "vr_1"),
        ],
    )
    outcomes = verification_outcomes(sessions)
    assert VERIFICATION_OUTCOMES_SCHEMA == outcomes.schema
    assert [("requires_input", "abandoned", 2), ("verified", "(none)", 1)] == outcomes.rows()


def test_forwarding_summary_per_destination_host() -> None:
    requests = build(
        "forwarding.request",
        [
            forwarded("https://api.vault.example/v2/tokens", 200, 100),
            forwarded("https://api.vault.example/v2/tokens?x=1", 201, 300),
            forwarded("https://api.vault.example:8443/v2/tokens", 402, 500),
            forwarded("https://pay.example/authorize", 503, 900),
            forwarded("https://pay.example/authorize", None, 1000),
        ],
    )
    summary = forwarding_summary(requests)
    assert FORWARDING_SUMMARY_SCHEMA == summary.schema
    vault, pay = summary.rows(named=True)
    assert ("api.vault.example", 3, 2, 1, 0, 0) == tuple(vault[k] for k in list(vault)[:6])
    assert ("pay.example", 2, 0, 0, 1, 1) == tuple(pay[k] for k in list(pay)[:6])
    assert pytest.approx(2 / 3) == vault["success_rate"]
    assert 300.0 == vault["median_duration_ms"]
    assert pytest.approx(480.0) == vault["p95_duration_ms"]
    assert FORWARDING_SUMMARY_SCHEMA == forwarding_summary(empty("forwarding.request")).schema


def test_webhook_overview_enabled_first_with_event_counts() -> None:
    endpoints = build(
        "webhook_endpoint",
        [
            {
                "id": "we_old",
                "url": "https://a.example",
                "status": "disabled",
                "enabled_events": ["*"],
                "created": 1,
            },
            {
                "id": "we_new",
                "url": "https://b.example",
                "status": "enabled",
                "enabled_events": ["climate.order.delivered", "climate.order.canceled"],
                "created": 2,
            },
        ],
    )
    overview = webhook_overview(endpoints)
    assert WEBHOOK_OVERVIEW_SCHEMA == overview.schema
    assert [("we_new", 2, False), ("we_old", 1, True)] == overview.select(
        "id", "event_count", "all_events"
    ).rows()


def test_onramp_summary_in_lifecycle_order_per_currency_pair() -> None:
    def onramp(
        status: str, source: str | None, destination: str | None, currency: str = "usdc"
    ) -> dict[str, Any]:
        details = {
            "source_currency": "usd",
            "source_amount": source,
            "destination_currency": currency,
            "destination_network": "ethereum",
            "destination_amount": destination,
        }
        return {"id": f"cos_{status}_{source}_{currency}", "status": status, "transaction_details": details}

    sessions = build(
        "crypto.onramp_session",
        [
            onramp("fulfillment_complete", "100.50", "99.10"),
            onramp("fulfillment_complete", "10.25", "10.00"),
            onramp("fulfillment_complete", "5", "0.002", currency="eth"),
            onramp("initialized", None, None),
            onramp("brand_new_status", "1", None),
        ],
    )
    summary = onramp_summary(sessions)
    assert ONRAMP_SUMMARY_SCHEMA == summary.schema
    assert [
        ("initialized", "usdc", 1, None, None),
        ("fulfillment_complete", "eth", 1, Decimal("5"), Decimal("0.002")),
        ("fulfillment_complete", "usdc", 2, Decimal("110.75"), Decimal("109.10")),
        ("brand_new_status", "usdc", 1, Decimal("1"), None),
    ] == summary.select(
        "status", "destination_currency", "sessions", "source_amount", "destination_amount"
    ).rows()


def test_wrong_frame_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"an identity\.verification_session frame"):
        verification_funnel(empty("webhook_endpoint"))


def test_charts_of_empty_and_full_frames() -> None:
    sessions = build(SESSION, [session("verified", "vr_1"), session("canceled")])
    spec = funnel_chart(verification_funnel(sessions)).to_dict()
    assert ["bar", "text"] == [layer["mark"]["type"] for layer in spec["layer"]]
    assert {"field": "step_index", "order": "ascending"} == spec["layer"][0]["encoding"]["y"]["sort"]
    assert 4 == len(next(iter(spec["datasets"].values())))

    spec = forwarding_chart(forwarding_summary(empty("forwarding.request"))).to_dict()
    assert ["succeeded", "client_errors", "server_errors", "no_response"] == spec["transform"][0]["fold"]
    assert "bar" == spec["mark"]["type"]


def test_demo_account_identities() -> None:
    stripe = finlab.connect(demo=True)
    sessions = stripe.verification_sessions()
    funnel = dict(verification_funnel(sessions).select("step", "sessions").iter_rows())
    assert sessions.height == funnel["started"]
    assert sessions["status"].eq("verified").sum() == funnel["verified"]
    assert sessions["last_verification_report"].is_not_null().sum() == funnel["checked"]
    requests = stripe.forwarding_requests()
    assert requests.height == forwarding_summary(requests)["requests"].sum()
    onramps = stripe.onramp_sessions()
    assert onramps.height == onramp_summary(onramps)["sessions"].sum()
