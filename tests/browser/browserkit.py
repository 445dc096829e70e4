"""What the browser tests share: servers in their own process groups, page helpers, expected values.

Helpers wait for concrete DOM states (a status-bar text, execution prompts, Vega marks, tile texts)
with generous timeouts instead of sleeping, so the suite holds on a loaded 2-core machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import polars as pl

import finlab
from finlab.analysis.carbon import carbon_tonnes, cost_per_tonne
from finlab.analysis.cash_flow import filter_transactions
from finlab.analysis.tax import tax_liability, tax_lines
from finlab.money import exponent

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
GALLERY = REPO / "docs" / "gallery"

CHROMIUM = os.environ.get("FINLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1800}

#: Seconds a server may take to answer after it was started.
SERVER_TIMEOUT = 120.0
#: Milliseconds for single actions (a click, a locator to appear) and page loads.
ACTION_TIMEOUT_MS = 60_000
#: Milliseconds for a kernel to start, and for "Run All" (imports, the demo account, the charts; the
#: three notebooks run at once).
KERNEL_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 300_000
#: Seconds the test process may take to read the demo account.
DEMO_TIMEOUT = 300.0
#: Seconds for a dashboard to show new tiles or a new chart after a control changed.
UPDATE_TIMEOUT = 60.0

KERNEL_IDLE = re.compile(r"^Python 3 \(ipykernel\) \| Idle$")
#: Voilà's lab template links Font Awesome's stylesheets from a CDN (widget icons; the dashboards use
#: none). Pages abort these requests instead of fetching them, and they are the only ones tolerated.
FONT_AWESOME = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@"
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")

T = TypeVar("T")


# --- servers -------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback right now (the server then binds it with port_retries=0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def new_token() -> str:
    """A random token for one server run."""
    return secrets.token_hex(16)


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a server: its own Jupyter dirs, no Stripe key (so: the demo account)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("JUPYTER", "STRIPE_", "FINLAB_", "IPYTHON"))
    }
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for name, folder in dirs.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    # Kernel specs that say "python" must find this environment's interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_lab_settings(home: Path) -> None:
    """JupyterLab user settings for tests: every cell rendered (no windowing), no news, no autosave."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }
    root = home / "lab-settings"
    for name, values in settings.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@dataclass
