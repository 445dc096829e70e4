"""Security: the API key never leaks, only GET is ever sent, the key only travels over https (or to
loopback), a secret live key is warned about once, and the store is private to the user.

The leak tests give finlab a distinctive live-style key accepted by a demo Stripe on a loopback socket
(``FINLAB_API_BASE``) and capture everything it can emit: stdout, stderr, progress bars, log records
at DEBUG (httpx's too), warnings, exceptions with their tracebacks, reprs, every file of the store
(raw bytes and decoded Parquet), exports, the HTML report and its charts, and the notebooks executed
with ``STRIPE_API_KEY`` set, as notebooks and as HTML. None of it may hold the key, its secret part,
any 16-character run of that part, or their base64 forms.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

import finlab
import finlab.connection
from finlab import errors
from finlab.client import AsyncClient, Client, ClientConfig, ReadLimits, RequestPolicy, RetryPolicy
from finlab.connection import connect
from finlab.demo import DemoStripe, LoopbackServer, serve
from finlab.demo.dataset import Dataset
from finlab.demo.faults import Faults

try:
    import storekit
except ImportError:  # tests/ became a package
    from tests import storekit  # type: ignore[no-redef]

#: A live-style restricted key nothing else uses, so that any copy of it is a leak.
SECRET = "rk_live_51LeakCanaryQ8x7Zr2eVKYlo2C0FfQa9XbW7sTt3LdNw4Hs6Jf1Gc0"
#: Another key, which the demo Stripe does not know (its answers are 401s).
STRANGER = "rk_live_51StrangerKeyP3m9Lq2Wv8Xc4Bn7Rt1Yh6Ud5Ke0"
FAST = RetryPolicy(max_retries=20, base_delay=0, max_delay=0)
SHORT = ReadLimits(timeout=2.0)
ROOT = Path(__file__).resolve().parents[1]
FINLAB = [sys.executable, "-m", "finlab.cli"]


def needles(key: str) -> list[bytes]:
    """What a leak of ``key`` would look like: the key, its secret part, any 16-character run of that
    part, and the base64 of the key as Bearer or Basic auth would carry it."""
    secret = key.split("_", 2)[2]
    runs = {secret[i : i + 16] for i in range(len(secret) - 15)}
    texts = {key, secret, *runs}
    encoded = {base64.b64encode(text.encode()) for text in (key, f"{key}:")}
    return sorted({text.encode() for text in texts} | encoded)


LEAKS = needles(SECRET)


def leaks(data: bytes | str) -> list[bytes]:
    """The needles found in ``data``."""
    blob = data.encode() if isinstance(data, str) else data
    return [needle for needle in LEAKS if needle in blob]


def assert_no_leak(what: str, data: bytes | str) -> None:
    found = leaks(data)
    assert not found, f"the API key leaks into {what}: {found[:3]!r}"


def assert_no_leak_in_files(root: Path) -> int:
    """Scan every file under ``root`` (Parquet decoded too); return how many were scanned."""
    scanned = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        assert_no_leak(str(path), path.read_bytes())
        if path.suffix == ".parquet":  # compressed pages could hide a string from a byte scan
            assert_no_leak(f"{path} (decoded)", repr(pl.read_parquet(path).rows()))
        scanned += 1
    return scanned


def test_the_leak_scan_finds_a_planted_key(tmp_path: Path) -> None:
    """The scans are not vacuous: the key, a piece of it, or its base64, in text or in Parquet."""
    for planted in (SECRET, f"Bearer {SECRET[8:]}", SECRET[20:37], base64.b64encode(f"{SECRET}:".encode())):
        assert leaks(planted)
    assert not leaks(SECRET[20:35])  # shorter than a run: e.g. Stripe's masked key shows four characters
    pl.DataFrame({"note": [f"key={SECRET}"] * 200}).write_parquet(tmp_path / "t.parquet", compression="zstd")
    with pytest.raises(AssertionError, match="leaks into"):
        assert_no_leak_in_files(tmp_path)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return storekit.small_dataset()


@pytest.fixture
def loopback(dataset: Dataset) -> Iterator[LoopbackServer]:
    """The demo account for `SECRET` on a loopback socket, 20% of its answers faulted."""
    with serve(DemoStripe(dataset, api_keys={SECRET: None}, faults=Faults.spread(0.2, seed=4))) as server:
        yield server


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], dict[str, str]]:
    """Set STRIPE_API_KEY, FINLAB_API_BASE and FINLAB_STORE for a server URL; return the environment."""

    def use(url: str) -> dict[str, str]:
        monkeypatch.setenv("STRIPE_API_KEY", SECRET)
        monkeypatch.setenv("FINLAB_API_BASE", url)
        monkeypatch.setenv("FINLAB_STORE", str(tmp_path / "store"))
        monkeypatch.setattr(finlab.connection, "_notices", set())
        return dict(os.environ)

    return use


# -- the key never leaks: in-process -----------------------------------------------------------------


def test_nothing_the_library_emits_holds_the_key(
    dataset: Dataset,
    loopback: LoopbackServer,
    secret_env: Callable[[str], dict[str, str]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sync (progress bars on), reads, errors and warnings, with every logger at DEBUG."""
    secret_env(loopback.url)
    caplog.set_level(logging.DEBUG)
    emitted: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stripe = connect(retry=FAST, limits=SHORT)
        report = stripe.sync(progress=True)
        stripe.tax_transactions(ids=storekit.tax_ids(dataset))
        frames = [stripe.transactions(), stripe.climate_orders(), stripe.tax_line_items()]
        frames += [stripe.verification_sessions(), stripe.webhook_endpoints()]
        emitted += [str(report), repr(stripe), repr(stripe.store), *map(repr, frames)]
        for failing in (
            lambda: stripe.tax_transactions(ids=["tax_1NoSuchTransaction0000"]),  # 404
            lambda: stripe.tax_calculations(["taxcalc_1NoSuchCalculation0"]),  # 404
            lambda: stripe.frame("climate.orders"),  # a typo
            lambda: connect(
                api_key=STRANGER, base_url=loopback.url, retry=FAST, limits=SHORT
            ).climate_products(),  # 401
            lambda: connect(api_key=SECRET + "x", base_url="http://example.com"),  # http off loopback
            lambda: connect(api_key=SECRET + "-"),  # malformed
        ):
            with pytest.raises(errors.FinlabError) as info:
                failing()
            emitted += [str(info.value), repr(info.value), *traceback.format_exception(info.value)]
    assert report.retries, "the faults were met"
    out, err = capfd.readouterr()
    assert "financial_connections.transaction" in err  # the progress bars were drawn
    emitted += [out, err, *(str(w.message) for w in caught)]
    emitted += [record.getMessage() for record in caplog.records]
    emitted += [repr(record.args) for record in caplog.records]
    assert any(record.name.startswith("httpx") for record in caplog.records)
    for index, text in enumerate(emitted):
        assert_no_leak(f"emitted text #{index}", text)
    assert 20 < assert_no_leak_in_files(tmp_path / "store")


