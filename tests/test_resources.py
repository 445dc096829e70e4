"""The resource registry, checked against Stripe's OpenAPI spec (tests/stripe/spec-subset.json)."""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest

from finlab import resources
from finlab.errors import ConfigurationError
from finlab.resources import BY_METHOD, MAJOR_SUFFIX, RESOURCES, Col, Resource

#: Resources Stripe's GA spec does not describe: FC accounts are outside the subset we copied, and
#: crypto onramp sessions are a private preview with only an example object.
NOT_IN_SPEC = {"financial_connections.account", "crypto.onramp_session"}
IN_SPEC = sorted(set(RESOURCES) - NOT_IN_SPEC)

#: The methods DESIGN.md promises on a Connection, one per resource.
DESIGN_METHODS = {
    "accounts",
    "transactions",
    "tax_transactions",
    "tax_line_items",
    "tax_registrations",
    "tax_settings",
    "tax_calculations",
    "tax_calculation_line_items",
    "climate_orders",
    "climate_products",
    "climate_suppliers",
    "verification_sessions",
    "verification_reports",
    "onramp_sessions",
    "forwarding_requests",
    "webhook_endpoints",
}


# -- walking the spec ------------------------------------------------------------------------------


def _deref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _alternatives(spec: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """The concrete schemas a node may be: anyOf/oneOf/allOf flattened, $refs followed."""
    node = _deref(spec, node)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            return [alt for sub in node[key] for alt in _alternatives(spec, sub)]
    return [node]


def _spec_field(spec: dict[str, Any], obj: str, path: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The schemas at ``path`` inside object ``obj`` (None when the spec has no such field)."""
    nodes = [spec["components"]["schemas"][obj]]
    for part in path:
        nodes = [
            alt["properties"][part]
            for node in nodes
            for alt in _alternatives(spec, node)
            if part in alt.get("properties", {})
        ]
        if not nodes:
            return None
    return [alt for node in nodes for alt in _alternatives(spec, node)]


def _spec_enum(alternatives: list[dict[str, Any]]) -> set[str]:
    values = {v for alt in alternatives for v in alt.get("enum", []) if isinstance(v, str)}
    return values - {""}  # "" marks an emptyable string in Stripe's spec, not a value


def _spec_types(alternatives: list[dict[str, Any]]) -> set[tuple[str | None, str | None]]:
    return {(alt.get("type"), alt.get("format")) for alt in alternatives if alt.get("enum") != [""]}


# -- the registry itself ---------------------------------------------------------------------------


def test_design_methods_each_have_a_resource() -> None:
    assert DESIGN_METHODS == set(BY_METHOD)
    assert len(RESOURCES) == len(BY_METHOD)


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_lookup_by_object_or_method(name: str) -> None:
    res = RESOURCES[name]
    assert res is resources.get(name)
    assert res is resources.get(res.method)
    assert {**res.schema, "stripe_account": pl.String()} == dict(resources.schema(name))
    assert res.object == name


def test_unknown_resource_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown resource 'climate\.orderz'.*climate\.order"):
        resources.get("climate.orderz")


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_schema_is_the_column_list(name: str) -> None:
    res = RESOURCES[name]
    names = [c.name for c in res.columns]
    assert len(names) == len(set(names)), "duplicate column"
    expected: list[str] = []
    for col in res.columns:
        expected.append(col.name)
        if col.kind == "money":
            expected.append(col.name + MAJOR_SUFFIX)
    assert expected == res.schema.names()


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_column_types(name: str) -> None:
    res = RESOURCES[name]
    schema = res.schema
    for col in res.columns:
        dtype = schema[col.name]
        if col.kind == "time":
            assert pl.Datetime("us", "UTC") == dtype
        elif col.kind == "money":
            assert pl.Int64() == dtype
            assert pl.Decimal(38, 3) == schema[col.name + MAJOR_SUFFIX]
            assert col.currency in schema, f"{col.name} needs its currency column {col.currency!r}"
        elif col.kind in ("tons", "crypto"):
            assert isinstance(dtype, pl.Decimal)
        elif col.kind == "strings":
            assert pl.List(pl.String()) == dtype
        elif col.kind == "struct":
            assert col.dtype == dtype


def test_metric_tons_are_decimal() -> None:
    assert pl.Decimal(38, 9) == resources.schema("climate.order")["metric_tons"]
    assert pl.Decimal(38, 9) == resources.schema("climate.product")["metric_tons_available"]


def test_col_name_and_path() -> None:
    col = Col("status_transitions.posted_at", "time")
    assert "status_transitions_posted_at" == col.name
    assert ("status_transitions", "posted_at") == col.path
    assert pl.Datetime("us", "UTC") == col.polars_type


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_every_resource_has_an_id_and_livemode(name: str) -> None:
    res = RESOURCES[name]
    if name != "tax.settings":  # a singleton without id
        assert "id" == res.columns[0].name
        assert res.id_prefix.endswith("_")
    assert "livemode" in res.schema
    assert res.permission.startswith("rak_")
    assert res.permission.endswith("_read")


def test_secrets_and_personal_data_never_become_columns() -> None:
    forbidden = {"secret", "client_secret", "redirect_url", "verified_outputs", "provided_details"}
    for res in RESOURCES.values():
        assert not forbidden & set(res.schema.names()), res.object
        assert not {c.path[0] for c in res.columns} & forbidden, res.object
    forwarding = RESOURCES["forwarding.request"].schema.names()
    assert not [c for c in forwarding if "body" in c or "headers" in c]


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_id_prefix_matches_stripes_example(name: str, stripe_fixtures: dict[str, Any]) -> None:
    if name not in stripe_fixtures:
        assert name == "financial_connections.account"  # the only one outside Stripe's fixtures subset
        return
    example = stripe_fixtures[name]
    assert name == example["object"]
    if "id" in example:
        assert example["id"].startswith(RESOURCES[name].id_prefix)


# -- the registry against Stripe's spec --------------------------------------------------------------


@pytest.mark.parametrize("name", IN_SPEC)
def test_every_spec_property_is_a_known_field(name: str, stripe_spec: dict[str, Any]) -> None:
    """So a spec-conformant object never triggers a SchemaDriftWarning."""
    properties = set(stripe_spec["components"]["schemas"][name]["properties"])
    assert set() == properties - RESOURCES[name].known_fields


@pytest.mark.parametrize("name", IN_SPEC)
def test_every_column_exists_in_the_spec(name: str, stripe_spec: dict[str, Any]) -> None:
    missing = [
        col.spec
        for col in RESOURCES[name].columns
        if col.derive is None and _spec_field(stripe_spec, name, col.path) is None
    ]
    assert [] == missing


@pytest.mark.parametrize("name", IN_SPEC)
def test_declared_enums_cover_the_spec(name: str, stripe_spec: dict[str, Any]) -> None:
    checked = 0
    for col in RESOURCES[name].columns:
        if not col.enum:
            continue
        assert sorted(col.enum) == list(col.enum), f"{col.spec}: keep enums sorted"
        alternatives = _spec_field(stripe_spec, name, col.path)
        assert alternatives is not None, col.spec
        spec_values = _spec_enum(alternatives)
        assert spec_values <= set(col.enum), f"{name}.{col.spec} misses {sorted(spec_values - set(col.enum))}"
        checked += 1
    assert checked or not any(c.enum for c in RESOURCES[name].columns)


def test_shared_enums_match_the_spec_where_it_lists_them(stripe_spec: dict[str, Any]) -> None:
    """The enums declared once and used in several places."""
    pathway = _spec_field(stripe_spec, "climate.supplier", ("removal_pathway",))
    assert pathway is not None
    assert _spec_enum(pathway) == set(resources.REMOVAL_PATHWAYS)
    behavior = _spec_field(stripe_spec, "tax.transaction_line_item", ("tax_behavior",))
    assert behavior is not None
    assert _spec_enum(behavior) == set(resources.TAX_BEHAVIOR)
    override = _spec_field(stripe_spec, "tax.transaction", ("customer_details", "taxability_override"))
    assert override is not None
    assert _spec_enum(override) == set(resources.TAXABILITY_OVERRIDE)


SPEC_TYPES: dict[str, set[tuple[str | None, str | None]]] = {
    "str": {("string", None)},
    "int": {("integer", None)},
    "money": {("integer", None)},
    "time": {("integer", "unix-time")},
    "bool": {("boolean", None)},
    "tons": {("string", "decimal")},
    "json": {("object", None)},
    "strings": {("array", None)},
    "struct": {("array", None), ("object", None)},
}


@pytest.mark.parametrize("name", IN_SPEC)
def test_column_kinds_match_spec_types(name: str, stripe_spec: dict[str, Any]) -> None:
    for col in RESOURCES[name].columns:
        alternatives = _spec_field(stripe_spec, name, col.path)
        if col.derive is not None or alternatives is None:
            continue
        types = _spec_types(alternatives)
        assert types <= SPEC_TYPES[col.kind], f"{name}.{col.spec}: {col.kind} vs {types}"


def _struct_fields_in_spec(spec: dict[str, Any], dtype: Any, alternatives: list[dict[str, Any]]) -> None:
    if isinstance(dtype, pl.List):
        items = [alt["items"] for alt in alternatives if alt.get("type") == "array"]
        assert items
        _struct_fields_in_spec(spec, dtype.inner, [a for item in items for a in _alternatives(spec, item)])
    elif isinstance(dtype, pl.Struct):
        objects = [alt for alt in alternatives if "properties" in alt]
        assert objects
        for field in dtype.fields:
            inner = [
                a
                for obj in objects
                if field.name in obj["properties"]
                for a in _alternatives(spec, obj["properties"][field.name])
            ]
            assert inner, f"struct field {field.name!r} is not in the spec"
            _struct_fields_in_spec(spec, field.dtype, inner)


@pytest.mark.parametrize("name", IN_SPEC)
def test_struct_columns_match_the_spec(name: str, stripe_spec: dict[str, Any]) -> None:
    for col in RESOURCES[name].columns:
        if col.kind == "struct" and col.derive is None:
            alternatives = _spec_field(stripe_spec, name, col.path)
            assert alternatives is not None
            _struct_fields_in_spec(stripe_spec, col.polars_type, alternatives)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("name", IN_SPEC)
def test_paths_are_get_operations_in_the_spec(name: str, stripe_spec: dict[str, Any]) -> None:
    res = RESOURCES[name]
    spec_paths = {_template(p): item for p, item in stripe_spec["paths"].items()}
    for path in (res.list_path, res.retrieve_path):
        if path is None:
            continue
        assert _template(path) in spec_paths, path
        assert "get" in spec_paths[_template(path)], path
    if res.list_path is not None:
        operation = spec_paths[_template(res.list_path)]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        items = _deref(stripe_spec, schema)["properties"]["data"]["items"]
        assert f"#/components/schemas/{name}" == items["$ref"]


@pytest.mark.parametrize("name", IN_SPEC)
def test_list_filters_are_query_parameters_in_the_spec(name: str, stripe_spec: dict[str, Any]) -> None:
    res = RESOURCES[name]
    if res.list_path is None:
        assert frozenset() == res.filters
        return
    operation = stripe_spec["paths"][
        next(p for p in stripe_spec["paths"] if _template(p) == _template(res.list_path))
    ]
    query = {p["name"] for p in operation["get"].get("parameters", []) if p["in"] == "query"}
    assert {"limit", "starting_after"} <= query
    assert set() == res.filters - query


def test_parents_of_line_items() -> None:
    for res in RESOURCES.values():
        if res.parent is not None:
            assert res.parent in RESOURCES
            assert "{parent}" in (res.list_path or "")
            assert resources.PARENT_KEY in res.hidden
            assert resources.CURRENCY_KEY in res.hidden


def test_resource_is_frozen() -> None:
    res = RESOURCES["climate.order"]
    with pytest.raises(AttributeError):
        res.list_path = "/v1/other"  # type: ignore[misc]
    assert isinstance(res, Resource)