class Server:
    """A server process in its own process group, with its log in a file."""

    name: str
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_path: str | None
    ready: bool = False
    stopped: bool = False

    @classmethod
    def start(
        cls,
        name: str,
        command: list[str],
        *,
        home: Path,
        port: int,
        token: str,
        ready_path: str | None,
        wait: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> Server:
        """Start ``command``; ``wait``: until it answers (``ready_path`` with the token, else a TCP accept).

        Without ``wait``, `wait_ready` waits later (e.g. while the browser starts meanwhile). ``env`` adds
        variables to the isolated environment.
        """
        log_path = home / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=home,
                env={**isolated_env(home), **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(name, port, token, process, log_path, ready_path)
        if wait:
            try:
                server.wait_ready()
            except BaseException:
                server.stop()
                raise
        return server

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The URL of ``path`` (relative to the server root), with the token when there is one."""
        url = f"{self.base}/{path.lstrip('/')}"
        if not self.token:
            return url
        return f"{url}{'&' if '?' in url else '?'}token={self.token}"

    def log(self, start: int = 0) -> str:
        """The server's output (stdout and stderr, kernels' included) from byte offset ``start``."""
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        """The log's current length in bytes (an offset for `log`)."""
        return self.log_path.stat().st_size

    def wait_ready(self) -> None:
        """Wait until the server answers (at once if it did before); fail with its log if it does not."""
        deadline = time.monotonic() + SERVER_TIMEOUT
        while not self.ready and time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"{self.name} exited with {self.process.returncode}:\n{self.log()[-4000:]}"
                raise RuntimeError(msg)
            self.ready = self._answers()
            if not self.ready:
                time.sleep(0.25)
        if self.ready:
            return
        waited = f"{SERVER_TIMEOUT:.0f}s"
        msg = f"{self.name} did not answer on port {self.port} within {waited}:\n{self.log()[-4000:]}"
        raise RuntimeError(msg)

    def _answers(self) -> bool:
        if self.ready_path is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return True
            return False
        with contextlib.suppress(httpx.HTTPError):
            headers = {"Authorization": f"token {self.token}"}
            return httpx.get(self.base + self.ready_path, headers=headers, timeout=5).status_code == 200
        return False

    def shutdown_sessions(self) -> None:
        """Delete every Jupyter session, which shuts its kernel down (JupyterLab only; all at once)."""
        headers = {"Authorization": f"token {self.token}"}

        def delete(session: dict[str, Any]) -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(f"{self.base}/api/sessions/{session['id']}", headers=headers, timeout=30)

        with contextlib.suppress(httpx.HTTPError, ValueError):
            sessions = httpx.get(f"{self.base}/api/sessions", headers=headers, timeout=10).json()
            with ThreadPoolExecutor(max_workers=max(1, len(sessions))) as pool:
                list(pool.map(delete, sessions))

    def kernels(self) -> list[int]:
        """The pids of the kernels the server runs now."""
        return _kernel_children(self.process.pid)

    def rss_mb(self) -> float:
        """Resident memory of the server and every process below it (kernels included), in MB."""
        pages = 0
        for pid in [self.process.pid, *_process_tree(self.process.pid)]:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6

    def stop(self) -> None:
        """Terminate the server's process group, then any kernel it started that outlived it (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        kernels = _kernel_children(self.process.pid)
        if self.token and self.process.poll() is None:
            self.shutdown_sessions()
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        for pid in kernels:  # kernels run in their own sessions: the group signal misses them
            if _is_kernel(pid):
                _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _kernel_children(pid: int) -> list[int]:
    """Kernel processes started (directly or not) by ``pid`` (Linux /proc; empty elsewhere)."""
    return [child for child in _process_tree(pid) if _is_kernel(child)]


def _process_tree(pid: int) -> list[int]:
    """Every process started (directly or not) by ``pid`` (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(entry.parent.name)] = int(entry.read_text().rsplit(")", 1)[1].split()[1])
    tree = {pid}
    grew = True
    while grew:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return sorted(tree - {pid})


def _is_kernel(pid: int) -> bool:
    try:
        return b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --- pages ---------------------------------------------------------------------------------------------


@dataclass
class PageWatch:
    """Console errors, page errors and requests that left loopback, recorded while a page lives."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @classmethod
    def attach(cls, page: Any) -> PageWatch:
        """Start recording on ``page``."""
        watch = cls()
        page.route(FONT_AWESOME + "**", lambda route: route.abort())
        page.on("console", lambda m: m.type == "error" and watch.console.append(m.text[:300]))
        page.on("pageerror", lambda e: watch.errors.append(str(e)[:300]))
        page.on("request", watch._on_request)
        page.on("response", lambda r: r.status >= 500 and watch.failed.append(f"{r.status} {r.url}"))
        return watch

    def _on_request(self, request: Any) -> None:
        url: str = request.url
        if url.startswith(("data:", "blob:", "about:", FONT_AWESOME)) or LOOPBACK.match(url):
            return
        self.external.append(url)

    def check(self) -> None:
        """Assert that the page raised no error and fetched nothing from outside loopback."""
        assert [] == self.errors, "the page raised errors (see the browser console)"
        assert [] == self.external, "the page fetched from outside loopback (a CDN?): it must work offline"

    def report(self) -> str:
        """A summary to print after a failure."""
        lines = [
            "browser console errors:",
            *self.console[-20:],
            "page errors:",
            *self.errors[-20:],
            "server errors (5xx):",
            *self.failed[-20:],
        ]
        return "\n  ".join(lines)


@dataclass
class Screenshots:
    """Where screenshots go; ``gallery`` (docs/gallery/ with FINLAB_GALLERY=1) gets the chosen ones."""

    folder: Path
    gallery: Path | None

    def path(self, name: str) -> Path:
        """``<folder>/<name>.png`` (the folder is created)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{name}.png"

    def take(self, target: Any, name: str, *, gallery: str | None = None) -> Path:
        """Screenshot a page or locator as ``name``; also as docs/gallery/``gallery``.png when enabled."""
        path = self.path(name)
        target.screenshot(path=str(path), animations="disabled")
        if gallery is not None and self.gallery is not None:
            self.gallery.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.gallery / f"{gallery}.png")
        return path


