"""List pages as Stripe sends them (bytes) -> typed frames, without a Python dict per object.

For a flat resource (`is_flat`: every column a plain JSON value at a fixed path, like FC transactions)
Polars parses each page's bytes straight into columns (`PageReader`), and `Batches` flattens them into
the raw columns of :func:`finlab.frames.raw_frame` and types them with :func:`finlab.frames.typed`
every few thousand rows: the frame :func:`finlab.frames.build` makes from dicts, several times faster
and in a fraction of the memory.

Drift detection stays. Polars, given a schema, ignores unknown fields and coerces some values (``1.5``
becomes ``1``), so the first page of each list takes the dict path (unknown fields and wrong types
reported, as in ``frames.build``), and so does any page Polars refuses (a value of another type: it
becomes null, with a warning). Unknown enum values are reported from every typed batch. A body that is
not a JSON list is malformed: the client retries it.

Examples
--------
>>> from finlab.resources import get
>>> reader = PageReader(get("financial_connections.transaction"), "/v1/financial_connections/transactions")
>>> body = b'{"object": "list", "data": [{"id": "fctxn_1", "amount": -5}], "has_more": false}'
>>> page = reader.decoder.parse(body)
>>> page.count, page.has_more, page.items.get_column("amount").to_list()
(1, False, [-5])
"""

from __future__ import annotations

import functools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl

from finlab import frames
from finlab.client import Decoder, json_object
from finlab.pagination import Page, dict_page
from finlab.resources import FLAT_KINDS, Resource

_LIST = json_object("list")


def is_flat(res: Resource) -> bool:
    """Whether every column of ``res`` is a plain value at a fixed path, and it has an ``id`` column."""
    paths = [col.path for col in res.columns]
    nested_under = {path[:depth] for path in paths for depth in range(1, len(path))}
    return (
        ("id",) in paths
        and all(col.derive is None and col.kind in FLAT_KINDS for col in res.columns)
        and not nested_under.intersection(paths)
    )


#: One object's shape as far as a resource reads it: field -> raw type, or -> the nested object's shape.
Shape = dict[str, Any]


def _shape(res: Resource) -> Shape:
    shape: Shape = {}
    for col in res.columns:
        *parents, leaf = col.path
        node = shape
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = frames.raw_type(col)
    return shape


def _struct(shape: Shape) -> pl.Struct:
    return pl.Struct({name: _struct(v) if isinstance(v, dict) else v for name, v in shape.items()})


def _nest(name: str, node: Any, prefix: str = "") -> pl.Expr:
    """The expression that rebuilds field ``name`` of the page layout from flat ``parent_child`` columns."""
    if not isinstance(node, dict):
        return pl.col(prefix + name).alias(name)
    return pl.struct([_nest(child, sub, f"{prefix}{name}_") for child, sub in node.items()]).alias(name)


def _flatten(objects: pl.DataFrame) -> pl.DataFrame:
    """Unnest nested objects into ``parent_child`` columns, as `Col` names them."""
    while nested := [name for name, dtype in objects.schema.items() if isinstance(dtype, pl.Struct)]:
        objects = objects.unnest(nested, separator="_")
    return objects


