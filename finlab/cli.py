"""The ``finlab`` command.

::

    finlab demo-server [--host H] [--port N] [--files-port N] [--latency S] [--jitter S]
                       [--rate-limit live|test|off]
                                               serve the demo account as a fake Stripe on loopback
    finlab sync [RESOURCE ...] [--store DIR]   fetch what changed into the local Delta Lake store
    finlab export RESOURCE --format parquet|csv|ndjson [--as-of V] [--output PATH] [--store DIR]
    finlab status [--store DIR]                what is stored, how fresh, at which version
    finlab app [--port N] [--live]             the dashboards as a web app (Voilà) behind a token,
                                               demo account by default
    finlab report [--out DIR] [--timezone TZ] [--live]   offline HTML report, PNG and SVG charts

The key comes from ``STRIPE_API_KEY`` (none: the bundled demo account) and never appears in output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from finlab.errors import ConfigurationError, FinlabError, StoreError

if TYPE_CHECKING:
    import polars as pl

    from finlab.connection import Connection
    from finlab.store import Store

    #: What ``add_subparsers`` returns: each ``_add_*`` adds one command to it.
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

Command = Callable[[argparse.Namespace], int]
FORMATS = ("parquet", "csv", "ndjson")
TOKEN_VARIABLE = "JUPYTER_TOKEN"  # the app's token, as for `jupyter lab`; finlab.app reads it


def _demo_server(args: argparse.Namespace) -> int:
    from finlab.demo.limits import Limits
    from finlab.demo.loopback import serve_forever

    limits = Limits.stripe(args.rate_limit, latency=args.latency, jitter=args.jitter)
    serve_forever(host=args.host, port=args.port, files_port=args.files_port, limits=limits)
    return 0


def _connect(args: argparse.Namespace) -> Connection:
    from finlab.connection import connect
    from finlab.store import default_root

    accounts: list[str] = getattr(args, "stripe_account", None) or []
    chosen = accounts[0] if len(accounts) == 1 else accounts or None  # one id or "all"; a list; none
    return connect(store=args.store or default_root(), stripe_account=chosen)


def _sync(args: argparse.Namespace) -> int:
    report = _connect(args).sync(args.resources or None, progress=not args.quiet)
    print(report)
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from finlab import resources
    from finlab.files import private_directory, private_file
    from finlab.store import parse_as_of

    res = resources.get(args.resource)
    parse_as_of(args.as_of)  # a mistyped --as-of fails before anything is fetched
    store = _connect(args).open_store()
    assert store is not None  # _connect always sets one
    if store.version(res.object) is None:
        msg = f"Nothing of {res.object} is stored in {store.base}; run `finlab sync {res.object}` first."
        raise StoreError(msg)
    frame = store.read(res.object, args.as_of)
    path = args.output or f"{res.object}.{args.format}"
    private_directory(Path(path).parent)
    with private_file(path) as handle:  # 0600, like the store: the export holds the same data
        if args.format == "parquet":
            frame.write_parquet(handle)
        elif args.format == "csv":
            _json_encode_nested(frame).write_csv(handle)
        else:
            frame.write_ndjson(handle)
    version = f"version {store.version(res.object)}" if args.as_of is None else f"as of {args.as_of}"
    print(f"Wrote {frame.height} rows of {res.object} ({version}) to {path}")
    return 0


def _json_encode_nested(frame: pl.DataFrame) -> pl.DataFrame:
    """List and Struct columns as JSON text, which CSV can hold."""
    import polars as pl

    def encode(value: Any) -> str | None:
        return None if value is None else json.dumps(value, default=_jsonable, sort_keys=True)

    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    return frame.with_columns(
        pl.Series(name, [encode(v) for v in frame.get_column(name).to_list()], dtype=pl.String())
        for name in nested
    )


def _jsonable(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    msg = f"cannot encode {type(value).__name__} as JSON"
    raise TypeError(msg)


def _status(args: argparse.Namespace) -> int:
    from finlab.store import Store, accounts_in, default_root
    from finlab.store_view import age

    root = args.store or default_root()
    if "://" in root:
        store = _connect(args).open_store()
        stores: list[Store] = [] if store is None else [store]
    else:
        stores = [Store(root, account, livemode) for account, livemode in accounts_in(root)]
    if not stores:
        print(f"Nothing is stored in {root} yet; `finlab sync` fetches it.")
    for store in stores:
        print(f"{store.account} ({store.mode}) in {store.base}")
        print(f"  {'resource':<35} {'rows':>8} {'version':>8}  synced")
        for table in store.status():
            synced = "never" if table.synced_at is None else f"{age(table.synced_at)} ago"
            print(f"  {table.resource:<35} {table.rows:>8} {table.version:>8}  {synced}")
    return 0


def _app(args: argparse.Namespace) -> int:
    """Serve the app notebook with Voilà: dashboards only, no code; the demo account unless ``--live``."""
    from pathlib import Path

    from finlab.extras import require

    require("app")
    # finlab/app.ipynb is package data (in a clone, a link to notebooks/app.ipynb).
    notebook = Path(args.notebook) if args.notebook else Path(__file__).with_name("app.ipynb")
    if not notebook.is_file():
        msg = f"No app notebook at {notebook}: pass --notebook PATH."
        raise ConfigurationError(msg)
    env = _app_environment(args.live)
    host = args.host or "127.0.0.1"
    account = "STRIPE_API_KEY's account" if args.live else "the demo account"
    url = f"http://{host}:{args.port}/?token={env[TOKEN_VARIABLE]}"
    print(f"finlab app: {account} on {url} (Ctrl-C stops it)", flush=True)
    return _serve(_voila_command(args, str(notebook), host), env)


def _app_environment(live: bool) -> dict[str, str]:
    """The app's environment: the key only with ``--live``, and the token (made here if unset)."""
    import secrets

    env = dict(os.environ)
    if live:
        if not env.get("STRIPE_API_KEY"):
            msg = "--live reads STRIPE_API_KEY, which is not set: set it, or leave out --live for the demo."
            raise ConfigurationError(msg)
    else:  # the bundled demo account: no key, no store, no other base URL
        for name in ("STRIPE_API_KEY", "FINLAB_STORE", "FINLAB_API_BASE"):
            env.pop(name, None)
    # In the environment: a command line is visible to every local user.
    env[TOKEN_VARIABLE] = env.get(TOKEN_VARIABLE) or secrets.token_urlsafe(32)
    return env


