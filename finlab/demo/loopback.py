"""Serve a `DemoStripe` over real HTTP on a local port.

Each request is converted into an `httpx.Request`, answered by `DemoStripe.handle` and written
back unchanged, so the socket server adds transport only: behaviour (latency, 429s, faults)
belongs to `DemoStripe`. Transport faults are the exception: on `Reset` the socket is reset, and on
`Stall` the connection stays silent past the client's read timeout.

A second port stands in for files.stripe.com (`LoopbackServer.files_url`): requests that arrive
there reach `DemoStripe.handle` addressed to its ``files_host``, so ``GET /v1/files/{id}/contents``
answers on that port only, and every API path on the main port only.

Examples
--------
>>> import httpx
>>> from finlab.demo import DEMO_API_KEY, DemoStripe, default_dataset, serve
>>> with serve(DemoStripe(default_dataset())) as server:
...     response = httpx.get(f"{server.url}/v1/tax/settings", auth=(DEMO_API_KEY, ""))
>>> response.json()["object"]
'tax.settings'
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

from finlab.demo.dataset import default_dataset
from finlab.demo.faults import DEFAULT_STALL, Reset, Stall
from finlab.demo.limits import Limits
from finlab.demo.server import DEMO_API_KEY, DemoStripe

DEFAULT_PORT = 12111
DEFAULT_FILES_PORT = 12112
#: Hop-by-hop headers the socket server writes itself.
_OWN_HEADERS = frozenset({"connection", "content-length", "transfer-encoding"})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Connections the kernel queues before they are accepted: 100+ clients may connect at once.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], stripe: DemoStripe, *, files: bool = False):
        super().__init__(address, _Handler)
        self.stripe = stripe
        #: Whether this port stands in for the files host.
        self.files = files
        #: Set when the server closes: stalled connections stop waiting.
        self.closing = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client went away mid-request (it reset, timed out or was killed)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def _relay(self) -> None:
        """Answer the request with `DemoStripe.handle`, whatever its method."""
        length = int(self.headers.get("Content-Length") or 0)
        host = self.server.stripe.files_host if self.server.files else self.headers.get("Host", "localhost")
        request = httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            content=self.rfile.read(length) if length else b"",
        )
        try:
            response = self.server.stripe.handle(request)
        except Reset:
            self._reset()
            return
        except Stall:
            faults = self.server.stripe.faults
            self.server.closing.wait(faults.stall if faults is not None else DEFAULT_STALL)
            self.close_connection = True
            return
        self.send_response(response.status_code)
        for name, value in response.headers.multi_items():
            if name.lower() not in _OWN_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.content)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (RST) instead of an answer, as a failing proxy does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # the reset goes out once the handler's files are closed too
        self.close_connection = True

    # http.server dispatches on these names; every method goes to DemoStripe, which answers 405.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _relay  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the demo server's request log is `DemoStripe.requests`."""


class LoopbackServer:
    """A `DemoStripe` listening on ``host:port`` from a background thread.

    Use as a context manager, or call `close` when done.
    """

    def __init__(self, stripe: DemoStripe, host: str = "127.0.0.1", port: int = 0, files_port: int = 0):
        self.stripe = stripe
        self._httpd = _HTTPServer((host, port), stripe)
        self._files = _HTTPServer((host, files_port), stripe, files=True)
        self._threads = [
            threading.Thread(target=server.serve_forever, name=f"finlab-demo-{name}", daemon=True)
            for name, server in (("stripe", self._httpd), ("files", self._files))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        """Base URL of the server, such as ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def files_url(self) -> str:
        """Base URL of the port standing in for files.stripe.com (file contents only)."""
        host, port = self._files.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait(self) -> None:
        """Block until the server is closed (from another thread) or interrupted."""
        self._threads[0].join()

    def close(self) -> None:
        """Stop serving and release both ports."""
        for server in (self._httpd, self._files):
            server.closing.set()
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def serve(stripe: DemoStripe, host: str = "127.0.0.1", port: int = 0, files_port: int = 0) -> LoopbackServer:
    """Serve ``stripe`` on ``host:port`` and its files on ``host:files_port`` (0: any free port)."""
    return LoopbackServer(stripe, host, port, files_port)


def serve_forever(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    files_port: int = DEFAULT_FILES_PORT,
    limits: Limits | None = None,
) -> None:
    """Serve the bundled demo account until interrupted, printing its URL and API key.

    ``limits`` adds latency and Stripe's rate limits (see `finlab.demo.limits`). ``KeyboardInterrupt``
    propagates to the caller once the port is released.
    """
    with serve(DemoStripe(default_dataset(), limits=limits), host, port, files_port) as server:
        print(f"Demo Stripe listening on {server.url} (files.stripe.com: {server.files_url})", flush=True)
        print(f"API key: {DEMO_API_KEY}  (Ctrl+C stops it)", flush=True)
        server.wait()