CLIP_JS = """el => {
  const box = el.getBoundingClientRect();
  const parts = el.querySelectorAll('h3, .finlab-control, .finlab-kpi-tile, .finlab-chart svg.marks');
  let right = box.left + 200, bottom = box.top + 200;
  for (const part of parts) {
    const r = part.getBoundingClientRect();
    if (r.width > 0) { right = Math.max(right, r.right); bottom = Math.max(bottom, r.bottom); }
  }
  return {x: Math.max(0, box.left + window.scrollX - 8), y: Math.max(0, box.top + window.scrollY - 8),
          width: Math.min(window.innerWidth - box.left, right - box.left + 24),
          height: bottom - box.top + 24};
}"""


def dashboard_shot(
    screenshots: Screenshots, page: Any, dashboard: Any, name: str, gallery: str | None
) -> Path:
    """Screenshot a dashboard from its heading to its last chart (tables left out), whole.

    The viewport grows to hold the dashboard for the shot: notebooks and Voilà scroll inside a panel,
    so what lies below the viewport would otherwise be cut off.
    """
    size = page.viewport_size
    height = dashboard.evaluate("el => el.getBoundingClientRect().height")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height) + 400)})
    try:
        dashboard.scroll_into_view_if_needed()
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        clip = dashboard.evaluate(CLIP_JS)
        path = screenshots.path(name)
        page.screenshot(path=str(path), clip=clip, animations="disabled")
    finally:
        page.set_viewport_size(size)
    step(f"screenshot {path}")
    if gallery is not None and screenshots.gallery is not None:
        screenshots.gallery.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, screenshots.gallery / f"{gallery}.png")
    return path


_CLOCK = [time.monotonic()]


def restart_clock() -> None:
    """Start `step` timings from now (each test does, through the ``page`` fixture)."""
    _CLOCK[0] = time.monotonic()


def step(message: str) -> None:
    """Print ``[+seconds] message``: pytest shows it for a failed test, ``-s`` shows it always."""
    print(f"[+{time.monotonic() - _CLOCK[0]:6.1f}s] {message}", flush=True)


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.25) -> T:
    """Read until ``done(value)`` or the timeout; returns the last value read either way."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = read()
    return value


# JupyterLab ------------------------------------------------------------------------------------------

_CURRENT_CELLS = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const cells = panel && panel.content && panel.content.widgets ? [...panel.content.widgets] : null;
"""

ALL_EXECUTED_JS = (
    "() => {"
    + _CURRENT_CELLS
    + """
  if (!cells) return false;
  const code = cells.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== '');
  return code.length > 0 && code.every(c => {
    const prompt = c.node.querySelector('.jp-InputPrompt');
    return c.model.executionCount !== null && prompt && /\\[\\d+\\]/.test(prompt.textContent);
  });
}"""
)

ERROR_OUTPUTS_JS = (
    "() => {"
    + _CURRENT_CELLS
    + """
  const found = [];
  for (const cell of cells || []) {
    if (cell.model.type !== 'code') continue;
    for (const output of cell.model.outputs.toJSON()) {
      if (output.output_type === 'error') found.push(`${output.ename}: ${output.evalue}`);
    }
  }
  return found;
}"""
)


def open_notebook(page: Any, lab: Server, name: str, *, wait: bool = True) -> None:
    """Open ``name`` in its own fresh workspace; ``wait``: until the notebook is shown.

    Each notebook gets a workspace named after it, so that several pages can be open at once
    without JupyterLab redirecting one of them to a new workspace.
    """
    step(f"open {name}")
    lab.wait_ready()
    workspace = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    url = lab.url(f"lab/workspaces/{workspace}/tree/{name}?reset")
    page.goto(url, timeout=ACTION_TIMEOUT_MS, wait_until="load" if wait else "commit")
    if wait:
        wait_for_notebook(page)


def wait_for_notebook(page: Any) -> None:
    """Wait until JupyterLab shows the notebook opened by `open_notebook`."""
    page.locator(".jp-Notebook").first.wait_for(timeout=KERNEL_TIMEOUT_MS)
    step("notebook shown")


def wait_for_kernel_idle(page: Any) -> None:
    """Wait until the status bar reads ``Python 3 (ipykernel) | Idle``.

    The status bar is the reliable signal: the execution indicator says "idle" while the kernel is
    still starting, and a "Run All" sent then runs nothing.
    """
    page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=KERNEL_TIMEOUT_MS)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=ACTION_TIMEOUT_MS)
    step("kernel idle")