def test_clients_and_policies_never_show_the_key() -> None:
    policy = RequestPolicy(ClientConfig(SECRET, retry=FAST, limits=SHORT))
    with Client(SECRET) as client:
        shown: list[object] = [client, AsyncClient.__new__(AsyncClient), policy, finlab.Connection(SECRET)]
        shown[1].policy = policy  # type: ignore[attr-defined]  (no connection pool to close)
        for thing in shown:
            assert_no_leak(type(thing).__name__, repr(thing) + str(thing))
            assert "rk_live_…" in repr(thing)


# -- the key never leaks: the command line, exports, the report, the notebooks -------------------------


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """Run a command; return its stdout and stderr together."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return f"$ {' '.join(command)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def clean_loopback(dataset: Dataset) -> Iterator[LoopbackServer]:
    """The demo account for `SECRET` on a loopback socket, without faults (subprocesses retry slowly)."""
    with serve(DemoStripe(dataset, api_keys={SECRET: None})) as server:
        yield server


@pytest.mark.slow
def test_the_command_line_exports_and_report_never_hold_the_key(
    dataset: Dataset,
    clean_loopback: LoopbackServer,
    secret_env: Callable[[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    """sync (progress bars on), export in every format, status, report, and two failing commands."""
    env = secret_env(clean_loopback.url)
    connect(retry=FAST, limits=SHORT).tax_transactions(
        ids=storekit.tax_ids(dataset)
    )  # what the report's tax part reads
    work = tmp_path / "work"
    work.mkdir()
    outputs = [run([*FINLAB, "sync"], env, work)]
    assert "Synced" in outputs[-1]
    for resource, fmt in (
        ("transactions", "csv"),
        ("climate.order", "ndjson"),
        ("tax_registrations", "parquet"),
    ):
        outputs.append(
            run([*FINLAB, "export", resource, "--format", fmt, "--output", f"out.{fmt}"], env, work)
        )
        assert "Wrote" in outputs[-1]
    outputs.append(run([*FINLAB, "status"], env, work))
    outputs.append(run([*FINLAB, "report", "--live", "--out", "report"], env, work))
    assert (work / "report" / "report.html").is_file(), outputs[-1]
    outputs.append(run([*FINLAB, "export", "climate.orders", "--format", "csv"], env, work))  # an error
    assert "finlab:" in outputs[-1]
    with serve(DemoStripe(storekit.small_dataset(), api_keys={STRANGER: None})) as other:  # a 401
        outputs.append(run([*FINLAB, "sync"], {**env, "FINLAB_API_BASE": other.url}, work))
    assert "401" in outputs[-1]
    for text in outputs:
        assert_no_leak(text.splitlines()[0], text)
    assert 5 < assert_no_leak_in_files(work)
    assert_no_leak_in_files(tmp_path / "store")


@pytest.mark.slow
def test_executed_notebooks_never_hold_the_key(
    dataset: Dataset,
    clean_loopback: LoopbackServer,
    secret_env: Callable[[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    """Every notebook, executed with STRIPE_API_KEY set, saved as a notebook and as HTML."""
    env = secret_env(clean_loopback.url)
    stripe = connect()  # the store the notebooks read: synced, with the tax transactions finlab was given
    stripe.sync(progress=False)
    stripe.tax_transactions(ids=storekit.tax_ids(dataset))
    notebooks = sorted(str(path) for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    executed = tmp_path / "executed"
    jupyter = [sys.executable, "-m", "jupyter", "nbconvert"]
    options = ["--ExecutePreprocessor.timeout=300", "--output-dir", str(executed)]
    log = run(
        ["timeout", "1500", *jupyter, "--to", "notebook", "--execute", *options, *notebooks], env, ROOT, 1600
    )
    assert len(notebooks) == len(list(executed.glob("*.ipynb"))), log
    html = run(
        [*jupyter, "--to", "html", "--output-dir", str(executed), *map(str, executed.glob("*.ipynb"))],
        env,
        ROOT,
    )
    assert len(notebooks) == len(list(executed.glob("*.html"))), html
    assert_no_leak("nbconvert's output", log + html)
    assert 2 * len(notebooks) == assert_no_leak_in_files(executed)


# -- GET only, https only ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})


def post_build(original: Callable[..., httpx.Request]) -> Callable[..., httpx.Request]:
    """`RequestPolicy.build` as a bug could make it: a POST with a body."""

    def build(self: RequestPolicy, method: str, path: str, params: Any) -> httpx.Request:
        request = original(self, method, path, params)
        return httpx.Request("POST", request.url, headers=request.headers, content=b"amount=100")

    return build


def fetch_orders(kind: str, transport: httpx.MockTransport) -> None:
    """GET the climate orders once, through the sync or the async client."""
    if kind == "sync":
        with Client(SECRET, transport=transport, retry=FAST, limits=SHORT) as client:
            client.get("/v1/climate/orders")
        return

    async def fetch() -> None:
        async with AsyncClient(SECRET, transport=transport, retry=FAST, limits=SHORT) as client:
            await client.get("/v1/climate/orders")

    asyncio.run(fetch())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_post_never_leaves_even_if_the_client_builds_one(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(RequestPolicy, "build", post_build(RequestPolicy.build))
    with pytest.raises(errors.ConfigurationError, match="only reads: refusing to send POST"):
        fetch_orders(kind, httpx.MockTransport(recorder))
    assert [] == recorder.requests


def test_a_post_sent_straight_to_the_transport_is_refused(dataset: Dataset) -> None:
    """Past every finlab method, at httpx's own send, over a real socket: the server sees nothing."""
    server = DemoStripe(dataset, api_keys={SECRET: None})
    with serve(server) as loopback, Client(SECRET, base_url=loopback.url, retry=FAST, limits=SHORT) as client:
        for method in ("POST", "DELETE", "PUT", "PATCH"):
            request = httpx.Request(method, f"{loopback.url}/v1/climate/orders", content=b"x=1")
            with pytest.raises(errors.ConfigurationError, match=f"refusing to send {method}"):
                client._http.send(request)
        assert [] == list(server.requests)
        assert "list" == client.get("/v1/climate/orders")["object"]  # GET still goes
    assert 1 == len(server.requests)


