"""Stripe's own OpenAPI spec as a test oracle for every request finlab sends and every response it reads.

The spec (``tests/stripe/spec-subset.json``, API version ``2026-07-29.dahlia``) is loaded once.
`validate_request` checks a request against it; `validate_response` checks the answer; and
`validating_transport` wraps any handler (the demo server's ``handle``) so that both happen on every
exchange and a violation raises inside the handler, failing the test that caused it.

How a request is checked
    * method: finlab only reads, so anything but GET fails, even where the spec has the operation;
    * path: matched against the spec's path templates (literal segments win over ``{params}``), and
      every path parameter against its schema;
    * headers: ``Authorization`` as the spec's security schemes allow (Bearer or Basic) and, when sent,
      ``Stripe-Version`` equal to the spec's version; a GET carries no body;
    * query: Stripe's form encoding is decoded back to the declared names (``transacted_at[gte]=1`` ->
      ``transacted_at={"gte": 1}``, ``expand[]=a`` -> ``expand=["a"]``), strings are coerced to the
      parameter schema's types, and each value is validated against that schema with the OpenAPI 3.0
      schema validator from ``openapi-schema-validator``. Unknown parameters, unknown nested keys
      (``transacted_at[foo]``), repeated scalars and missing required parameters fail. ``limit`` must be
      1..100 (the spec says so in prose). Enums that Stripe marks ``x-stripeBypassValidation`` accept any
      string, as Stripe's API does.

How a response is checked
    * it is JSON (``application/json``) holding an object;
    * a 200 body validates against the operation's 200 schema, anything else against ``error``;
    * schemas are "tightened" once: every object schema that lists ``properties`` and says nothing about
      ``additionalProperties`` gets ``additionalProperties: false`` (a fake Stripe must not invent
      fields), ``nullable: true`` next to ``anyOf`` admits ``null`` (Stripe writes it that way; OpenAPI
      3.0 only honours ``nullable`` beside ``type``), and integers must be JSON integers (not ``1.0``).
      Formats: ``unix-time`` is an integer count of seconds (0 .. 10^10, so milliseconds fail), and
      ``decimal`` a decimal string;
    * beyond the schema (Stripe's documented semantics): a list holds at most ``limit`` objects (10 when
      not given), its ``url`` is the request path, ``starting_after`` is not repeated in the page, objects
      carrying ``created`` come newest first, list filters hold for every object (``transacted_at`` /
      ``created`` ranges, equality filters such as ``account``, ``status``, ``type``), a retrieved
      object's ``id`` is the one asked for, and an expandable field (``x-expansionResources``) is an
      object exactly when the request expanded it.

Payments and reporting (``/v1/payment_intents``, ``/v1/refunds``, ``/v1/reporting/report_types``,
``/v1/reporting/report_runs``, ``/v1/files``) come from the older subset
(``tests/stripe/spec-subset-2024-04-10.json``, API version ``2024-04-10``: the main subset does not
have them). Its operations are checked the same way (`OLDER_GET_OPERATIONS`), and finlab's pinned
``Stripe-Version`` is still the one expected. One write is allowed: ``POST /v1/reporting/report_runs``
(`WRITE_OPERATIONS`), with a form body validated against the spec's request body. File contents
(``GET /v1/files/{file}/contents``, not in either subset: Stripe documents only the file's ``url``)
must go to a host other than api.stripe.com (files.stripe.com) and answer ``text/csv``.

Endpoints finlab reads that are not in the spec subset (Stripe documents them; they are not in the file):
``/v1/financial_connections/accounts[/{account}]`` and ``/v1/crypto/onramp_sessions[/{session}]``. Their
parameters come from a hand-written allow-list (`EXTRA_OPERATIONS`) after Stripe's API reference. Onramp
sessions are checked key for key against Stripe's example object (private preview, no schema);
Financial Connections accounts loosely (``object``, ``id``, ``balance``, ``status``).

Every failure is an `AssertionError` naming the method, path, parameter or JSON pointer, and the reason.

Examples
--------
>>> import httpx
>>> validate_request(httpx.Request("GET", "https://api.stripe.com/v1/climate/orders?limit=100",
...                                headers={"Authorization": "Bearer sk_test_x"})).template
'/v1/climate/orders'
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

STRIPE_DIR = Path(__file__).parent / "stripe"
SPEC: dict[str, Any] = json.loads((STRIPE_DIR / "spec-subset.json").read_text())
FIXTURES: dict[str, Any] = json.loads((STRIPE_DIR / "fixtures-subset.json").read_text())
OLDER_SPEC: dict[str, Any] = json.loads((STRIPE_DIR / "spec-subset-2024-04-10.json").read_text())
OLDER_FIXTURES: dict[str, Any] = json.loads((STRIPE_DIR / "fixtures-subset-2024-04-10.json").read_text())
SPEC_VERSION: str = SPEC["info"]["version"]
SPEC_URI = "urn:finlab-tests:stripe-spec-subset"
OLDER_URI = "urn:finlab-tests:stripe-spec-subset-2024-04-10"
#: The older subset's paths the demo serves (and finlab will read).
OLDER_PATHS = (
    "/v1/payment_intents",
    "/v1/payment_intents/{intent}",
    "/v1/refunds",
    "/v1/refunds/{refund}",
    "/v1/reporting/report_types",
    "/v1/reporting/report_types/{report_type}",
    "/v1/reporting/report_runs",
    "/v1/reporting/report_runs/{report_run}",
    "/v1/files",
    "/v1/files/{file}",
    "/v1/accounts",
    "/v1/accounts/{account}",
)
#: The only non-GET requests finlab may send: (method, path template).
WRITE_OPERATIONS = frozenset({("POST", "/v1/reporting/report_runs")})
FILE_CONTENTS = "/v1/files/{file}/contents"
API_HOST = "api.stripe.com"
EXTRA_URI = "urn:finlab-tests:stripe-extra"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_ERRORS = 8

# ---------------------------------------------------------------------------------------------
# Schema machinery: tightening, a strict type checker, formats, one registry
# ---------------------------------------------------------------------------------------------


NULL: dict[str, Any] = {"enum": [None]}


def _tighten(schema: Any, *, request: bool) -> Any:
    """A copy of ``schema`` as strict as Stripe's real behaviour (see the module docstring)."""
    if isinstance(schema, list):
        return [_tighten(s, request=request) for s in schema]
    if not isinstance(schema, dict) or "$ref" in schema:
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _tighten(sub, request=request) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _tighten(value, request=request)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [_tighten(sub, request=request) for sub in value]
        else:
            out[key] = value
    if "properties" in out and "additionalProperties" not in out and "allOf" not in out:
        out["additionalProperties"] = False
    if out.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            for key in ("anyOf", "oneOf"):
                if key in out:
                    out[key] = [*out[key], NULL]
    if request and out.get("x-stripeBypassValidation") and "enum" in out:
        del out["enum"]
    return out