def start_run_all(page: Any) -> None:
    """Run > Run All Cells (returns at once; `wait_until_ran` waits for the cells)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    step("run all cells")


def wait_until_ran(page: Any) -> None:
    """Wait until every non-empty code cell shows an execution count and the kernel idles."""
    page.wait_for_function(ALL_EXECUTED_JS, timeout=RUN_TIMEOUT_MS)
    page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=RUN_TIMEOUT_MS)
    step("all cells ran")


@dataclass
class Tab:
    """A notebook open in its own browser context and page, with a `PageWatch` on it."""

    name: str
    context: Any
    page: Any
    watch: PageWatch

    @classmethod
    def open(cls, browser: Any, lab: Server, name: str) -> Tab:
        """Start opening ``name`` in a new context (`wait_for_notebook` waits for it to show)."""
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        page = context.new_page()
        tab = cls(name, context, page, PageWatch.attach(page))
        open_notebook(page, lab, name, wait=False)
        return tab

    def close(self) -> None:
        """Close the page and its context."""
        self.context.close()


OUTPUTS_JS = """() => [...document.querySelectorAll('.jp-OutputArea-output')].map(
  output => (output.dataset.mimeType || output.className) + ': ' + output.innerText.slice(0, 300))"""


def diagnose(page: Any, screenshots: Screenshots, name: str, server: Server | None) -> str:
    """What a failed test leaves behind: a screenshot of the page, its outputs, the server log's tail."""
    lines = []
    with contextlib.suppress(Exception):
        lines.append(f"screenshot: {screenshots.take(page, f'FAILED_{name}')}")
    with contextlib.suppress(Exception):
        lines += ["outputs:", *page.evaluate(OUTPUTS_JS)]
    if server is not None:
        lines += [f"{server.name} log (tail):", server.log()[-6000:]]
    return "\n".join(lines)


def cell_errors(page: Any) -> list[str]:
    """Error outputs of the notebook, and stderr outputs that show a traceback."""
    errors: list[str] = page.evaluate(ERROR_OUTPUTS_JS)
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    errors += [text[:2000] for text in stderr.all_inner_texts() if "Traceback" in text or "Error" in text]
    return errors


def kernel_tracebacks(server: Server, since: int) -> list[str]:
    """Tracebacks the kernel logged since byte ``since`` (e.g. raised in a widget callback)."""
    text = server.log(since)
    return [chunk[:3000] for chunk in re.split(r"(?=Traceback \(most recent call last\))", text)[1:]]


# dashboards -------------------------------------------------------------------------------------------

KPIS_JS = """root => Object.fromEntries([...root.querySelectorAll('.finlab-kpi-tile')].map(tile => [
  tile.dataset.name,
  [...tile.querySelectorAll('.finlab-kpi-value')].map(value => value.textContent.trim()),
]))"""

CHARTS_JS = """root => [...root.querySelectorAll('.finlab-chart')].map(chart => {
  const names = [...chart.classList].filter(c => c.startsWith('finlab-chart-')).map(c => c.slice(13));
  const svg = chart.querySelector('svg.marks');
  const canvas = chart.querySelector('canvas.marks');
  let fingerprint = null, items = null;
  if (svg) {
    fingerprint = svg.outerHTML;
    items = svg.querySelectorAll('g.role-mark > path, g.role-mark > text, g.role-mark > line').length;
  } else if (canvas) {
    try { fingerprint = canvas.toDataURL(); } catch (e) { fingerprint = 'tainted'; }
  }
  const title = [...chart.querySelectorAll('.role-title-text text')].map(t => t.textContent).join(' ');
  const error = chart.textContent.includes('JavaScript Error') ? chart.textContent.slice(0, 300) : null;
  return {name: names[0] || '', kind: svg ? 'svg' : canvas ? 'canvas' : null, fingerprint, items,
          title, error, width: chart.getBoundingClientRect().width};
})"""


@dataclass(frozen=True)
class ChartState:
    """What one rendered chart widget shows: a fingerprint of its Vega output and the data items drawn."""

    name: str
    kind: str | None
    fingerprint: str | None
    items: int | None
    title: str
    error: str | None


def charts(scope: Any) -> dict[str, ChartState]:
    """The chart widgets inside the locator ``scope``, by name (``finlab-chart-<name>``)."""
    found = scope.evaluate(CHARTS_JS)
    return {
        chart["name"]: ChartState(
            chart["name"], chart["kind"], chart["fingerprint"], chart["items"], chart["title"], chart["error"]
        )
        for chart in found
    }


