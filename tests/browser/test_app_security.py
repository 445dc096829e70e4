"""``finlab app`` is closed to strangers: the token, the Host check, and a bound on kernels (issue 12, 3).

One server for the module, started as an analyst does (``python -m finlab.cli app``, one kernel
preheated) with a short ``--idle-timeout``, so that the culler's work shows within the test. The other
tests hold `finlab.app`'s parts without a server.
"""

from __future__ import annotations

import re
import sys
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from finlab.app import AppKernelManager, GuardedVoila, main
from finlab.runner import run_sync

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]

IDLE_TIMEOUT = 6
LOADS = 20
#: Kernels at any moment of the page loads: the pool's, the open page's, and the page just left.
MAX_KERNELS = 3
#: A kernel that computed the three dashboards holds about 300 MB: 21 of them would hold 6 GB.
MAX_RSS_MB = 1_500
UNKNOWN_KERNEL = "00000000-0000-4000-8000-000000000000"
WEBSOCKET = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, notebook_copy: Path) -> Iterator[kit.Server]:
    """``finlab app`` with a 6 s idle timeout and its token in ``JUPYTER_TOKEN``."""
    home = tmp_path_factory.mktemp("guarded-app-home")
    port, token = kit.free_port(), kit.new_token()
    command = [
        *(sys.executable, "-m", "finlab.cli", "app", "--port", str(port)),
        *("--notebook", str(notebook_copy / "app.ipynb"), "--idle-timeout", str(IDLE_TIMEOUT)),
    ]
    server = kit.Server.start(
        "guarded-app",
        command,
        home=home,
        port=port,
        token=token,
        ready_path=None,
        env={"JUPYTER_TOKEN": token},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.browser
def test_the_app_refuses_requests_without_the_token_or_from_a_foreign_host(guarded: kit.Server) -> None:
    token = {"Authorization": f"token {guarded.token}"}
    foreign = {**token, "Host": f"evil.example:{guarded.port}"}
    routes = [
        "/",
        "/login",
        f"/api/kernels/{UNKNOWN_KERNEL}",
        f"/voila/api/shutdown/{UNKNOWN_KERNEL}",
        "/voila/api/themes/light/index.css",
        "/voila/labextensions/@jupyter-widgets/jupyterlab-manager/package.json",
    ]
    sockets = [f"/api/kernels/{UNKNOWN_KERNEL}/channels", f"/voila/query/{UNKNOWN_KERNEL}"]

    def status(path: str, headers: dict[str, str], method: str = "GET") -> int:
        return httpx.request(method, guarded.base + path, headers=headers, timeout=30).status_code

    assert {path: 403 for path in routes} == {path: status(path, {}) for path in routes}
    assert 403 == status(f"/voila/api/shutdown/{UNKNOWN_KERNEL}", {}, "POST")
    assert {path: 403 for path in sockets} == {path: status(path, WEBSOCKET) for path in sockets}
    assert 403 == status(f"/api/kernels/{UNKNOWN_KERNEL}", {"Authorization": "token wrong"})
    # A DNS-rebinding page sends its own host name, even with the token (which it cannot know).
    assert {path: 403 for path in routes} == {path: status(path, foreign) for path in routes}
    assert {path: 403 for path in sockets} == {
        path: status(path, {**foreign, **WEBSOCKET}) for path in sockets
    }
    # The same requests with the token and a local Host get through the checks.
    for host in ("127.0.0.1", "localhost", "[::1]"):
        local = {**token, "Host": f"{host}:{guarded.port}"}
        assert 404 == status(f"/api/kernels/{UNKNOWN_KERNEL}", local)


@pytest.mark.browser
@pytest.mark.slow
def test_twenty_page_loads_leave_a_bounded_number_of_kernels(guarded: kit.Server, watched: kit.Tab) -> None:
    page = watched.page
    guarded.wait_ready()
    # The browser without the token. jupyter_server's 403 page links Font Awesome from a CDN: another
    # tab, with requests off loopback aborted, keeps that out of the watched page's record.
    refused = watched.context.new_page()
    refused.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    assert 403 == refused.goto(guarded.base + "/").status
    refused.close()

    kernels, rss = [], []
    started = time.monotonic()
    for _ in range(LOADS):
        page.goto(guarded.url("/"), timeout=kit.RUN_TIMEOUT_MS)
        page.locator(".finlab-app").wait_for(timeout=kit.RUN_TIMEOUT_MS)
        kernels.append(len(guarded.kernels()))
        rss.append(guarded.rss_mb())
    loads = time.monotonic() - started
    page.goto("about:blank")  # the last page closes: its kernel goes, at the latest once culled
    left = kit.poll(guarded.kernels, lambda pids: len(pids) <= 1, timeout=4 * IDLE_TIMEOUT + 60)
    print(
        f"\n{LOADS} loads in {loads:.0f} s: kernels after each load {kernels}, at most {max(kernels)}; "
        f"RSS of server and kernels {min(rss):.0f}-{max(rss):.0f} MB, {rss[-1]:.0f} MB after the last; "
        f"{len(left)} kernel and {guarded.rss_mb():.0f} MB once the page closed"
    )
    assert max(kernels) <= MAX_KERNELS
    assert max(rss) <= MAX_RSS_MB
    assert len(left) == 1  # the preheated one, ready for the next page
    watched.watch.check()


@pytest.mark.browser
@pytest.mark.slow
def test_pages_no_browser_connects_to_are_culled(guarded: kit.Server) -> None:
    guarded.wait_ready()
    kit.poll(guarded.kernels, lambda pids: len(pids) <= 1, timeout=4 * IDLE_TIMEOUT + 60)
    since = guarded.log_size()
    for _ in range(3):  # the three plain GETs, which left four kernels and 1.26 GB for good
        page = httpx.get(guarded.url("/"), timeout=kit.RUN_TIMEOUT_MS / 1000)
        assert 200 == page.status_code
    during = len(guarded.kernels())
    left = kit.poll(guarded.kernels, lambda pids: len(pids) <= 1, timeout=4 * IDLE_TIMEOUT + 60)
    print(f"\n3 plain GETs: {during} kernels, then {len(left)} and {guarded.rss_mb():.0f} MB once culled")
    assert 1 == len(left)
    assert 3 == guarded.log(since).count("no page used it")  # the culler's work, not a page's unload


def test_the_app_server_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)

    with pytest.raises(SystemExit, match="set JUPYTER_TOKEN"):
        main(["app.ipynb"])