def _tighten_spec(spec: dict[str, Any]) -> dict[str, Any]:
    tight = copy.deepcopy(spec)
    schemas = tight["components"]["schemas"]
    for name in schemas:
        schemas[name] = _tighten(schemas[name], request=False)
    for item in tight["paths"].values():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            for param in op.get("parameters", []):
                param["schema"] = _tighten(param["schema"], request=True)
                if param["name"] == "limit":
                    param["schema"] = {**param["schema"], "minimum": 1, "maximum": 100}
            for response in op.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    media["schema"] = _tighten(media["schema"], request=False)
    return tight


def _is_int(_: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


FORMATS = FormatChecker(formats=())


@FORMATS.checks("unix-time")
def _unix_time(instance: Any) -> bool:
    return not _is_int(None, instance) or 0 <= instance < 10**10


@FORMATS.checks("decimal")
def _decimal(instance: Any) -> bool:
    if not isinstance(instance, str):
        return True
    return re.fullmatch(r"-?\d+(\.\d+)?", instance) is not None


Validator = jsonschema.validators.extend(
    OAS30Validator, type_checker=OAS30Validator.TYPE_CHECKER.redefine("integer", _is_int)
)

TIGHT_SPEC = _tighten_spec(SPEC)
TIGHT_OLDER_SPEC = _tighten_spec(OLDER_SPEC)
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
OLDER_SCHEMAS: dict[str, Any] = OLDER_SPEC["components"]["schemas"]


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


# ---------------------------------------------------------------------------------------------
# Endpoints outside the spec subset (Stripe documents them; the subset leaves them out)
# ---------------------------------------------------------------------------------------------

STRING = {"type": "string", "maxLength": 5000}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 100}
EXPAND = {"type": "array", "items": STRING}
RANGE = {
    "anyOf": [
        {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("gt", "gte", "lt", "lte")},
            "additionalProperties": False,
        },
        {"type": "integer"},
    ]
}
PAGING = {"limit": LIMIT, "starting_after": STRING, "ending_before": STRING, "expand": EXPAND}


