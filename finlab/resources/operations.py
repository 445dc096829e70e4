"""Operations: identity verification, crypto onramp sessions, forwarding requests, webhook endpoints.

Most of these objects carry personal data, secrets or card data: each entry's ``hidden`` keeps those
out of frames on purpose.
"""

from __future__ import annotations

from finlab.resources.model import Col, Resource

#: Identity, crypto onramp, forwarding and webhook objects.
OPERATIONS: tuple[Resource, ...] = (
    Resource(
        "identity.verification_session",
        "verification_sessions",
        "vs_",
        "rak_identity_verification_session_read",
        (
            Col("id"),
            Col("status", enum=("canceled", "processing", "requires_input", "verified")),
            Col("type", enum=("document", "id_number", "verification_flow")),
            Col("last_error.code"),
            Col("last_error.reason"),
            Col(
                "last_verification_report",
                derive=lambda o: (
                    r.get("id") if isinstance(r := o.get("last_verification_report"), dict) else r
                ),
            ),
            Col("client_reference_id"),
            Col("related_customer"),
            Col("redaction.status", enum=("processing", "redacted", "validated")),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/identity/verification_sessions",
        retrieve_path="/v1/identity/verification_sessions/{id}",
        filters=frozenset({"client_reference_id", "created", "related_customer", "status"}),
        # Personal data and secrets stay out of frames on purpose.
        hidden=frozenset(
            {
                "object",
                "client_secret",
                "url",
                "options",
                "provided_details",
                "verified_outputs",
                "related_person",
                "related_customer_account",
                "verification_flow",
            }
        ),
    ),
    Resource(
        "identity.verification_report",
        "verification_reports",
        "vr_",
        "rak_identity_verification_report_read",
        (
            Col("id"),
            Col("type", enum=("document", "id_number", "verification_flow")),
            Col("verification_session"),
            Col("document.status", enum=("unverified", "verified")),
            Col("document.error.code"),
            Col("id_number.status", enum=("unverified", "verified")),
            Col("selfie.status", enum=("unverified", "verified")),
            Col("email.status", enum=("unverified", "verified")),
            Col("phone.status", enum=("unverified", "verified")),
            Col("client_reference_id"),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/identity/verification_reports",
        retrieve_path="/v1/identity/verification_reports/{id}",
        filters=frozenset({"client_reference_id", "created", "type", "verification_session"}),
        hidden=frozenset({"object", "options", "verification_flow"}),
        mutable=False,
    ),
    Resource(
        "crypto.onramp_session",
        "onramp_sessions",
        "cos_",
        "rak_crypto_onramp_session_read",
        (
            Col("id"),
            Col("status"),
            Col("transaction_details.source_currency"),
            Col("transaction_details.source_amount", "crypto"),
            Col("transaction_details.destination_currency"),
            Col("transaction_details.destination_network"),
            Col("transaction_details.destination_amount", "crypto"),
            Col("transaction_details.transaction_id"),
            Col("kyc_details_provided", "bool"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/crypto/onramp_sessions",
        retrieve_path="/v1/crypto/onramp_sessions/{id}",
        filters=frozenset({"created", "status", "destination_currency", "destination_network"}),
        # Private preview: no published enum for status; wallet addresses and secrets stay out.
        hidden=frozenset({"object", "client_secret", "redirect_url", "transaction_details"}),
    ),
    Resource(
        "forwarding.request",
        "forwarding_requests",
        "fwdreq_",
        "rak_forwarding_request_read",
        (
            Col("id"),
            Col("payment_method"),
            Col("url"),
            Col("replacements", "strings"),
            Col("request_details.http_method"),
            Col("response_details.status", "int"),
            Col("request_context.destination_duration", "int"),
            Col("request_context.destination_ip_address"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/forwarding/requests",
        retrieve_path="/v1/forwarding/requests/{id}",
        filters=frozenset({"created"}),
        # Bodies and headers carry card data: never in a frame.
        hidden=frozenset({"object", "request_details", "response_details"}),
        mutable=False,
    ),
    Resource(
        "webhook_endpoint",
        "webhook_endpoints",
        "we_",
        "rak_webhook_endpoint_read",
        (
            Col("id"),
            Col("url"),
            Col("status", enum=("disabled", "enabled")),
            Col("description"),
            Col("api_version"),
            Col("application"),
            Col("enabled_events", "strings"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/webhook_endpoints",
        retrieve_path="/v1/webhook_endpoints/{id}",
        hidden=frozenset({"object", "secret"}),
    ),
)