def test_the_demo_stripe_refuses_writes_too(dataset: Dataset) -> None:
    """A write that reached the fake Stripe anyway is answered 405, as nothing there can change."""
    server = DemoStripe(dataset, api_keys={SECRET: None})
    response = server.handle(
        httpx.Request(
            "POST", "https://api.stripe.com/v1/climate/orders", headers={"Authorization": f"Bearer {SECRET}"}
        )
    )
    assert 405 == response.status_code
    assert "GET" == response.headers["Allow"]


@pytest.mark.parametrize(
    "base_url",
    ["http://api.stripe.com", "http://10.0.0.7:12111", "http://localhost.example.com", "ftp://127.0.0.1"],
)
def test_https_is_required_off_loopback(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ConfigurationError, match="https"):
        connect(api_key=SECRET, base_url=base_url)
    monkeypatch.setenv("FINLAB_API_BASE", base_url)
    with pytest.raises(errors.ConfigurationError, match="https"):
        connect(api_key=SECRET)


def test_https_is_checked_again_as_a_request_leaves() -> None:
    """Even if a base URL were changed after the checks, http to another machine is refused."""
    recorder = Recorder()
    with Client(SECRET, transport=httpx.MockTransport(recorder), retry=FAST, limits=SHORT) as client:
        object.__setattr__(client.policy.config, "base_url", "http://api.stripe.com")  # past the check
        with pytest.raises(errors.ConfigurationError, match="only travel over https"):
            client.get("/v1/climate/orders")
        object.__setattr__(client.policy.config, "base_url", "http://127.0.0.1:12111")
        client.get("/v1/climate/orders")
    assert [("http", "127.0.0.1")] == [(r.url.scheme, r.url.host) for r in recorder.requests]