def _list_of(item_ref: str, path: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "url"],
        "additionalProperties": False,
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {"$ref": item_ref}},
            "has_more": {"type": "boolean"},
            "url": {"type": "string", "maxLength": 5000, "pattern": "^" + re.escape(path)},
        },
    }


def _from_example(example: Any) -> dict[str, Any]:
    """A schema that admits objects shaped like Stripe's example object: same keys, same JSON types."""
    if isinstance(example, dict):
        return {
            "type": "object",
            "nullable": True,
            "properties": {k: _from_example(v) for k, v in example.items()},
            "required": sorted(example),
            "additionalProperties": False,
        }
    if example is None:
        return {}
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}[type(example)]
    return {"type": kind, "nullable": True}


def _onramp_schema() -> dict[str, Any]:
    example = FIXTURES["private_preview_resources"]["crypto.onramp_session"]
    schema = _from_example(example)
    schema["nullable"] = False
    props = schema["properties"]
    props["object"] = {"type": "string", "enum": ["crypto.onramp_session"]}
    props["id"] = {"type": "string", "pattern": "^cos_"}
    props["created"] = {"type": "integer", "format": "unix-time"}
    props["metadata"] = {"type": "object", "nullable": True, "additionalProperties": {"type": "string"}}
    # Stripe's API reference: status is one of these (the example shows 'initialized').
    props["status"] = {
        "type": "string",
        "enum": [
            "initialized",
            "rejected",
            "requires_payment",
            "fulfillment_processing",
            "fulfillment_complete",
        ],
    }
    return schema


FC_ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "balance", "status"],
    "properties": {
        "id": {"type": "string", "pattern": "^fca_"},
        "object": {"type": "string", "enum": ["financial_connections.account"]},
        "balance": {"type": "object", "nullable": True},
        "status": {"type": "string", "enum": ["active", "disconnected", "inactive"]},
        "created": {"type": "integer", "format": "unix-time"},
        "livemode": {"type": "boolean"},
    },
}

EXTRA_SCHEMAS: dict[str, Any] = {
    "financial_connections.account": FC_ACCOUNT_SCHEMA,
    "crypto.onramp_session": _onramp_schema(),
    "financial_connections.account.list": _list_of(
        f"{EXTRA_URI}#/financial_connections.account", "/v1/financial_connections/accounts"
    ),
    "crypto.onramp_session.list": _list_of(
        f"{EXTRA_URI}#/crypto.onramp_session", "/v1/crypto/onramp_sessions"
    ),
}

#: Operations Stripe documents outside the subset: path -> (query parameters, 200 schema name).
EXTRA_OPERATIONS: dict[str, tuple[dict[str, Any], str]] = {
    # https://docs.stripe.com/api/financial_connections/accounts/list
    "/v1/financial_connections/accounts": (
        {
            **PAGING,
            "account_holder": {
                "type": "object",
                "properties": {"account": STRING, "customer": STRING},
                "additionalProperties": False,
            },
            "session": STRING,
        },
        "financial_connections.account.list",
    ),
    "/v1/financial_connections/accounts/{account}": ({"expand": EXPAND}, "financial_connections.account"),
    # https://docs.stripe.com/api/crypto/onramp_sessions/list
    "/v1/crypto/onramp_sessions": (
        {
            **PAGING,
            "created": RANGE,
            "destination_currency": STRING,
            "destination_network": STRING,
            "status": _onramp_schema()["properties"]["status"],
        },
        "crypto.onramp_session.list",
    ),
    "/v1/crypto/onramp_sessions/{session}": ({"expand": EXPAND}, "crypto.onramp_session"),
    # https://docs.stripe.com/api/files/object (url): the file's bytes, on files.stripe.com
    FILE_CONTENTS: ({}, "file_contents"),
}
EXTRA_SCHEMAS["file_contents"] = {"description": "the file's bytes (text/csv for report runs), not JSON"}
EXTRA_SCHEMAS["path_param"] = STRING
EXTRA_SCHEMAS["params"] = {template: query for template, (query, _) in EXTRA_OPERATIONS.items()}

REGISTRY = Registry().with_resources(
    [
        (SPEC_URI, Resource(contents=TIGHT_SPEC, specification=DRAFT4)),
        (OLDER_URI, Resource(contents=TIGHT_OLDER_SPEC, specification=DRAFT4)),
        (EXTRA_URI, Resource(contents=EXTRA_SCHEMAS, specification=DRAFT4)),
    ]
)