def test_open_opens_the_url_with_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    app = GuardedVoila(port=8999)
    app.identity_provider = SimpleNamespace(token="the-token")

    app.launch_browser()

    assert ["http://localhost:8999/?token=the-token"] == opened


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_culler_counts_idle_time_from_when_no_page_is_connected(monkeypatch: pytest.MonkeyPatch) -> None:
    run_sync(cull_a_kernel_taken_from_the_pool(monkeypatch))  # Playwright may hold a running loop


async def cull_a_kernel_taken_from_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    manager = AppKernelManager(cull_idle_timeout=60)
    shut: list[str] = []

    async def shutdown(_: AppKernelManager, kernel_id: str, *args: Any, **kwargs: Any) -> None:
        shut.append(kernel_id)

    monkeypatch.setattr(AsyncMappingKernelManager, "shutdown_kernel", shutdown)
    # A kernel idle for hours in the pool, just taken by a page that has not connected yet.
    manager._kernels["taken"] = SimpleNamespace(execution_state="idle")
    manager._kernel_connections["taken"] = 0

    await manager.cull_kernel_if_idle("taken")
    clock.now += 59
    await manager.cull_kernel_if_idle("taken")
    assert [] == shut
    manager._kernel_connections["taken"] = 1  # the page connects, for a long time
    clock.now += 600
    await manager.cull_kernel_if_idle("taken")
    manager._kernel_connections["taken"] = 0  # and leaves
    await manager.cull_kernel_if_idle("taken")
    clock.now += 59
    await manager.cull_kernel_if_idle("taken")
    assert [] == shut
    clock.now += 1
    await manager.cull_kernel_if_idle("taken")
    assert ["taken"] == shut
