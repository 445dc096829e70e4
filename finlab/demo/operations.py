"""Forwarding requests, webhook endpoints and crypto onramp sessions."""

from __future__ import annotations

import json
import random
from decimal import Decimal

from finlab.demo.clock import DAY, Calendar
from finlab.demo.dataset import (
    Json,
    new_id,
)

_DESTINATIONS = (
    "https://checkout.partner-psp.example/v71/payments",
    "https://api.card-vault.example/v2/tokens",
    "https://pay.acquirer.example/authorize",
)
_FORWARD_RESULTS = (
    (200, '{"resultCode":"Authorised"}'),
    (201, '{"status":"created"}'),
    (402, '{"error":"card_declined"}'),
    (500, '{"error":"upstream_timeout"}'),
)


def make_forwarding(rng: random.Random, cal: Calendar) -> list[Json]:
    """Return 15 forwarded card requests to payment partners over the last 90 days."""
    requests = []
    for _ in range(15):
        status, body = rng.choices(_FORWARD_RESULTS, weights=(70, 15, 10, 5))[0]
        replacements = [
            "card_number",
            "card_expiry",
            "card_cvc",
            *(["cardholder_name"] if rng.random() < 0.5 else []),
        ]
        requests.append(
            {
                "created": cal.end - rng.randint(3_600, 90 * DAY),
                "id": new_id(rng, "fwdreq_"),
                "livemode": False,
                "metadata": {},
                "object": "forwarding.request",
                "payment_method": new_id(rng, "pm_"),
                "replacements": replacements,
                "request_context": {
                    "destination_duration": rng.randint(120, 2_400),
                    "destination_ip_address": f"203.0.113.{rng.randint(2, 254)}",
                },
                "request_details": {
                    "body": json.dumps(
                        {
                            "amount": rng.randint(500, 90_000),
                            "card": {"number": "************4242", "cvc": "***"},
                        }
                    ),
                    "headers": [
                        {"name": "Content-Type", "value": "application/json"},
                        {"name": "Idempotency-Key", "value": new_id(rng, "")},
                    ],
                    "http_method": "POST",
                },
                "response_details": {
                    "body": body,
                    "headers": [{"name": "Content-Type", "value": "application/json;charset=UTF-8"}],
                    "status": status,
                },
                "url": rng.choice(_DESTINATIONS),
            }
        )
    return requests


_WEBHOOKS = (  # (url, description, enabled events, status)
    (
        "https://api.northwind.example/stripe/webhooks",
        "Bank feeds and tax into the finance warehouse",
        [
            "financial_connections.account.refreshed_balance",
            "financial_connections.account.refreshed_transactions",
            "tax.settings.updated",
        ],
        "enabled",
    ),
    (
        "https://hooks.northwind.example/climate",
        "Carbon removal order tracking",
        ["climate.order.canceled", "climate.order.delayed", "climate.order.delivered"],
        "enabled",
    ),
    (
        "https://identity.northwind.example/webhooks",
        "Customer onboarding checks",
        ["identity.verification_session.requires_input", "identity.verification_session.verified"],
        "enabled",
    ),
    ("https://legacy.northwind.example/stripe", "Old integration, kept for audit", ["*"], "disabled"),
)


def make_webhooks(rng: random.Random, cal: Calendar) -> list[Json]:
    return [
        {
            "api_version": "2026-07-29.dahlia" if status == "enabled" else None,
            "application": None,
            "created": cal.start + index * 90 * DAY + rng.randint(0, 30 * DAY),
            "description": description,
            "enabled_events": events,
            "id": new_id(rng, "we_"),
            "livemode": False,
            "metadata": {},
            "object": "webhook_endpoint",
            "status": status,
            "url": url,
        }
        for index, (url, description, events, status) in enumerate(_WEBHOOKS)
    ]


_ONRAMP_STATUSES = (
    "initialized",
    "rejected",
    "requires_payment",
    "fulfillment_processing",
    "fulfillment_complete",
)
_NETWORKS = (("ethereum", "usdc"), ("solana", "usdc"), ("polygon", "usdc"), ("base_network", "eth"))
_WALLETS = (
    "avalanche",
    "base_network",
    "bitcoin",
    "ethereum",
    "optimism",
    "polygon",
    "solana",
    "stellar",
    "worldchain",
    "sui",
    "tempo",
    "celo",
)


def make_onramp(rng: random.Random, cal: Calendar) -> list[Json]:
    """Return 8 crypto onramp sessions (private preview shape), one or more per status."""
    sessions = []
    for index in range(8):
        status = _ONRAMP_STATUSES[index % len(_ONRAMP_STATUSES)]
        network, currency = rng.choice(_NETWORKS)
        session_id = new_id(rng, "cos_")
        wallet = "0x" + "".join(rng.choices("0123456789abcdef", k=40))
        paid = status in {"fulfillment_processing", "fulfillment_complete"}
        source = Decimal(rng.randint(2_000, 50_000)) / 100
        fee = (source * Decimal("0.015")).quantize(Decimal("0.01"))
        wallets: Json = dict.fromkeys(_WALLETS)
        wallets["destination_tags"] = {"stellar": None}
        if status != "initialized":
            wallets[network] = wallet
        sessions.append(
            {
                "client_secret": f"{session_id}_secret_{new_id(rng, '')}",
                "created": cal.end - rng.randint(3_600, 120 * DAY),
                "id": session_id,
                "kyc_details_provided": status != "initialized",
                "livemode": False,
                "metadata": None,
                "object": "crypto.onramp_session",
                "redirect_url": None,
                "status": status,
                "transaction_details": {
                    "destination_amount": f"{source - fee - Decimal('0.25'):.2f}" if paid else None,
                    "destination_currencies": [currency],
                    "destination_currency": currency,
                    "destination_network": network.removesuffix("_network"),
                    "destination_networks": [network.removesuffix("_network")],
                    "fees": {
                        "network_fee_amount": "0.25" if paid else None,
                        "transaction_fee_amount": f"{fee:.2f}" if paid else None,
                    },
                    "lock_wallet_address": False,
                    "settlement_speed": "instant",
                    "source_amount": f"{source:.2f}" if status != "initialized" else None,
                    "source_currency": "usd",
                    "transaction_id": "0x" + "".join(rng.choices("0123456789abcdef", k=64))
                    if status == "fulfillment_complete"
                    else None,
                    "wallet_address": wallet if status != "initialized" else None,
                    "wallet_addresses": wallets,
                },
            }
        )
    return sessions
