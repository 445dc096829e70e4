"""Identity: verification sessions and the reports behind them."""

from __future__ import annotations

import random

from finlab.demo.clock import DAY, Calendar
from finlab.demo.dataset import (
    Json,
    new_id,
)

_FIRST_NAMES = (
    "Jenny",
    "Marcus",
    "Aiko",
    "Lena",
    "Diego",
    "Priya",
    "Tomás",
    "Grace",
    "Omar",
    "Sofia",
    "Liam",
    "Hana",
)
_LAST_NAMES = (
    "Rosen",
    "Okafor",
    "Tanaka",
    "Fischer",
    "Alvarez",
    "Nair",
    "Silva",
    "Chen",
    "Haddad",
    "Rossi",
    "Walsh",
    "Kim",
)
_FUNNEL = (  # (status, how many, report status or None)
    ("verified", 15, "verified"),
    ("requires_input", 5, "unverified"),
    ("requires_input", 3, None),
    ("processing", 2, None),
    ("canceled", 5, None),
)
_DOCUMENT_ERRORS = (
    ("document_expired", "The document is expired."),
    ("document_unverified_other", "The document could not be verified."),
    ("selfie_face_mismatch", "The selfie does not match the face on the document."),
)


#: Sessions (by number) the account asked Stripe to redact, at each stage of redaction.
_REDACTIONS = {4: {"status": "redacted"}, 11: {"status": "processing"}, 27: {"status": "validated"}}


def make_identity(rng: random.Random, cal: Calendar) -> tuple[list[Json], list[Json]]:
    """Return a verification funnel: 30 sessions and the 20 reports they produced."""
    plan = [(status, report) for status, count, report in _FUNNEL for _ in range(count)]
    rng.shuffle(plan)
    sessions, reports = [], []
    for number, (status, report_status) in enumerate(plan, start=1):
        created = cal.end - rng.randint(2 * 3_600, 180 * DAY)
        kind = "id_number" if rng.random() < 0.2 else "document"
        selfie = kind == "document" and rng.random() < 0.6
        options = (
            {
                "document": {
                    "allowed_types": ["driving_license", "id_card", "passport"],
                    "require_id_number": False,
                    "require_live_capture": True,
                    "require_matching_selfie": selfie,
                }
            }
            if kind == "document"
            else {"id_number": {}}
        )
        session_id = new_id(rng, "vs_")
        error = rng.choice(_DOCUMENT_ERRORS) if report_status == "unverified" else None
        report = None
        if report_status is not None:
            report = _report(
                rng, session_id, f"user_{number:04d}", created + rng.randint(60, 900), kind, options, error
            )
            reports.append(report)
        if status == "requires_input" and error is None:
            error = ("abandoned", "The user did not finish the verification.")
        sessions.append(
            {
                "client_reference_id": f"user_{number:04d}",
                "client_secret": None,
                "created": created,
                "id": session_id,
                "last_error": {"code": error[0], "reason": error[1]} if error else None,
                "last_verification_report": report["id"] if report else None,
                "livemode": False,
                "metadata": {},
                "object": "identity.verification_session",
                "options": options,
                "provided_details": None,
                "redaction": _REDACTIONS.get(number),
                "related_customer": new_id(rng, "cus_") if rng.random() < 0.5 else None,
                "related_customer_account": None,
                "status": status,
                "type": kind,
                "url": f"https://verify.stripe.com/start/test_{new_id(rng, '')}"
                if status == "requires_input"
                else None,
                "verified_outputs": None,
            }
        )
    return sessions, reports


def _contact_checks(rng: random.Random, report: Json, error: tuple[str, str] | None) -> None:
    """Email and phone checks on some document reports: verified, or declined with the session's error."""
    if rng.random() < 0.5:
        return
    declined = error is not None and rng.random() < 0.5
    report["email"] = {"email": None, "error": None, "status": "verified"}
    report["phone"] = {
        "error": {"code": "phone_verification_declined", "reason": "The user declined the phone check."}
        if declined
        else None,
        "phone": None,
        "status": "unverified" if declined else "verified",
    }


def _report(
    rng: random.Random,
    session: str,
    reference: str,
    created: int,
    kind: str,
    options: Json,
    error: tuple[str, str] | None,
) -> Json:
    status = "unverified" if error else "verified"
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    report: Json = {
        "client_reference_id": reference,
        "created": created,
        "id": new_id(rng, "vr_"),
        "livemode": False,
        "object": "identity.verification_report",
        "options": options,
        "type": kind,
        "verification_session": session,
    }
    if kind == "id_number":
        report["id_number"] = {
            "dob": None,
            "error": {"code": "id_number_mismatch", "reason": "The ID number does not match."}
            if error
            else None,
            "first_name": first,
            "id_number": None,
            "id_number_type": "us_ssn",
            "last_name": last,
            "status": status,
        }
        return report
    document_error = error if error and error[0].startswith("document") else None
    report["document"] = {
        "address": {
            "city": "San Francisco",
            "country": "US",
            "line1": "1234 Main St.",
            "line2": None,
            "postal_code": "94111",
            "state": "CA",
        },
        "dob": None,
        "error": {"code": document_error[0], "reason": document_error[1]} if document_error else None,
        "expiration_date": {
            "day": rng.randint(1, 28),
            "month": rng.randint(1, 12),
            "year": rng.randint(2027, 2034),
        },
        "files": [new_id(rng, "file_"), new_id(rng, "file_")],
        "first_name": first,
        "issued_date": {
            "day": rng.randint(1, 28),
            "month": rng.randint(1, 12),
            "year": rng.randint(2016, 2025),
        },
        "issuing_country": "US",
        "last_name": last,
        "number": None,
        "sex": None,
        "status": "unverified" if document_error else "verified",
        "type": rng.choice(("driving_license", "passport", "id_card")),
        "unparsed_place_of_birth": None,
        "unparsed_sex": None,
    }
    _contact_checks(rng, report, error)
    if options["document"]["require_matching_selfie"]:
        selfie_error = error if error and error[0].startswith("selfie") else None
        report["selfie"] = {
            "document": new_id(rng, "file_"),
            "error": {"code": selfie_error[0], "reason": selfie_error[1]} if selfie_error else None,
            "selfie": new_id(rng, "file_"),
            "status": "unverified" if selfie_error else "verified",
        }
    return report
