"""The exceptions finlab raises.

::

    FinlabError                      anything finlab raises on purpose
    ├── ConfigurationError           bad arguments: key format, base_url, ids, dates, resource names
    ├── MissingExtraError (ImportError) a feature's extra is not installed: names the pip install line
    ├── StripeError                  Stripe (or the network) refused or failed a request
    │   ├── AuthenticationError      401: missing, wrong or revoked key
    │   ├── PermissionError          403: a restricted key lacks a permission
    │   ├── InvalidRequestError      400, 402: Stripe rejected the parameters
    │   │   └── NotFoundError        404: no such object
    │   ├── RateLimitError           429 after every retry
    │   ├── APIError                 5xx, 409 lock_timeout, or a body that is not Stripe's JSON
    │   └── ConnectionError          the request never got an answer (network, timeout)
    ├── PaginationError              the server broke the list contract (repeated cursor, empty has_more)
    ├── StoreError                   the local store cannot be used: unwritable, corrupt, another account's
    ├── ReportFormatError            a Stripe report file finlab cannot read: a needed column, a bad value
    └── ReportRunError               a report run finlab created failed: Stripe's error
    SchemaDriftWarning               a UserWarning, not raised: fields or enum values finlab does not know
    AccountSkippedWarning            a UserWarning, not raised: a connected account Stripe refused (403, 404)

Every ``StripeError`` carries the HTTP ``status``, Stripe's error ``type``, ``code``, ``param`` and
``stripe_message``, the ``request_id``, the endpoint ``path`` and the number of ``attempts``. None of
them ever holds the API key.
"""

from __future__ import annotations

import builtins


class FinlabError(Exception):
    """Base class of every exception finlab raises on purpose."""


class ConfigurationError(FinlabError, ValueError):
    """An argument is wrong: the message says which, and how to fix it."""


class MissingExtraError(FinlabError, ImportError):
    """A feature needs packages an extra installs: the message names the ``pip install`` line."""


class SchemaDriftWarning(UserWarning):
    """A response holds fields or enum values this version of finlab does not know."""


class AccountSkippedWarning(UserWarning):
    """A connected account Stripe refused (403 or 404) was skipped; the other accounts were read."""


class PaginationError(FinlabError):
    """The server broke the list contract: a repeated cursor, or ``has_more`` with no data."""


class StoreError(FinlabError):
    """The local store cannot be used as asked; the message says why, and nothing stored was changed."""


class ReportFormatError(FinlabError, ValueError):
    """A Stripe report file lacks a column finlab needs, or holds a value its column cannot hold."""


class ReportRunError(FinlabError):
    """A report run finlab created (``tax_report(..., create=True)``) failed, with Stripe's error."""


class StripeError(FinlabError):
    """A request Stripe refused, or that failed on the way.

    Examples
    --------
    >>> err = NotFoundError("No such order", status=404, code="resource_missing", request_id="req_1")
    >>> err.status, err.code, err.request_id
    (404, 'resource_missing', 'req_1')
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        stripe_message: str | None = None,
        request_id: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.stripe_message = stripe_message
        self.request_id = request_id
        self.path = path
        self.attempts = attempts

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"path={self.path!r}, request_id={self.request_id!r})"
        )


class AuthenticationError(StripeError):
    """401: the key is missing, wrong or revoked."""


class PermissionError(StripeError, builtins.PermissionError):
    """403: a restricted key lacks the permission this resource needs."""


class InvalidRequestError(StripeError):
    """400 or 402: Stripe rejected the request's parameters."""


class NotFoundError(InvalidRequestError):
    """404: no object has that id."""


class RateLimitError(StripeError):
    """429: still rate limited after every retry."""


class APIError(StripeError):
    """5xx, 409 lock_timeout, or a response body that is not Stripe's JSON."""


class ConnectionError(StripeError, builtins.ConnectionError):
    """The request got no answer: the network failed or it timed out."""