def rendered(state: Mapping[str, ChartState], expected: int) -> bool:
    """Whether ``expected`` charts drew Vega marks (with data items when the renderer is SVG)."""
    return len(state) >= expected and all(
        chart.fingerprint is not None and chart.error is None and (chart.items is None or chart.items > 0)
        for chart in state.values()
    )


def wait_for_charts(scope: Any, expected: int) -> dict[str, ChartState]:
    """Wait until ``expected`` charts in ``scope`` rendered with Vega, then return them."""
    state = poll(lambda: charts(scope), lambda s: rendered(s, expected), UPDATE_TIMEOUT * 2)
    assert rendered(state, expected), f"charts did not render: {_describe(state)}"
    settled = _settled(lambda: charts(scope))
    step(f"charts rendered: {_describe(settled)}")
    return settled


def wait_for_chart_change(scope: Any, name: str, before: ChartState) -> ChartState:
    """Wait until chart ``name`` shows something else than ``before``; return what it shows then."""

    def changed(state: dict[str, ChartState]) -> bool:
        chart = state.get(name)
        return chart is not None and rendered({name: chart}, 1) and chart.fingerprint != before.fingerprint

    state = poll(lambda: charts(scope), changed, UPDATE_TIMEOUT)
    assert changed(state), f"chart {name!r} did not change: {_describe(state)}"
    settled = _settled(lambda: charts(scope))[name]
    step(f"chart {name} changed: {settled.items} items")
    return settled


def _settled(read: Callable[[], T], pause: float = 0.4) -> T:
    """Read until two reads ``pause`` apart agree (Vega finishes drawing), at most ~10 times."""
    value = read()
    for _ in range(10):
        time.sleep(pause)
        again = read()
        if again == value:
            return again
        value = again
    return value


def _describe(state: Mapping[str, ChartState]) -> str:
    return (
        ", ".join(f"{c.name}: {c.kind} items={c.items} error={c.error}" for c in state.values())
        or "no chart widgets"
    )


PROBLEMS_JS = """root => {
  const found = [];
  for (const embed of root.querySelectorAll('.vega-embed')) {
    if (!embed.querySelector('svg.marks, canvas.marks')) found.push('a chart without Vega marks');
  }
  for (const output of root.querySelectorAll('.jp-OutputArea-output')) {
    const text = output.innerText;
    if (text.includes('Error displaying widget') || text.includes('JavaScript Error')) {
      found.push(text.slice(0, 300));
    }
  }
  return found;
}"""


def wait_for_every_chart(scope: Any) -> None:
    """Wait until every Vega chart in ``scope`` (in a dashboard or not) drew marks and no widget failed."""
    problems = poll(lambda: scope.evaluate(PROBLEMS_JS), lambda found: not found, UPDATE_TIMEOUT)
    assert [] == problems


def kpis(scope: Any) -> dict[str, list[str]]:
    """The KPI tiles inside ``scope``: tile name -> the text of each value line."""
    values: dict[str, list[str]] = scope.evaluate(KPIS_JS)
    return values


