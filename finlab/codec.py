"""How requests are encoded (Stripe's nested form encoding) and answers decoded (`Decoder`).

Examples
--------
>>> encode_params({"transacted_at": {"gte": 1, "lt": 2}, "expand": ["data.account"], "limit": 100})
[('transacted_at[gte]', '1'), ('transacted_at[lt]', '2'), ('expand[]', 'data.account'), ('limit', '100')]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Params = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Decoder(Generic[T]):
    """How the body of a 200 becomes a value.

    ``parse`` returns None for a body that is not ``what`` (an HTML page from a proxy, truncated JSON,
    another object): the response counts as malformed and is retried. It may raise a `FinlabError`
    for a well-formed body that cannot be used (that is not retried).
    """

    parse: Callable[[bytes], T | None]
    what: str


def json_object(expect: str | None = None) -> Decoder[dict[str, Any]]:
    """The usual decoder: a JSON object whose ``object`` is ``expect`` (any object if None).

    >>> json_object("list").parse(b'{"object": "list", "data": []}')
    {'object': 'list', 'data': []}
    >>> json_object("list").parse(b"<html>") is None
    True
    """

    def parse(content: bytes) -> dict[str, Any] | None:
        body = parse_object(content)
        return body if body is not None and (expect is None or body.get("object") == expect) else None

    return Decoder(parse, f"a JSON {expect!r} object" if expect else "a JSON object")


def encode_params(params: Params, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b]=``, lists as ``a[]=``, bools as true/false."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(encode_params(value, key))
        elif isinstance(value, list | tuple):
            pairs.extend((f"{key}[]", _scalar(item)) for item in value)
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_object(content: bytes) -> dict[str, Any] | None:
    """The JSON object in ``content``; None for anything else (not JSON, nested too deep, a list)."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    return body if isinstance(body, dict) else None
