"""Fixtures for the browser tests: JupyterLab and Voilà servers, Debian's Chromium, the demo frames.

Each server starts once per test module on loopback with a fixed free port (``port_retries=0``),
serves a fresh copy of ``notebooks/`` from a temporary directory (so runs never modify the repo) and
gets its own Jupyter config, data, runtime, settings and workspace directories (so no layout or
setting leaks between runs). Teardown shuts the kernels down and terminates the server's process
group. Chromium is ``/usr/bin/chromium`` (``FINLAB_CHROMIUM`` overrides it); Playwright never
downloads a browser here.

Screenshots go to ``<pytest basetemp>/screenshots`` (``FINLAB_SCREENSHOTS`` overrides it); with
``FINLAB_GALLERY=1`` the gallery shots are also copied to ``docs/gallery/``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]


@pytest.fixture(scope="session")
def notebook_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of notebooks/ that the servers serve and may write to."""
    root = tmp_path_factory.mktemp("served") / "notebooks"
    shutil.copytree(kit.NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return root


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> kit.Screenshots:
    """Where the tests save screenshots, and the gallery copy when FINLAB_GALLERY=1."""
    configured = os.environ.get("FINLAB_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.getbasetemp() / "screenshots"
    gallery = kit.GALLERY if os.environ.get("FINLAB_GALLERY") == "1" else None
    return kit.Screenshots(folder, gallery)


@pytest.fixture(scope="module")
def jupyterlab(
    tmp_path_factory: pytest.TempPathFactory, notebook_copy: Path, demo: kit.DemoFrames
) -> Iterator[kit.Server]:
    """JupyterLab on loopback with a token, serving the copy of notebooks/ (one per module).

    Asks for ``demo`` first, so that the demo account loads while the server starts.
    """
    home = tmp_path_factory.mktemp("jupyterlab-home")
    kit.write_lab_settings(home)
    port, token = kit.free_port(), kit.new_token()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebook_copy}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    server = kit.Server.start(
        "jupyterlab", command, home=home, port=port, token=token, ready_path="/api/status", wait=False
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def voila_app(
    tmp_path_factory: pytest.TempPathFactory, notebook_copy: Path, demo: kit.DemoFrames
) -> Iterator[kit.Server]:
    """``finlab app`` (Voilà on the app notebook, demo account, one kernel preheated) on loopback.

    Not waited for: the test calls ``wait_ready()``. See `start_voila_early`. The token is set through
    ``JUPYTER_TOKEN``, as a user can (by default ``finlab app`` draws one and prints it).
    """
    home = tmp_path_factory.mktemp("voila-home")
    port, token = kit.free_port(), kit.new_token()
    command = [
        sys.executable,
        "-m",
        "finlab.cli",
        "app",
        "--port",
        str(port),
        "--notebook",
        str(notebook_copy / "app.ipynb"),
    ]
    server = kit.Server.start(
        "voila",
        command,
        home=home,
        port=port,
        token=token,
        ready_path=None,
        wait=False,
        env={"JUPYTER_TOKEN": token},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def start_voila_early(request: pytest.FixtureRequest) -> None:
    """Start ``finlab app`` with the session when a selected test uses it.

    Its preheated kernel then computes the dashboards while the JupyterLab tests run. Under xdist
    each worker would start one, so there it starts when its test does.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if any(
        "voila_app" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("skip")
        for item in request.session.items
    ):
        request.getfixturevalue("voila_app")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (one per module; never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=kit.CHROMIUM, headless=True, args=kit.CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def watched(browser: Any, request: pytest.FixtureRequest, screenshots: kit.Screenshots) -> Iterator[kit.Tab]:
    """A fresh page in its own context that records page errors and every request leaving loopback.

    The test asserts on ``watched.watch`` at its end; after a failure this prints diagnostics.
    """
    context = browser.new_context(viewport=kit.VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(kit.ACTION_TIMEOUT_MS)
    opened = context.new_page()
    tab = kit.Tab(request.node.name, context, opened, kit.PageWatch.attach(opened))
    kit.restart_clock()
    try:
        yield tab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(tab.watch.report())
            server = request.node.funcargs.get("voila_app") or request.node.funcargs.get("jupyterlab")
            print(kit.diagnose(opened, screenshots, request.node.name, server))
        tab.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can print diagnostics after a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def demo() -> kit.DemoFrames:
    """The demo account's frames for the expected KPI values, read in the background from here on."""
    return kit.DemoFrames()