def test_finlab_api_base_points_connect_at_a_loopback_server(
    clean_loopback: LoopbackServer, secret_env: Callable[[str], dict[str, str]]
) -> None:
    secret_env(clean_loopback.url)
    stripe = connect(retry=FAST, limits=SHORT)
    assert clean_loopback.url == stripe.config.base_url
    assert 0 < stripe.climate_suppliers().height


# -- a secret live key is warned about, once --------------------------------------------------------


def test_a_secret_live_key_warns_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finlab.connection, "_notices", set())
    monkeypatch.delenv("FINLAB_STORE", raising=False)
    secret_key = "sk_live_" + SECRET[8:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            connect(api_key=secret_key)
        connect(api_key=SECRET)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert 1 == len(messages)
    assert "rk_live_" in messages[0]
    assert "read-only" in messages[0]
    assert_no_leak("the warning", messages[0])
    assert not leaks(messages[0].replace("rk_live_", ""))


# -- the store is private ----------------------------------------------------------------------------


def test_store_files_are_readable_by_the_user_only(
    clean_loopback: LoopbackServer, secret_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    secret_env(clean_loopback.url)
    previous = os.umask(0o022)  # a permissive umask, as on most machines
    try:
        connect(retry=FAST, limits=SHORT).sync(["climate.order", "tax.registration"], progress=False)
        assert 0o022 == os.umask(0o022)  # the sync left the process's umask as it was
    finally:
        os.umask(previous)
    root = tmp_path / "store"
    paths = [root, *root.rglob("*")]
    assert 10 < len(paths)
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert 0 == mode & 0o077, f"{path} is {oct(mode)}: others may read it"


def test_the_one_post_is_a_report_run_built_by_the_policy() -> None:
    """POST /v1/reporting/report_runs leaves only as `create_report_run` builds it; no other write does."""
    seen: list[httpx.Request] = []

    def stripe(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"object": "reporting.report_run", "id": "frr_1", "status": "pending"}
        )

    async def attempts() -> None:
        async with AsyncClient(SECRET, transport=httpx.MockTransport(stripe), retry=FAST) as client:
            run = await client.create_report_run({"report_type": "tax.transactions.itemized.2"})
            assert "frr_1" == run["id"]
            with pytest.raises(errors.ConfigurationError, match="The one write is POST /v1/reporting"):
                client.policy.build_create("/v1/refunds", {"amount": 1})
            unmarked = httpx.Request(
                "POST", "https://api.stripe.com/v1/reporting/report_runs", content=b"x=1"
            )
            with pytest.raises(errors.ConfigurationError, match="refusing to send POST"):
                await client._http.send(unmarked)  # the same path, not built by the policy: refused
            marked = client.policy.build_create("/v1/reporting/report_runs", {})
            elsewhere = httpx.Request(
                "POST", "https://api.stripe.com/v1/refunds", extensions=marked.extensions
            )
            with pytest.raises(errors.ConfigurationError, match="refusing to send POST"):
                await client._http.send(elsewhere)  # the mark does not carry to another path

    asyncio.run(attempts())
    assert [("POST", "/v1/reporting/report_runs")] == [(r.method, r.url.path) for r in seen]
    assert "report_type=tax.transactions.itemized.2" == seen[0].content.decode()
    assert seen[0].headers["Idempotency-Key"]  # a retried create makes no second run


def test_file_contents_come_from_the_files_host_only() -> None:
    seen: list[httpx.Request] = []

    def hosts(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"a,b\n1,2\n")

    async def download() -> bytes:
        async with AsyncClient(SECRET, transport=httpx.MockTransport(hosts), retry=FAST) as client:
            with pytest.raises(errors.ConfigurationError):
                await client.download("file_../../v1/charges")
            return await client.download("file_123")

    assert b"a,b\n1,2\n" == asyncio.run(download())
    assert ["https://files.stripe.com/v1/files/file_123/contents"] == [str(r.url) for r in seen]
    with pytest.raises(errors.ConfigurationError, match="https"):
        AsyncClient(SECRET, files_url="http://files.example.com")