def validator_for(ref: str) -> Any:
    """An OAS 3.0 validator for the schema at ``ref`` (``urn:...#/json/pointer``), built once."""
    with _lock:
        found = _validators.get(ref)
        if found is None:
            found = _validators[ref] = Validator({"$ref": ref}, registry=REGISTRY, format_checker=FORMATS)
        return found


_validators: dict[str, Any] = {}
_lock = threading.Lock()


def schema_ref(name: str) -> str:
    """The reference of a component schema (``'climate.order'``) or an extra schema."""
    if name in SCHEMAS:
        return f"{SPEC_URI}#{_pointer('components', 'schemas', name)}"
    if name in OLDER_SCHEMAS:
        return f"{OLDER_URI}#{_pointer('components', 'schemas', name)}"
    if name in EXTRA_SCHEMAS:
        return f"{EXTRA_URI}#/{name}"
    msg = f"no schema named {name!r} in the spec subset or the extra schemas"
    raise KeyError(msg)


ERROR_REF = schema_ref("error")


def short(value: Any, width: int = 80) -> str:
    """``repr(value)``, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(error: ValidationError) -> str:
    """``/json/pointer: reason``, descending into the best branch of anyOf/oneOf failures."""
    while error.context:
        branches = [e for e in error.context if e.schema is not NULL and e.validator_value != [None]]
        # Prefer the branch of the instance's own type: its error says what is wrong inside it.
        branches = [e for e in branches if not (e.validator == "type" and not e.relative_path)] or branches
        deeper = best_match(branches or error.context)
        if deeper is None or deeper is error:
            break
        error = deeper
    pointer = "/" + "/".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 300:
        message = message.replace(repr(error.instance), short(error.instance))
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{pointer}: {message}"


def schema_errors(instance: Any, ref: str) -> list[str]:
    """Every violation of the schema at ``ref`` by ``instance``, as ``/pointer: reason`` lines."""
    errors = sorted(validator_for(ref).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e) for e in errors]


def check_schema(instance: Any, ref: str, where: str) -> None:
    """Raise AssertionError listing the violations of ``ref`` by ``instance``."""
    errors = schema_errors(instance, ref)
    if errors:
        shown = "\n  ".join(errors[:MAX_ERRORS])
        more = f"\n  … and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        msg = f"{where} violates {ref.split('#', 1)[1]}:\n  {shown}{more}"
        raise AssertionError(msg)


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One declared parameter: where it goes, whether it is required, and its schema reference."""

    name: str
    location: str
    required: bool
    ref: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    """One operation (method + path template) in the spec or the extra allow-list."""

    method: str
    template: str
    params: Mapping[str, Param]
    response_ref: str | None
    source: str
    regex: re.Pattern[str] = field(compare=False)

    @property
    def is_list(self) -> bool:
        """Whether the 200 body is a Stripe list."""
        return "limit" in self.params

    @property
    def literal_segments(self) -> int:
        """How specific the template is (literal segments win over templated ones)."""
        return sum(1 for s in self.template.split("/") if s and not s.startswith("{"))

    @property
    def object_schema(self) -> str | None:
        """The component schema of the objects this operation returns (list items or the body)."""
        if self.response_ref is None:
            return None
        if self.source == "extra":
            return self.response_ref.rsplit("/", 1)[1].removesuffix(".list")
        node = _at(self.response_ref)
        if self.is_list:
            node = node["properties"]["data"]["items"]
        return str(node["$ref"]).rsplit("/", 1)[1] if "$ref" in node else None


def _at(ref: str) -> Any:
    """The node at ``ref`` (no dereferencing)."""
    uri, pointer = ref.split("#", 1)
    node: Any = {SPEC_URI: TIGHT_SPEC, OLDER_URI: TIGHT_OLDER_SPEC}.get(uri, EXTRA_SCHEMAS)
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


def _spec_operations(
    spec: dict[str, Any] = SPEC, tight: dict[str, Any] = TIGHT_SPEC, uri: str = SPEC_URI
) -> list[Operation]:
    ops = []
    for template, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = {}
            for i, p in enumerate(op.get("parameters", [])):
                ref = f"{uri}#{_pointer('paths', template, method, 'parameters', str(i), 'schema')}"
                params[p["name"]] = Param(
                    p["name"],
                    p["in"],
                    bool(p.get("required")),
                    ref,
                    tight["paths"][template][method]["parameters"][i]["schema"],
                )
            ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
            response_ref = (
                uri
                + "#"
                + _pointer(
                    "paths", template, method, "responses", "200", "content", "application/json", "schema"
                )
                if ok
                else None
            )
            ops.append(
                Operation(method.upper(), template, params, response_ref, "spec", _template_regex(template))
            )
    return ops


