"""Reading one answer within its limits: size after decompression, and a deadline.

finlab asks for gzip only and inflates it here, 1 MB at a time, never past the cap, so a gzip bomb costs
about the cap in memory, never what it would unpack to.
"""

from __future__ import annotations

import zlib

import httpx

from finlab.policy import BodyError
from finlab.settings import ReadLimits


class Body:
    """One answer's body as it streams in: gunzipped here, so its size is known at every step.

    Chunks are inflated 1 MB at a time, never past the room left under ``max_body``: a gzip bomb costs
    about ``max_body`` of memory, never what it would unpack to.
    """

    def __init__(self, response: httpx.Response, cap: int) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if response.is_stream_consumed:  # an in-process answer (MockTransport) comes read and decoded
            encoding = "identity"
        if encoding not in _ENCODINGS:
            msg = f"came encoded as {encoding!r}, which finlab did not ask for"
            raise BodyError(msg, reason="encoding")
        self._inflate = None if encoding == "identity" else zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._response, self._cap = response, cap
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, raw: bytes) -> None:
        """Take the next bytes off the wire; `BodyError` once the body is over ``max_body``."""
        if self._inflate is None:
            self._keep(raw)
            return
        while raw:
            try:
                data = self._inflate.decompress(raw, min(_STEP, self._cap - self._size + 1))
            except zlib.error as exc:
                msg = f"broken gzip body: {exc}"
                raise httpx.DecodingError(msg) from None
            self._keep(data)
            raw = self._inflate.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            msg = f"was larger than {self._cap:,} bytes (decompressed) and was not read further"
            raise BodyError(msg, reason="too_large")
        self._parts.append(data)

    def whole(self) -> httpx.Response:
        """The response with the body read, decompressed."""
        response = self._response
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _STREAM_HEADERS]
        content = b"".join(self._parts)
        return httpx.Response(
            response.status_code, headers=headers, content=content, request=response.request
        )


#: Bytes inflated at a time.
_STEP = 2**20
#: What finlab accepts (``Accept-Encoding``) and can inflate within the cap.
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip"})
_STREAM_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def late(limits: ReadLimits) -> BodyError:
    msg = f"did not arrive in full within {limits.deadline:g} s (ReadLimits.deadline)"
    return BodyError(msg, reason="deadline")
