"""Operations: identity verification funnel, vault forwarding health, webhook endpoints, crypto onramp.

Inputs are the frames of ``stripe.verification_sessions()``, ``stripe.forwarding_requests()``,
``stripe.webhook_endpoints()`` and ``stripe.onramp_sessions()``. Choices:

- Verification funnel steps, each a subset of the one before: ``started`` (every session),
  ``submitted`` (the user sent their data: the session is ``processing`` or ``verified``, or has a
  verification report), ``checked`` (Stripe finished a check: the session has a report), ``verified``.
  Canceled and abandoned sessions drop out at ``started``; `verification_outcomes` says why.
- Forwarding requests are grouped by destination host; a request without a response status counts
  as ``no_response``. Durations are Stripe's ``request_context.destination_duration`` in milliseconds.
- Onramp amounts are decimal amounts in the currency's own unit (Stripe sends them as strings), so
  they are summed per source and destination currency, never across them.

Examples
--------
>>> from finlab.frames import build
>>> sessions = build("identity.verification_session", [
...     {"id": "vs_1", "status": "verified", "type": "document", "last_verification_report": "vr_1"},
...     {"id": "vs_2", "status": "requires_input", "type": "document", "last_error": {"code": "abandoned"}},
... ])
>>> verification_funnel(sessions).select("step", "sessions").rows()
[('started', 2), ('submitted', 1), ('checked', 1), ('verified', 1)]
"""

from __future__ import annotations

import polars as pl

from finlab.analysis import UTC_DATETIME, conform, require_columns

__all__ = [
    "FORWARDING_SUMMARY_SCHEMA",
    "FUNNEL_STEPS",
    "NO_REASON",
    "ONRAMP_STATUSES",
    "ONRAMP_SUMMARY_SCHEMA",
    "VERIFICATION_FUNNEL_SCHEMA",
    "VERIFICATION_OUTCOMES_SCHEMA",
    "WEBHOOK_OVERVIEW_SCHEMA",
    "forwarding_summary",
    "onramp_summary",
    "verification_funnel",
    "verification_outcomes",
    "webhook_overview",
]

FUNNEL_STEPS = ("started", "submitted", "checked", "verified")
#: Reason shown for sessions without ``last_error.code``.
NO_REASON = "(none)"
#: Onramp session statuses in lifecycle order (unknown ones sort after them).
ONRAMP_STATUSES = (
    "initialized",
    "rejected",
    "requires_payment",
    "fulfillment_processing",
    "fulfillment_complete",
)
AMOUNT_DTYPE = pl.Decimal(38, 18)

#: One row per funnel step: sessions reaching it, share of started, loss from the step before.
VERIFICATION_FUNNEL_SCHEMA = pl.Schema(
    {
        "step": pl.String(),
        "step_index": pl.Int64(),
        "sessions": pl.Int64(),
        "share_of_started": pl.Float64(),
        "drop_off": pl.Int64(),
    }
)

#: Sessions per status and reason (``last_error.code``, or `NO_REASON`).
VERIFICATION_OUTCOMES_SCHEMA = pl.Schema(
    {"status": pl.String(), "reason": pl.String(), "sessions": pl.Int64()}
)

#: One row per destination host.
FORWARDING_SUMMARY_SCHEMA = pl.Schema(
    {
        "destination": pl.String(),
        "requests": pl.Int64(),
        "succeeded": pl.Int64(),
        "client_errors": pl.Int64(),
        "server_errors": pl.Int64(),
        "no_response": pl.Int64(),
        "success_rate": pl.Float64(),
        "median_duration_ms": pl.Float64(),
        "p95_duration_ms": pl.Float64(),
    }
)

#: One row per webhook endpoint; ``api_version`` null means the account's default version.
WEBHOOK_OVERVIEW_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "url": pl.String(),
        "status": pl.String(),
        "description": pl.String(),
        "api_version": pl.String(),
        "event_count": pl.Int64(),
        "all_events": pl.Boolean(),
        "created": UTC_DATETIME,
    }
)

#: Onramp sessions per status, source currency, destination currency and network.
ONRAMP_SUMMARY_SCHEMA = pl.Schema(
    {
        "status": pl.String(),
        "source_currency": pl.String(),
        "destination_currency": pl.String(),
        "destination_network": pl.String(),
        "sessions": pl.Int64(),
        "source_amount": AMOUNT_DTYPE,
        "destination_amount": AMOUNT_DTYPE,
    }
)