def wait_for_kpis(scope: Any, expected: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Wait until the tiles named in ``expected`` show exactly those texts; assert it."""

    def shown() -> dict[str, list[str]]:
        values = kpis(scope)
        return {name: values.get(name, []) for name in expected}

    actual = poll(shown, lambda value: value == dict(expected), UPDATE_TIMEOUT)
    assert dict(expected) == actual
    step(f"tiles show {sorted(expected)}")
    return kpis(scope)


# --- expected values -----------------------------------------------------------------------------------


#: The demo's currency that Stripe does not list: tiles show its minor units and say so.
UNLISTED = frozenset({"xcg"})


def money_text(amount: Decimal, currency: str) -> str:
    """How a tile shows money: thousands separators, the currency's decimals, the code in capitals."""
    if currency in UNLISTED:
        return f"{amount:,} {currency.upper()} (minor units)"
    return f"{amount:,.{exponent(currency)}f} {currency.upper()}"


def money_lines(frame: pl.DataFrame, column: str) -> list[str]:
    """One tile line per currency: the sum of ``<column>_major`` (minor units where unlisted), sorted."""
    sums = (
        frame.filter(pl.col("currency").is_not_null())
        .group_by("currency")
        .agg(pl.col(column + "_major").sum(), pl.col(column).sum().alias("minor"))
        .sort("currency")
    )
    return [
        money_text(Decimal(minor) if code in UNLISTED else amount, code)
        for code, amount, minor in sums.iter_rows()
    ]


def count_text(value: int) -> str:
    """How a tile shows a count."""
    return f"{value:,}"


def cash_flow_kpis(
    demo: DemoFrames, accounts: list[str] | None = None, currency: str | None = None
) -> dict[str, list[str]]:
    """Tiles of the cash-flow dashboard with pending included, from the raw transactions."""
    chosen = filter_transactions(demo.transactions, accounts=accounts, currencies=currency)
    posted = chosen.filter(pl.col("status") == "posted")
    pending = chosen.filter(pl.col("status") == "pending")
    return {
        "inflow": money_lines(posted.filter(pl.col("amount") > 0), "amount"),
        "outflow": money_lines(posted.filter(pl.col("amount") < 0), "amount"),
        "net": money_lines(posted, "amount"),
        "transactions": [count_text(posted.height)],
        # Every currency of the selection gets a pending line, 0 where nothing is pending.
        "pending": money_lines(
            chosen.filter(pl.col("status").is_in(["posted", "pending"])).with_columns(
                pl.when(pl.col("status") == "pending").then(pl.col(c)).otherwise(0).alias(c)
                for c in ("amount", "amount_major")
            ),
            "amount",
        ),
        "pending_transactions": [count_text(pending.height)],
    }


def tax_kpis(demo: DemoFrames, period: str, currency: str | None = None) -> dict[str, list[str]]:
    """Tiles of the tax dashboard, from tax_lines and tax_liability."""
    lines = tax_lines(demo.tax_line_items, demo.tax_transactions)
    if currency is not None:
        lines = lines.filter(pl.col("currency") == currency)
    liability = tax_liability(lines, period=period, timezone="UTC")
    return {
        "tax_collected": money_lines(liability, "tax_collected"),
        "tax_reversed": money_lines(liability, "tax_reversed"),
        "net_tax": money_lines(liability, "net_tax"),
        "taxable_amount": money_lines(liability, "taxable_amount"),
        "jurisdictions": [count_text(lines["jurisdiction"].n_unique())],
        "line_items": [count_text(lines.height)],
    }


def carbon_kpis(demo: DemoFrames, statuses: set[str] | None = None) -> dict[str, list[str]]:
    """Tiles of the carbon dashboard, from cost_per_tonne (canceled orders never count in spend)."""
    orders = demo.climate_orders
    if statuses is not None:
        orders = orders.filter(pl.col("status").is_in(sorted(statuses)))
    costs = cost_per_tonne(orders)
    tonnes = carbon_tonnes(orders, demo.climate_products)
    return {
        "spend": money_lines(costs, "amount_total"),
        "tonnes_ordered": [f"{tonnes['tonnes_ordered'].sum():,.3f} t"],
        "orders": [count_text(int(costs["order_count"].sum()))],
        "canceled": [count_text(orders.filter(pl.col("status") == "canceled").height)],
    }


@dataclass(frozen=True)
class Frames:
    """Every frame of the bundled demo account the dashboards read."""

    transactions: pl.DataFrame
    accounts: pl.DataFrame
    tax_line_items: pl.DataFrame
    tax_transactions: pl.DataFrame
    tax_registrations: pl.DataFrame
    climate_orders: pl.DataFrame
    climate_products: pl.DataFrame
    climate_suppliers: pl.DataFrame

    @classmethod
    def load(cls) -> Frames:
        """Read them through ``finlab.connect(demo=True)``, as the notebooks do without a key."""
        with contextlib.redirect_stderr(io.StringIO()):
            stripe = finlab.connect(demo=True)
        return cls(
            transactions=stripe.transactions(),
            accounts=stripe.accounts(),
            tax_line_items=stripe.tax_line_items(),
            tax_transactions=stripe.tax_transactions(),
            tax_registrations=stripe.tax_registrations(),
            climate_orders=stripe.climate_orders(),
            climate_products=stripe.climate_products(),
            climate_suppliers=stripe.climate_suppliers(),
        )


class DemoFrames:
    """The demo account's `Frames`, loaded in a background thread while the servers start.

    Reading an attribute waits for the load to finish (at most `DEMO_TIMEOUT` seconds).
    """

    def __init__(self) -> None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-frames")
        self._future: Future[Frames] = executor.submit(Frames.load)
        executor.shutdown(wait=False)

    def __getattr__(self, name: str) -> pl.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        frame: pl.DataFrame = getattr(self._future.result(timeout=DEMO_TIMEOUT), name)
        return frame