def _older_operations() -> list[Operation]:
    """The older subset's GETs of `OLDER_PATHS`, and the `WRITE_OPERATIONS`."""
    return [
        op
        for op in _spec_operations(OLDER_SPEC, TIGHT_OLDER_SPEC, OLDER_URI)
        if op.template in OLDER_PATHS and (op.method == "GET" or (op.method, op.template) in WRITE_OPERATIONS)
    ]


def _extra_operations() -> list[Operation]:
    ops = []
    for template, (query, response) in EXTRA_OPERATIONS.items():
        params = {}
        for name, schema in query.items():
            ref = f"{EXTRA_URI}#{_pointer('params', template, name)}"
            params[name] = Param(name, "query", False, ref, schema)
        for name in re.findall(r"\{([^}]+)\}", template):
            params[name] = Param(name, "path", True, f"{EXTRA_URI}#/path_param", STRING)
        ops.append(
            Operation("GET", template, params, schema_ref(response), "extra", _template_regex(template))
        )
    return ops


_MAIN_OPERATIONS = _spec_operations() + [op for op in _extra_operations() if op.template != FILE_CONTENTS]
GET_OPERATIONS: dict[str, Operation] = {op.template: op for op in _MAIN_OPERATIONS if op.method == "GET"}
#: Payments, reporting and files (the older subset), and file contents.
OLDER_GET_OPERATIONS: dict[str, Operation] = {
    op.template: op
    for op in [*_older_operations(), *_extra_operations()]
    if op.method == "GET" and (op.template in OLDER_PATHS or op.template == FILE_CONTENTS)
}
OPERATIONS: list[Operation] = [
    *_MAIN_OPERATIONS,
    *(op for op in _older_operations() if op.template not in GET_OPERATIONS or op.method != "GET"),
    OLDER_GET_OPERATIONS[FILE_CONTENTS],
]