def _voila_command(args: argparse.Namespace, notebook: str, host: str) -> list[str]:
    """The command line of Voilà behind the token, the Host check and the idle-kernel culler."""
    command = [
        sys.executable,
        "-m",
        "finlab.app",
        notebook,
        f"--port={args.port}",
        f"--Voila.ip={host}",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        f"--MappingKernelManager.cull_idle_timeout={args.idle_timeout}",
        f"--MappingKernelManager.cull_interval={max(1, args.idle_timeout // 4)}",
    ]
    if args.host is not None:  # served on purpose to other names than localhost: accept any Host
        command.append("--any-host")
    if args.preheat:  # one kernel keeps the dashboards computed, so that a page opens at once
        command += ["--preheat_kernel=True", "--pool_size=1"]
    if not args.open:
        command.append("--no-browser")
    return command


def _serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server until it exits, or until Ctrl-C (which it receives too) has shut it down."""
    import subprocess

    server = subprocess.Popen(command, env=env)
    try:
        return server.wait()
    except KeyboardInterrupt:  # Voilà got the same Ctrl-C and shuts its kernels down
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait()
        return 0


def _report(args: argparse.Namespace) -> int:
    """Write the offline HTML report and PNG/SVG charts; the demo account unless ``--live``."""
    from finlab.connection import connect
    from finlab.report import write_report

    if args.live and not os.environ.get("STRIPE_API_KEY"):
        msg = "--live reads STRIPE_API_KEY, which is not set: set it, or leave out --live for the demo."
        raise ConfigurationError(msg)
    report = write_report(connect(demo=not args.live), args.out, timezone=args.timezone)
    print(f"Wrote {report.html}")
    for png, svg in report.images.values():
        print(f"Wrote {png} and {svg.name}")
    return 0


#: Help of every command's ``--store``.
STORE_HELP = "store directory or s3:// URI (default: $FINLAB_STORE, else ~/.finlab)"
#: Help of ``--live`` on the commands that read the demo account by default.
LIVE_HELP = "read STRIPE_API_KEY's account, not the demo"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="finlab", description="Stripe money data as typed Polars frames.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo_server, _add_sync, _add_export, _add_status, _add_app, _add_report):
        add(commands)
    return parser


def _add_demo_server(commands: Subcommands) -> None:
    demo = commands.add_parser("demo-server", help="serve the bundled demo account as a fake Stripe")
    demo.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=12111, help="port (default 12111; 0 picks a free one)")
    demo.add_argument(
        "--files-port", type=int, default=12112, help="port standing in for files.stripe.com (default 12112)"
    )
    demo.add_argument("--latency", type=float, default=0.0, help="seconds each answer takes (e.g. 0.3)")
    demo.add_argument("--jitter", type=float, default=0.0, help="± seconds of uniform jitter on the latency")
    demo.add_argument(
        "--rate-limit",
        choices=("live", "test", "off"),
        default="off",
        help="answer 429 over Stripe's limits for live (100/s, 25/s per endpoint) or test keys (25/s)",
    )
    demo.set_defaults(run=_demo_server)


def _add_sync(commands: Subcommands) -> None:
    sync = commands.add_parser("sync", help="fetch what changed since the last sync into the local store")
    sync.add_argument(
        "resources", nargs="*", metavar="RESOURCE", help="e.g. transactions climate.order (default: all)"
    )
    sync.add_argument("--store", help=STORE_HELP)
    sync.add_argument("--quiet", action="store_true", help="no progress bars")
    sync.add_argument(
        "--stripe-account",
        action="append",
        metavar="ACCT",
        help="a connected account (acct_...; repeat for several) or 'all' (default: the key's own)",
    )
    sync.set_defaults(run=_sync)


def _add_export(commands: Subcommands) -> None:
    export = commands.add_parser("export", help="write a stored frame to parquet, csv or ndjson")
    export.add_argument("resource", metavar="RESOURCE", help="e.g. financial_connections.transaction")
    export.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="csv cannot hold List/Struct columns: they are written as JSON text",
    )
    export.add_argument(
        "--as-of", help="a Delta version (see `finlab status`) or an ISO datetime with offset"
    )
    export.add_argument("--output", "-o", help="file to write (default: RESOURCE.FORMAT here)")
    export.add_argument("--store", help=STORE_HELP)
    export.set_defaults(run=_export)


def _add_status(commands: Subcommands) -> None:
    status = commands.add_parser("status", help="what is stored, how fresh each table is, its version")
    status.add_argument("--store", help=STORE_HELP)
    status.set_defaults(run=_status)


def _add_app(commands: Subcommands) -> None:
    app = commands.add_parser("app", help="serve the dashboards as a web app (Voilà) on loopback")
    app.add_argument(
        "--host",
        help="address to bind (default 127.0.0.1, answering only Host names of this machine); "
        "given, any Host name is accepted (the token is still required)",
    )
    app.add_argument("--port", type=int, default=8866, help="port (default 8866)")
    app.add_argument("--live", action="store_true", help=LIVE_HELP)
    app.add_argument("--notebook", help="the notebook to serve (default: the one finlab ships)")
    app.add_argument("--open", action="store_true", help="open the app in a web browser")
    app.add_argument(
        "--no-preheat",
        dest="preheat",
        action="store_false",
        help="compute the dashboards only when a page opens (default: keep one kernel ready)",
    )
    app.add_argument(
        "--idle-timeout",
        type=int,
        default=120,
        metavar="SECONDS",
        help="shut a kernel down once no page has been connected to it this long (default 120; 0: never)",
    )
    app.set_defaults(run=_app)


def _add_report(commands: Subcommands) -> None:
    report = commands.add_parser("report", help="write an offline HTML report with PNG and SVG charts")
    report.add_argument("--out", default="finlab-report", help="directory to write (default: finlab-report)")
    report.add_argument("--timezone", default="UTC", help="IANA timezone of periods and dates (default UTC)")
    report.add_argument("--live", action="store_true", help=LIVE_HELP)
    report.set_defaults(run=_report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors print one clear line and exit 2 (1 for a bug)."""
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except FinlabError as exc:
        print(f"finlab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("finlab: interrupted; what was committed is kept.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, not a traceback (FINLAB_DEBUG=1 shows it)
        if os.environ.get("FINLAB_DEBUG"):
            raise
        print(
            f"finlab: unexpected error ({type(exc).__name__}: {exc}); set FINLAB_DEBUG=1 for the traceback "
            "and report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