class PageReader:
    """Reads the pages of one list of a flat resource; `Page` items are frames in the page layout.

    The page layout has one column per top-level field, nested objects as structs (flattening each
    page would cost more than parsing it; `Batches` flattens many at once).

    Parameters
    ----------
    res
        A resource for which `is_flat` holds.
    path
        The list's path, for error messages.
    key
        The top-level sort key a window walk needs (each page's ``newest`` and ``oldest``), e.g.
        ``"transacted_at"``.
    raw
        Also keep each object's JSON as `finlab.frames.raw_json` writes it, in a ``raw`` column (what
        the store keeps; `stored` types such pages). It costs a ``json.loads`` of each page.

    ``decoder`` is what the client's ``get_as`` takes. The first page goes the checked way.
    """

    def __init__(self, res: Resource, path: str, key: str | None = None, *, raw: bool = False) -> None:
        self.res, self.path, self.key, self.raw = res, path, key, raw
        shape = _shape(res)
        self.schema = pl.Schema(
            {"object": pl.String(), "data": pl.List(_struct(shape)), "has_more": pl.Boolean()}
        )
        self._layout = [_nest(name, node) for name, node in shape.items()]
        self.checked = False
        self.decoder: Decoder[Page[pl.DataFrame]] = Decoder(self.parse, "a JSON 'list' object")

    def parse(self, body: bytes) -> Page[pl.DataFrame] | None:
        """The page in ``body``; None if it is not a JSON list (the client then retries)."""
        page = self._fast(body) if self.checked else None
        return page if page is not None else self._checked(body)

    def _fast(self, body: bytes) -> Page[pl.DataFrame] | None:
        try:
            frame = pl.read_json(body, schema=self.schema)
        except pl.exceptions.PolarsError:
            return None
        if frame.height != 1 or frame.item(0, "object") != "list":
            return None
        data = frame.get_column("data")[0]
        if data is None:
            return None
        objects = data.struct.unnest()
        if self.raw:
            objects = _with_raw(objects, json.loads(body)["data"])
        return self._page(objects, frame.item(0, "has_more") is True)

    def _checked(self, body: bytes) -> Page[pl.DataFrame] | None:
        parsed = _LIST.parse(body)
        if parsed is None:
            return None
        rows = dict_page(parsed, self.path).items
        frames.report_unknown_fields(self.res, rows)
        self.checked = True
        objects = frames.raw_frame(self.res, rows).select(self._layout)
        if self.raw:
            objects = _with_raw(objects, rows)
        return self._page(objects, parsed.get("has_more") is True)

    def _page(self, objects: pl.DataFrame, has_more: bool) -> Page[pl.DataFrame]:
        if not objects.height:
            return Page(objects, 0, has_more, None)
        keys = objects.get_column(self.key) if self.key else None
        ids = objects.get_column("id").to_list()
        return Page(
            objects,
            objects.height,
            has_more,
            ids[-1],
            None if keys is None else keys[0],
            None if keys is None else keys[-1],
            ids,
        )


def _with_raw(objects: pl.DataFrame, rows: list[Any]) -> pl.DataFrame:
    texts = [frames.raw_json(row) for row in rows]
    return objects.with_columns(pl.Series(frames.RAW_COLUMN, texts, dtype=pl.String()))


def stored(res: Resource, pages: list[pl.DataFrame]) -> pl.DataFrame:
    """Pages read with ``raw=True`` as the frame the store keeps: the typed columns, then ``raw``."""
    if not pages:
        return frames.empty(res).with_columns(pl.lit(None, pl.String()).alias(frames.RAW_COLUMN))
    raw = pl.concat([page.select(frames.RAW_COLUMN) for page in pages])
    return _typed(res, [page.drop(frames.RAW_COLUMN) for page in pages]).hstack(raw)


class Batches:
    """Pages in (`PageReader` items), typed frames out, in the order added.

    Every ``rows`` rows are typed in a worker thread while the next pages are read: typing is Polars
    work that releases the GIL, so reading and typing use two cores. One batch per `Batches` is typed
    at a time, so little is ever held untyped.
    """

    def __init__(self, res: Resource, rows: int) -> None:
        self.res, self.rows = res, rows
        self._raw: list[pl.DataFrame] = []
        self._held = 0
        self._typed: list[Future[pl.DataFrame]] = []

    def add(self, raw: pl.DataFrame) -> None:
        """Take one page's objects."""
        self._raw.append(raw)
        self._held += raw.height
        if self._held >= self.rows:
            self._flush()

    def take(self) -> pl.DataFrame:
        """Every row added so far, typed, in the order added; the batches are left empty."""
        self._flush()
        typed = [batch.result() for batch in self._typed]
        self._typed = []
        return pl.concat(typed) if typed else frames.empty(self.res)

    def _flush(self) -> None:
        if self._raw:
            if self._typed:
                self._typed[-1].result()
            self._typed.append(_typist().submit(_typed, self.res, self._raw))
            self._raw, self._held = [], 0


@functools.cache
def _typist() -> ThreadPoolExecutor:
    """The thread that types batches (one for the process: typing is short, reading is the long part)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="finlab-typing")


def _typed(res: Resource, pages: list[pl.DataFrame]) -> pl.DataFrame:
    """Pages' objects as the resource's typed frame."""
    return frames.typed(res, _compact(_flatten(pl.concat(pages))))


def _compact(raw: pl.DataFrame) -> pl.DataFrame:
    """``raw`` in fresh buffers: a page's buffers are mostly spare capacity, about three times its data.

    Rechunking copies the fixed-width columns; string columns keep pointing into the page buffers
    until their text is rewritten (appending ``""``), so that is done too.
    """
    return raw.rechunk().with_columns(pl.col(pl.String) + "")