def verification_funnel(sessions: pl.DataFrame) -> pl.DataFrame:
    """Identity verification sessions reaching each step of `FUNNEL_STEPS`.

    Returns `VERIFICATION_FUNNEL_SCHEMA`, one row per step in order (zeros when there are none).
    """
    require_columns(
        sessions, ("status", "last_verification_report"), "an identity.verification_session frame"
    )
    checked = pl.col("last_verification_report").is_not_null()
    counts = sessions.select(
        started=pl.len(),
        submitted=(pl.col("status").is_in(["processing", "verified"]) | checked).sum(),
        checked=checked.sum(),
        verified=(pl.col("status") == "verified").sum(),
    ).row(0, named=True)
    started = counts["started"]
    funnel = (
        pl.DataFrame({"step": FUNNEL_STEPS, "sessions": [counts[step] for step in FUNNEL_STEPS]})
        .with_row_index("step_index")
        .with_columns(
            share_of_started=pl.col("sessions") / started if started else pl.lit(None, pl.Float64),
            drop_off=(pl.col("sessions").shift(1) - pl.col("sessions")).fill_null(0),
        )
    )
    return conform(funnel, VERIFICATION_FUNNEL_SCHEMA)


def verification_outcomes(sessions: pl.DataFrame) -> pl.DataFrame:
    """Sessions per status and reason, most sessions first. Returns `VERIFICATION_OUTCOMES_SCHEMA`."""
    require_columns(sessions, ("status", "last_error_code"), "an identity.verification_session frame")
    outcomes = (
        sessions.group_by("status", reason=pl.col("last_error_code").fill_null(NO_REASON))
        .agg(sessions=pl.len())
        .sort(["sessions", "status", "reason"], descending=[True, False, False])
    )
    return conform(outcomes, VERIFICATION_OUTCOMES_SCHEMA)


def forwarding_summary(requests: pl.DataFrame) -> pl.DataFrame:
    """Forwarded requests per destination host: outcomes, success rate, median and p95 duration.

    Returns `FORWARDING_SUMMARY_SCHEMA`, busiest destination first.
    """
    require_columns(
        requests,
        ("url", "response_details_status", "request_context_destination_duration"),
        "a forwarding.request frame",
    )
    status = pl.col("response_details_status")
    duration = pl.col("request_context_destination_duration").cast(pl.Float64)
    summary = (
        requests.with_columns(
            destination=pl.coalesce(pl.col("url").str.extract(r"^[A-Za-z]+://([^/:?#]+)", 1), "url")
        )
        .group_by("destination")
        .agg(
            requests=pl.len(),
            succeeded=status.is_between(200, 299).sum(),
            client_errors=status.is_between(400, 499).sum(),
            server_errors=status.is_between(500, 599).sum(),
            no_response=status.is_null().sum(),
            median_duration_ms=duration.median(),
            p95_duration_ms=duration.quantile(0.95, interpolation="linear"),
        )
        .with_columns(success_rate=pl.col("succeeded") / pl.col("requests"))
        .sort(["requests", "destination"], descending=[True, False])
    )
    return conform(summary, FORWARDING_SUMMARY_SCHEMA)


def webhook_overview(endpoints: pl.DataFrame) -> pl.DataFrame:
    """Webhook endpoints with how many events each listens to; enabled first, oldest first.

    ``all_events`` is true for an endpoint subscribed to ``*``. Returns `WEBHOOK_OVERVIEW_SCHEMA`.
    """
    require_columns(
        endpoints, ("id", "url", "status", "enabled_events", "created"), "a webhook_endpoint frame"
    )
    events = pl.col("enabled_events")
    overview = endpoints.with_columns(
        event_count=events.list.len().fill_null(0),
        all_events=events.list.contains("*").fill_null(False),
    ).sort([pl.col("status") != "enabled", "created", "id"])
    return conform(overview, WEBHOOK_OVERVIEW_SCHEMA)


def onramp_summary(sessions: pl.DataFrame) -> pl.DataFrame:
    """Crypto onramp sessions and amounts per status and currency pair, in lifecycle order.

    Returns `ONRAMP_SUMMARY_SCHEMA`; amounts are summed per currency, never across currencies, and
    are null where no session of the group has one (e.g. ``initialized`` sessions).
    """
    details = "transaction_details_"
    require_columns(
        sessions,
        ("status", *(details + name for name in ("source_currency", "source_amount", "destination_amount"))),
        "a crypto.onramp_session frame",
    )
    keys = ["status", "source_currency", "destination_currency", "destination_network"]
    amounts = ["source_amount", "destination_amount"]
    order = pl.col("status").replace_strict(
        {status: index for index, status in enumerate(ONRAMP_STATUSES)},
        default=len(ONRAMP_STATUSES),
        return_dtype=pl.Int64,
    )
    summary = (
        sessions.rename({details + name: name for name in [*keys[1:], *amounts]})
        .group_by(keys)
        .agg(
            pl.len().alias("sessions"),
            *(
                pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum()).alias(name)
                for name in amounts
            ),
        )
        .sort(order, *keys, nulls_last=True)
    )
    return conform(summary, ONRAMP_SUMMARY_SCHEMA)
