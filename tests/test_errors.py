"""The exception tree: shape, attributes, and the promise that the key never shows."""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import builtins

import pytest

import finlab
from finlab import errors

STRIPE_ERRORS = [
    errors.AuthenticationError,
    errors.PermissionError,
    errors.InvalidRequestError,
    errors.NotFoundError,
    errors.RateLimitError,
    errors.APIError,
    errors.ConnectionError,
]


def test_hierarchy() -> None:
    for cls in STRIPE_ERRORS:
        assert issubclass(cls, errors.StripeError)
        assert issubclass(cls, errors.FinlabError)
    assert issubclass(errors.NotFoundError, errors.InvalidRequestError)
    assert issubclass(errors.ConfigurationError, ValueError)
    assert issubclass(errors.PaginationError, errors.FinlabError)
    assert not issubclass(errors.PaginationError, errors.StripeError)
    assert issubclass(errors.SchemaDriftWarning, UserWarning)


def test_builtin_twins_are_caught_by_builtin_handlers() -> None:
    msg = "bad"
    with pytest.raises(builtins.PermissionError):
        raise errors.PermissionError(msg, status=403)
    with pytest.raises(builtins.ConnectionError):
        raise errors.ConnectionError(msg, path="/v1/x", attempts=3)
    with pytest.raises(ValueError, match="bad"):
        raise errors.ConfigurationError(msg)


@pytest.mark.parametrize("cls", STRIPE_ERRORS)
def test_every_stripe_error_carries_its_context(cls: type[errors.StripeError]) -> None:
    err = cls(
        "GET /v1/x failed",
        status=418,
        type="invalid_request_error",
        code="some_code",
        param="limit",
        stripe_message="limit is too big",
        request_id="req_123",
        path="/v1/x",
        attempts=4,
    )
    assert "GET /v1/x failed" == str(err)
    assert 418 == err.status
    assert "invalid_request_error" == err.type
    assert "some_code" == err.code
    assert "limit" == err.param
    assert "limit is too big" == err.stripe_message
    assert "req_123" == err.request_id
    assert "/v1/x" == err.path
    assert 4 == err.attempts
    assert f"{cls.__name__}(status=418, code='some_code', path='/v1/x', request_id='req_123')" == repr(err)


def test_defaults() -> None:
    err = errors.APIError("x")
    assert (None, None, None, None, None, None, None, 1) == (
        err.status,
        err.type,
        err.code,
        err.param,
        err.stripe_message,
        err.request_id,
        err.path,
        err.attempts,
    )


def test_repr_does_not_repeat_the_message() -> None:
    # The message may quote server text; repr shows only the structured fields.
    err = errors.AuthenticationError("Invalid API Key provided: rk_test_secret", status=401)
    assert "rk_test_secret" not in repr(err)


def test_package_exports_every_exception_sorted() -> None:
    names = {
        "APIError",
        "AuthenticationError",
        "ConfigurationError",
        "ConnectionError",
        "FinlabError",
        "InvalidRequestError",
        "NotFoundError",
        "PaginationError",
        "PermissionError",
        "RateLimitError",
        "SchemaDriftWarning",
        "StoreError",
        "StripeError",
    }
    assert names <= set(finlab.__all__)
    assert sorted(finlab.__all__) == finlab.__all__
    for name in names:
        assert getattr(errors, name) is getattr(finlab, name)
