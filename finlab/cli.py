"""The ``finlab`` command.

::

    finlab demo-server [--host H] [--port N]   serve the demo account as a fake Stripe on loopback
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from finlab.errors import FinlabError

Command = Callable[[argparse.Namespace], int]


def _demo_server(args: argparse.Namespace) -> int:
    from finlab.demo.loopback import serve_forever

    serve_forever(host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="finlab", description="Stripe money data as typed Polars frames.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-server", help="serve the bundled demo account as a fake Stripe")
    demo.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=12111, help="port (default 12111; 0 picks a free one)")
    demo.set_defaults(run=_demo_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors print one clear line and exit 2."""
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


if __name__ == "__main__":
    raise SystemExit(main())