def find_operation(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    """The operation serving ``method path`` and its path parameters, or AssertionError."""
    matches = [(op, m) for op in OPERATIONS if (m := op.regex.match(path))]
    if not matches:
        msg = f"{method} {path}: no such path in Stripe's spec subset or finlab's documented extra endpoints"
        raise AssertionError(msg)
    best = max(op.literal_segments for op, _ in matches)
    matches = [(op, m) for op, m in matches if op.literal_segments == best]
    for op, m in matches:
        if op.method == method:
            return op, m.groupdict()
    allowed = sorted({op.method for op, _ in matches})
    msg = f"{method} {path}: method not in the spec for {matches[0][0].template} (it has {allowed})"
    raise AssertionError(msg)


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------

_KEY = re.compile(r"(?P<name>[^\[\]]+)(?P<subs>(?:\[[^\[\]]*\])*)")
_SUB = re.compile(r"\[([^\[\]]*)\]")


def decode_query(pairs: list[tuple[str, str]], where: str = "query") -> dict[str, Any]:
    """Stripe's form encoding back to nested values: ``a[b]=1`` -> ``{"a": {"b": "1"}}``, ``a[]=x`` -> list.

    >>> decode_query([("transacted_at[gte]", "1"), ("expand[]", "a"), ("expand[]", "b"), ("limit", "3")])
    {'transacted_at': {'gte': '1'}, 'expand': ['a', 'b'], 'limit': '3'}
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        if match is None:
            msg = f"{where}: parameter {key!r} is not a name followed by [key] parts"
            raise AssertionError(msg)
        subs = _SUB.findall(match["subs"])
        path = [match["name"], *subs]
        if "" in subs[:-1]:
            msg = f"{where}: parameter {key!r}: '[]' may only end a parameter name"
            raise AssertionError(msg)
        node: dict[str, Any] = root
        for depth, part in enumerate(path[:-1]):
            nxt = path[depth + 1]
            if nxt == "":
                existing = node.setdefault(part, [])
                if not isinstance(existing, list):
                    msg = f"{where}: parameter {key!r} mixes a list with another form of {part!r}"
                    raise AssertionError(msg)
                existing.append(value)
                break
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                msg = f"{where}: parameter {key!r}: {part!r} is given both as a value and as a nested object"
                raise AssertionError(msg)
            node = child
        else:
            last = path[-1]
            if last in node:
                msg = f"{where}: parameter {key!r} is given more than once (or also as a nested object)"
                raise AssertionError(msg)
            node[last] = value
    return root


def coerce(raw: Any, schema: Mapping[str, Any]) -> Any:
    """Form strings to the JSON types ``schema`` asks for (ints, bools, lists, nested objects)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for branch in schema[key]:
                value = coerce(raw, branch)
                if Validator(branch, registry=REGISTRY, format_checker=FORMATS).is_valid(value):
                    return value
            return raw
    kind = schema.get("type")
    if isinstance(raw, dict):
        if kind == "object":
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            return {
                k: coerce(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in raw.items()
            }
        if kind == "array" and all(k.isdigit() for k in raw):
            return [coerce(raw[k], schema.get("items", {})) for k in sorted(raw, key=int)]
        return raw
    if isinstance(raw, list):
        return [coerce(v, schema.get("items", {})) for v in raw] if kind == "array" else raw
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


@dataclass
class CheckedRequest:
    """A request that passed: its operation, path parameters and decoded query."""

    operation: Operation
    path_params: dict[str, str]
    query: dict[str, Any]

    @property
    def template(self) -> str:
        """The matched path template."""
        return self.operation.template


def _query_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def validate_request(request: httpx.Request, *, require_auth: bool = True) -> CheckedRequest:
    """Check ``request`` against the spec (see the module docstring); AssertionError on any violation."""
    method, path = request.method.upper(), request.url.path
    where = f"{method} {path if len(path) < 120 else path[:119] + '…'}"
    writes = {template for verb, template in WRITE_OPERATIONS if verb == method}
    if method != "GET" and not any(_template_regex(t).match(path) for t in writes):
        msg = f"{where}: finlab is read-only and must only send GET (the one write is creating a report run)"
        raise AssertionError(msg)
    op, path_params = find_operation(method, path)
    files_host = request.url.host != API_HOST
    if (op.template == FILE_CONTENTS) != files_host and request.url.host in {API_HOST, "files.stripe.com"}:
        msg = f"{where}: file contents come from files.stripe.com, everything else from {API_HOST}"
        raise AssertionError(msg)
    if require_auth:
        auth = request.headers.get("authorization", "")
        if not re.fullmatch(r"(Bearer|Basic) \S+", auth):
            msg = (
                f"{where}: header Authorization must be 'Bearer <key>' or 'Basic <...>' "
                "(the spec's securitySchemes)"
            )
            raise AssertionError(msg)
    version = request.headers.get("stripe-version")
    if version is not None and version != SPEC_VERSION:
        msg = f"{where}: header Stripe-Version is {version!r}, the spec describes {SPEC_VERSION!r}"
        raise AssertionError(msg)
    if method == "POST":
        return _validate_form(request, op, where)
    if request.content:
        msg = f"{where}: a GET must not carry a body (got {len(request.content)} bytes)"
        raise AssertionError(msg)
    for name, value in path_params.items():
        param = op.params.get(name)
        if param is None or param.location != "path":
            msg = f"{where}: path parameter {name!r} of {op.template} is not declared"
            raise AssertionError(msg)
        check_schema(value, param.ref, f"{where}: path parameter {name!r}={short(value)}")
    query = decode_query(_query_pairs(request), where)
    decoded = {}
    for name, raw in query.items():
        param = op.params.get(name)
        if param is None or param.location != "query":
            known = sorted(p.name for p in op.params.values() if p.location == "query")
            msg = (
                f"{where}: unknown query parameter {name!r} for {op.method} {op.template} (declared: {known})"
            )
            raise AssertionError(msg)
        value = coerce(raw, param.schema)
        check_schema(value, param.ref, f"{where}: query parameter {name!r}={short(raw)}")
        decoded[name] = value
    missing = sorted(
        p.name for p in op.params.values() if p.required and p.location == "query" and p.name not in query
    )
    if missing:
        msg = f"{where}: required query parameter(s) {missing} missing for {op.template}"
        raise AssertionError(msg)
    return CheckedRequest(op, path_params, decoded)


def _validate_form(request: httpx.Request, op: Operation, where: str) -> CheckedRequest:
    """A write's form body against the operation's request body schema; no query string."""
    if request.url.query:
        msg = f"{where}: a POST carries its parameters in the form body, not the query"
        raise AssertionError(msg)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        msg = f"{where}: Content-Type is {content_type!r}, Stripe takes application/x-www-form-urlencoded"
        raise AssertionError(msg)
    uri = OLDER_URI if op.template in OLDER_PATHS else SPEC_URI
    pointer = _pointer(
        "paths", op.template, "post", "requestBody", "content", "application/x-www-form-urlencoded", "schema"
    )
    ref = f"{uri}#{pointer}"
    form = decode_query(parse_qsl(request.content.decode(), keep_blank_values=True), where)
    body = coerce(form, _at(ref))
    check_schema(body, ref, f"{where}: form body")
    return CheckedRequest(op, {}, body)


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------

_RANGE_OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda v, b: v > b,
    "gte": lambda v, b: v >= b,
    "lt": lambda v, b: v < b,
    "lte": lambda v, b: v <= b,
}
_NOT_FILTERS = frozenset({"limit", "starting_after", "ending_before", "expand", "transaction_refresh"})


def _expandable(object_type: str) -> set[str]:
    schema = SCHEMAS.get(object_type) or OLDER_SCHEMAS.get(object_type) or {}
    return {name for name, sub in schema.get("properties", {}).items() if "x-expansionResources" in sub}


def _filter_problems(obj: Mapping[str, Any], query: Mapping[str, Any]) -> Iterator[str]:
    for name, value in query.items():
        if name in _NOT_FILTERS or name not in obj:
            continue
        actual = obj[name]
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"gte": value, "lte": value}
        if isinstance(value, dict) and value and set(value) <= set(_RANGE_OPS):
            if not isinstance(actual, int):
                yield f"/{name}: is {actual!r}, but the request filtered {name}={value}"
                continue
            failed = [f"{op} {bound}" for op, bound in value.items() if not _RANGE_OPS[op](actual, bound)]
            if failed:
                yield f"/{name}: {actual} is not {' and '.join(failed)} as the request's filter asks"
        elif isinstance(value, str) and not (name == "status" and value == "all"):
            if actual != value:
                yield f"/{name}: is {actual!r}, but the request filtered {name}={value!r}"
        elif isinstance(value, dict) and isinstance(actual, dict):
            for key, wanted in value.items():
                if actual.get(key) != wanted:
                    got = actual.get(key)
                    yield f"/{name}/{key}: is {got!r}, but the request filtered {name}[{key}]={wanted!r}"


