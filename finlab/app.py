"""The server behind ``finlab app``: Voilà, closed to anyone without the token, with bounded kernels.

``finlab app`` runs ``python -m finlab.app NOTEBOOK [Voilà options] [--any-host]`` with the token in
``JUPYTER_TOKEN`` (never on the command line, where ``ps`` shows it to every local user). This module
takes the token out of the environment (so kernels do not inherit it) and starts Voilà with:

- `TokenIdentityProvider`: every page, API route and websocket without the token (or the cookie its
  first use sets) answers 403, where jupyter_server would redirect a page to a login form;
- ``allow_remote_access`` off unless ``--any-host``: a Host header other than ``localhost`` or a loopback
  address answers 403, which defeats DNS rebinding (Voilà turns the check off by default);
- `AppKernelManager`: the kernel of a page nobody has used for ``cull_idle_timeout`` seconds is shut down;
- the request-info websocket of preheated kernels behind the same checks (Voilà leaves it open, and
  it hands out the page's query string, token included); so a kernel cannot call
  ``voila.utils.get_query_string`` (the app notebook does not).
"""

from __future__ import annotations

import os
import sys
import time
import webbrowser
from collections.abc import Awaitable, Sequence
from typing import Any

from jupyter_server.auth.identity import PasswordIdentityProvider, User
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets.config import Config
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler

TOKEN_VARIABLE = "JUPYTER_TOKEN"
ANY_HOST = "--any-host"


class TokenIdentityProvider(PasswordIdentityProvider):
    """Answers 403 to a request without the token or its cookie (no login form to guess at)."""

    async def get_user(self, handler: web.RequestHandler) -> User:
        """The token's user; 403 without one."""
        user = super().get_user(handler)
        if isinstance(user, Awaitable):
            user = await user
        if user is None:
            handler.current_user = None  # the 403 page asks for it; unset, tornado would ask us again
            raise web.HTTPError(403, "the finlab app needs the token of the URL it printed")
        return user


class AppKernelManager(AsyncMappingKernelManager):
    """Culls a kernel once no page has been connected to it for ``cull_idle_timeout`` seconds.

    jupyter_server counts idle time from the kernel's last message, so a preheated kernel that waited
    long in the pool could be culled between a page taking it and the page connecting. Here idle time
    starts when the culler first sees the kernel unconnected and not busy (Voilà's manager never shows
    it pooled kernels).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._unused_since: dict[str, float] = {}

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Shut the kernel down if it stayed unconnected and not busy for ``cull_idle_timeout`` s."""
        busy = getattr(self._kernels[kernel_id], "execution_state", None) == "busy"
        if busy or self._kernel_connections.get(kernel_id, 0):
            self._unused_since.pop(kernel_id, None)
            return
        now = time.monotonic()
        since = self._unused_since.setdefault(kernel_id, now)
        if now - since >= self.cull_idle_timeout:
            self.log.info("Culling kernel %s: no page used it for %.0f s", kernel_id, now - since)
            await self.shutdown_kernel(kernel_id)

    async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Shut the kernel down and forget its idle time."""
        self._unused_since.pop(kernel_id, None)
        await super().shutdown_kernel(kernel_id, *args, **kwargs)  # type: ignore[no-untyped-call]


class GuardedRequestInfoHandler(WebSocketMixin, RequestInfoSocketHandler, JupyterHandler):  # type: ignore[misc]
    """Voilà's request-info websocket, behind `JupyterHandler.prepare`: the Host check and the token."""


class GuardedVoila(Voila):  # type: ignore[misc]
    """Voilà with its request-info websocket replaced by `GuardedRequestInfoHandler`."""

    def init_handlers(self) -> list[Any]:
        """Voilà's handlers, the request-info websocket guarded."""
        handlers: list[Any] = super().init_handlers()
        return [
            (route[0], GuardedRequestInfoHandler, *route[2:])
            if route[1] is RequestInfoSocketHandler
            else route
            for route in handlers
        ]

    def launch_browser(self) -> None:
        """Open the app's URL with its token (Voilà's own ``--open`` page would get 403)."""
        webbrowser.open(f"{self.connection_url}?token={self.identity_provider.token}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run Voilà with ``argv`` and the guards above; the token comes from ``JUPYTER_TOKEN``."""
    args = list(sys.argv[1:] if argv is None else argv)
    token = os.environ.pop(TOKEN_VARIABLE, "")
    if not token:
        msg = f"finlab.app: set {TOKEN_VARIABLE} (`finlab app` sets a random one)"
        raise SystemExit(msg)
    config = Config()
    config.Voila.token = token
    config.Voila.identity_provider_class = TokenIdentityProvider
    config.Voila.tornado_settings = {"allow_remote_access": ANY_HOST in args}
    config.VoilaConfiguration.multi_kernel_manager_class = AppKernelManager
    GuardedVoila.launch_instance([arg for arg in args if arg != ANY_HOST], config=config)


if __name__ == "__main__":
    main()
