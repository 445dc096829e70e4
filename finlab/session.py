"""A connection's one HTTP client: made on first use, kept across calls, closed with the connection.

The client lives on the event loop of a `finlab.runner.Portal`, so its connection pool and TLS sessions
serve every call, from a script or a notebook cell alike.

Examples
--------
>>> from finlab.settings import ClientConfig
>>> session = Session(ClientConfig("rk_test_" + "x" * 24))
>>> session.opened
False
>>> session.close()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from finlab.client import AsyncClient
from finlab.runner import Portal
from finlab.settings import ClientConfig

T = TypeVar("T")


class Runner(Protocol):
    """What runs fetch jobs: a `Session`, or one reading on behalf of a connected account."""

    config: ClientConfig

    def run(self, job: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``job`` on a client and return its result."""

    def close(self) -> None:
        """Close what the runner owns."""


class Session:
    """Runs fetch jobs from sync code on the one `AsyncClient` built from ``config``."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._portal = Portal()
        self._client: AsyncClient | None = None

    @property
    def opened(self) -> bool:
        """Whether the client has been built (and not closed since)."""
        return self._client is not None

    def run(self, job: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run ``job`` on the client and return its result (its errors propagate unchanged)."""

        async def main() -> T:
            if self._client is None:
                self._client = AsyncClient.from_config(self.config)
            return await job(self._client)

        return self._portal.run(main())

    def close(self) -> None:
        """Close the client and stop its loop; a later `run` opens them again."""
        client, self._client = self._client, None
        if client is not None:
            self._portal.run(client.aclose())
        self._portal.close()