def _semantic_problems(checked: CheckedRequest, body: Mapping[str, Any]) -> list[str]:
    """Stripe's documented behaviour beyond the schema (limits, cursors, filters, expansion, ids)."""
    op, query = checked.operation, checked.query
    problems: list[str] = []
    expand = set(query.get("expand") or [])
    if op.is_list:
        data = body.get("data") or []
        limit = query.get("limit", 10)
        if len(data) > limit:
            problems.append(f"/data: {len(data)} objects, more than limit={limit}")
        url = body.get("url")
        if url != checked_path(checked):
            problems.append(f"/url: is {url!r}, the list was requested at {checked_path(checked)!r}")
        after = query.get("starting_after")
        for i, obj in enumerate(data):
            if not isinstance(obj, dict):
                continue
            if after is not None and obj.get("id") == after:
                problems.append(f"/data/{i}/id: the starting_after cursor {after!r} is repeated in the page")
            problems += [f"/data/{i}{p}" for p in _filter_problems(obj, query)]
        created = [o.get("created") for o in data if isinstance(o, dict)]
        if all(isinstance(c, int) for c in created):
            for i in range(1, len(created)):
                if created[i] > created[i - 1]:
                    problems.append(
                        f"/data/{i}/created: {created[i]} is newer than "
                        f"/data/{i - 1}/created {created[i - 1]}; "
                        "Stripe lists are newest first"
                    )
                    break
        objects = [
            (f"/data/{i}", o, {e.removeprefix("data.") for e in expand if e.startswith("data.")})
            for i, o in enumerate(data)
        ]
    else:
        last = op.template.rsplit("/", 1)[-1]
        if last.startswith("{") and "id" in body:
            wanted = checked.path_params[last[1:-1]]
            if body["id"] != wanted:
                problems.append(f"/id: is {body['id']!r}, the request asked for {wanted!r}")
        objects = [("", body, expand)]
    for prefix, obj, expanded in objects:
        if not isinstance(obj, dict):
            continue
        for name in sorted(_expandable(str(obj.get("object")))):
            value = obj.get(name)
            if isinstance(value, dict) and name not in expanded:
                problems.append(f"{prefix}/{name}: an expanded object, but the request did not expand it")
            if isinstance(value, str) and name in expanded:
                problems.append(f"{prefix}/{name}: an id, but the request asked expand[]={name}")
    return problems


