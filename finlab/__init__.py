"""finlab: Stripe money data as typed Polars frames and widget dashboards in JupyterLab.

>>> import finlab
>>> stripe = finlab.connect()  # doctest: +SKIP
"""

from importlib.metadata import version

from finlab.connection import Connection, connect
from finlab.errors import (
    AccountSkippedWarning,
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionError,
    FinlabError,
    InvalidRequestError,
    MissingExtraError,
    NotFoundError,
    PaginationError,
    PermissionError,
    RateLimitError,
    ReportFormatError,
    ReportRunError,
    SchemaDriftWarning,
    StoreError,
    StripeError,
)
from finlab.extras import DIST

__version__ = version(DIST)

__all__ = [
    "APIError",
    "AccountSkippedWarning",
    "AuthenticationError",
    "ConfigurationError",
    "Connection",
    "ConnectionError",
    "FinlabError",
    "InvalidRequestError",
    "MissingExtraError",
    "NotFoundError",
    "PaginationError",
    "PermissionError",
    "RateLimitError",
    "ReportFormatError",
    "ReportRunError",
    "SchemaDriftWarning",
    "StoreError",
    "StripeError",
    "__version__",
    "connect",
]
