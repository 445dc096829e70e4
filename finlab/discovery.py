"""Finding tax transactions without their ids: through PaymentIntents and refunds (read-only).

Stripe cannot list tax transactions. A PaymentIntent's tax association "exposes the Tax Transactions
that Stripe attempted to create on your behalf based on the PaymentIntent input": each attempt has a
``source`` (the payment, or a refund of it), a ``status`` and ``committed.transaction``. So:

1. list the PaymentIntents created in the range (``GET /v1/payment_intents``, ``created`` filter,
   100 a page), and the refunds created in it (``GET /v1/refunds``): a refund months after its sale
   brings in its reversal through its PaymentIntent;
2. resolve each PaymentIntent with ``GET /v1/tax/associations/find`` (404: it has no association);
3. the committed attempts name the tax transactions.

Cost: one list page per 100 PaymentIntents or refunds, plus one association per PaymentIntent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping, Sequence
from typing import Any

from finlab.client import AsyncClient
from finlab.errors import NotFoundError
from finlab.pagination import MAX_IN_FLIGHT, aiter_pages, gather_limited

Json = dict[str, Any]
PAYMENT_INTENTS = "/v1/payment_intents"
REFUNDS = "/v1/refunds"


def _created(window: Mapping[str, int] | None) -> dict[str, Any]:
    return {"created": dict(window)} if window else {}


def payment_intent_pages(
    client: AsyncClient, window: Mapping[str, int] | None, max_objects: int | None = None
) -> AsyncIterator[list[Json]]:
    """Pages of the PaymentIntents created in ``window`` (``{"gte", "lt"}`` epoch seconds; None: all),
    newest first (`PaginationError` past ``max_objects``)."""
    return aiter_pages(client, PAYMENT_INTENTS, _created(window), max_objects=max_objects)


async def payment_intents(
    client: AsyncClient, window: Mapping[str, int] | None, max_objects: int | None = None
) -> list[Json]:
    """PaymentIntents created in ``window``, newest first (see `payment_intent_pages`)."""
    return [pi async for page in payment_intent_pages(client, window, max_objects) for pi in page]


async def refunds(
    client: AsyncClient, window: Mapping[str, int] | None, max_objects: int | None = None
) -> list[Json]:
    """Refunds created in ``window``, newest first (`PaginationError` past ``max_objects``)."""
    pages = aiter_pages(client, REFUNDS, _created(window), max_objects=max_objects)
    return [refund async for page in pages for refund in page]


def refunded(found: Iterable[Mapping[str, Any]]) -> list[str]:
    """The PaymentIntents these refunds refund (a refund of a bare charge has none)."""
    named = (refund.get("payment_intent") for refund in found)
    return list(dict.fromkeys(pi for pi in named if isinstance(pi, str)))


async def find(client: AsyncClient, payment_intent: str) -> Json | None:
    """The PaymentIntent's tax association; None when it has none (Stripe answers 404)."""
    try:
        return await client.get(
            "/v1/tax/associations/find", {"payment_intent": payment_intent}, expect="tax.association"
        )
    except NotFoundError:  # no tax association: the payment had no tax calculation
        return None


async def associations(client: AsyncClient, payment_intents: Sequence[str]) -> dict[str, Json | None]:
    """Each PaymentIntent -> its tax association (None: it has none, Stripe answers 404)."""
    found = await gather_limited(find(client, pi) for pi in payment_intents)
    return dict(zip(payment_intents, found, strict=True))


async def committed(client: AsyncClient, payment_intents: Sequence[str]) -> dict[str, list[str]]:
    """Each PaymentIntent -> the tax transactions its association committed ([] without one)."""
    found = await associations(client, payment_intents)
    return {pi: committed_ids(association or {}) for pi, association in found.items()}


def settled(payment_intent: Mapping[str, Any], association: Mapping[str, Any] | None) -> bool:
    """Whether a PaymentIntent's tax can no longer change except through a refund.

    Canceled: no tax. Succeeded: settled once Stripe attempted its tax transaction (an attempt with
    the payment as its ``source``), or at once without a tax association. Any other status (still
    waiting for a payment method, processing, ...) can still succeed and commit one later.
    """
    status = payment_intent.get("status")
    if status == "canceled":
        return True
    if status != "succeeded":
        return False
    attempts = (association or {}).get("tax_transaction_attempts") or []
    return association is None or any(a.get("source") == payment_intent.get("id") for a in attempts)


def committed_ids(association: Mapping[str, Any]) -> list[str]:
    """The tax transactions a tax association's attempts committed, in their order."""
    ids = []
    for attempt in association.get("tax_transaction_attempts") or []:
        transaction = (attempt.get("committed") or {}).get("transaction")
        if attempt.get("status") == "committed" and isinstance(transaction, str):
            ids.append(transaction)
    return ids


async def to_resolve(
    client: AsyncClient, window: Mapping[str, int] | None, max_objects: int | None = None
) -> list[str]:
    """The PaymentIntents created in ``window``, then those the refunds created in it name (each list
    capped at ``max_objects``)."""
    intents = [pi["id"] for pi in await payment_intents(client, window, max_objects)]
    return list(dict.fromkeys([*intents, *refunded(await refunds(client, window, max_objects))]))


async def resolve(
    client: AsyncClient,
    payment_intents: Sequence[str],
    retrieve: Callable[[str], Awaitable[Json]],
    known: Container[str] = (),
) -> list[tuple[Json | None, list[Json]]]:
    """Each PaymentIntent's tax association, and its committed transactions not in ``known``, each
    retrieved (``retrieve(id)``) as soon as the association names it: the association and the retrieve
    endpoint are busy side by side, each with its own `MAX_IN_FLIGHT` requests, not one after the other."""
    finding, fetching = asyncio.Semaphore(MAX_IN_FLIGHT), asyncio.Semaphore(MAX_IN_FLIGHT)

    async def fetched(tax_id: str) -> Json:
        async with fetching:
            return await retrieve(tax_id)

    async def of(payment_intent: str) -> tuple[Json | None, list[Json]]:
        async with finding:
            association = await find(client, payment_intent)
        new = [t for t in committed_ids(association or {}) if t not in known]
        return association, list(await asyncio.gather(*(fetched(t) for t in new)))

    return list(await asyncio.gather(*(of(pi) for pi in payment_intents)))


def unique(found: Iterable[tuple[Json | None, list[Json]]]) -> list[Json]:
    """The transactions `resolve` retrieved, each once."""
    return list({obj["id"]: obj for _, objects in found for obj in objects}.values())


async def transactions(
    client: AsyncClient,
    window: Mapping[str, int] | None,
    retrieve: Callable[[str], Awaitable[Json]],
    max_objects: int | None = None,
) -> list[Json]:
    """The tax transactions of the PaymentIntents and refunds created in ``window`` (see `resolve`)."""
    return unique(await resolve(client, await to_resolve(client, window, max_objects), retrieve))