def checked_path(checked: CheckedRequest) -> str:
    """The request path rebuilt from the template (what a list's ``url`` must be)."""
    path = checked.operation.template
    for name, value in checked.path_params.items():
        path = path.replace("{" + name + "}", value)
    return path


def validate_response(request: httpx.Request, response: httpx.Response, *, semantics: bool = True) -> Any:
    """Check ``response`` to ``request`` against the spec; AssertionError naming the JSON pointers."""
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    content_type = response.headers.get("content-type", "")
    if (
        response.status_code == 200
        and validate_request(request, require_auth=False).template == FILE_CONTENTS
    ):
        if not content_type.startswith("text/csv"):
            msg = f"{where}: Content-Type is {content_type!r}, a report run's file is text/csv"
            raise AssertionError(msg)
        return response.content
    if not content_type.startswith("application/json"):
        msg = f"{where}: Content-Type is {content_type!r}, Stripe answers application/json"
        raise AssertionError(msg)
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        msg = f"{where}: the body is not JSON ({exc})"
        raise AssertionError(msg) from None
    if not isinstance(body, dict):
        msg = f"{where}: the body is a JSON {type(body).__name__}, Stripe answers with an object"
        raise AssertionError(msg)
    if response.status_code != 200:
        if response.status_code < 400:
            msg = f"{where}: a GET answers 200 or an error status (4xx/5xx), not {response.status_code}"
            raise AssertionError(msg)
        check_schema(body, ERROR_REF, where)
        return body
    checked = validate_request(request, require_auth=False)
    if checked.operation.response_ref is None:
        msg = f"{where}: the spec has no 200 JSON response for {checked.operation.template}"
        raise AssertionError(msg)
    check_schema(body, checked.operation.response_ref, where)
    if semantics:
        problems = _semantic_problems(checked, body)
        if problems:
            shown = "\n  ".join(problems[:MAX_ERRORS])
            more = f"\n  … and {len(problems) - MAX_ERRORS} more" if len(problems) > MAX_ERRORS else ""
            msg = f"{where} breaks Stripe's documented behaviour:\n  {shown}{more}"
            raise AssertionError(msg)
    return body


# ---------------------------------------------------------------------------------------------
# The transport
# ---------------------------------------------------------------------------------------------


class ValidatingTransport(httpx.MockTransport):
    """A MockTransport that validates every request before and every response after the handler.

    A violation is appended to ``failures`` and raised inside the handler, so the call that caused it
    fails loudly (finlab's client does not catch AssertionError). ``seen`` counts exchanges by
    ``(method, template, status)``.
    """

    def __init__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        check_requests: bool = True,
        semantics: bool = True,
    ) -> None:
        self.inner = handler
        self.check_requests = check_requests
        self.semantics = semantics
        self.failures: list[str] = []
        self.seen: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()
        super().__init__(self._handle)

    def _fail(self, exc: AssertionError) -> None:
        with self._lock:
            self.failures.append(str(exc))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        template = "?"
        if self.check_requests:
            try:
                template = validate_request(request).template
            except AssertionError as exc:
                self._fail(exc)
                raise
        response = self.inner(request)
        response.read()
        try:
            validate_response(request, response, semantics=self.semantics)
        except AssertionError as exc:
            self._fail(exc)
            raise
        with self._lock:
            self.seen[(request.method, template, response.status_code)] += 1
        return response

    def assert_clean(self) -> None:
        """Raise if any exchange failed validation (even one the caller swallowed)."""
        assert not self.failures, "\n\n".join(self.failures)


def validating_transport(
    handler: Callable[[httpx.Request], httpx.Response], *, check_requests: bool = True, semantics: bool = True
) -> ValidatingTransport:
    """Wrap ``handler`` so every request and response is validated against Stripe's spec."""
    return ValidatingTransport(handler, check_requests=check_requests, semantics=semantics)


__all__ = [
    "EXTRA_OPERATIONS",
    "FILE_CONTENTS",
    "FIXTURES",
    "GET_OPERATIONS",
    "OLDER_FIXTURES",
    "OLDER_GET_OPERATIONS",
    "OLDER_PATHS",
    "OLDER_SPEC",
    "OPERATIONS",
    "SPEC",
    "SPEC_VERSION",
    "WRITE_OPERATIONS",
    "CheckedRequest",
    "Operation",
    "ValidatingTransport",
    "check_schema",
    "coerce",
    "decode_query",
    "find_operation",
    "schema_errors",
    "schema_ref",
    "validate_request",
    "validate_response",
    "validating_transport",
    "validator_for",
]
