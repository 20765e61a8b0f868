"""The `recoup` console command: serve, demo, cases."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence


def _quiet() -> None:
    """Keep the console readable: handlers log JSON at WARNING and up, no metric lines."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def serve(args: argparse.Namespace) -> int:
    from recoup.services import shops
    from recoup_local.front import Poller, make_server
    from recoup_local.stack import STATE_FILE, emulated, write_state

    with emulated(port=args.aws_port) as local:
        for shop in args.shop:
            shops.install(shop, stripe_account=args.stripe_account)
        server = make_server(local.lambdas, host=args.host, port=args.port)
        front = f"http://{args.host}:{server.server_address[1]}"
        write_state(local, front)
        poller = Poller(local.lambdas)
        poller.start()
        print(f"Recoup local stack: POST {front}/webhooks/shopify and {front}/webhooks/stripe")
        print(f"AWS emulator (moto): {local.endpoint}; installed: {', '.join(args.shop)}")
        print("Stop with Ctrl-C", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            poller.stop()
            os.remove(STATE_FILE)
    return 0


def demo(_: argparse.Namespace) -> int:
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # the demo prints its own account of events
    from recoup_local import demo as story

    if not story.available():
        print("demo events are missing (tests/events/): run from a full checkout", file=sys.stderr)
        return 2
    return story.run()


def list_cases(args: argparse.Namespace) -> int:
    from recoup.services import cases
    from recoup_local import report
    from recoup_local.stack import connect

    connect()
    found = sorted(cases.list_cases(args.shop, include_untracked=args.all), key=report.status_order)
    if args.json:
        payload = [report.case_json(c, cases.timeline(args.shop, c.case_id)) for c in found]
        print(json.dumps({"shop": args.shop, "cases": payload}, indent=2))
        return 0
    if not found:
        print(f"no cases for {args.shop}")
    for case in found:
        print(report.case_headline(case))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    _quiet()
    parser = argparse.ArgumentParser(prog="recoup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_serve = commands.add_parser("serve", help="keep the local stack up")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=3000)
    p_serve.add_argument("--aws-port", type=int, default=4566, help="port of the AWS emulator")
    p_serve.add_argument(
        "--shop",
        action="append",
        default=None,
        help="install this shop at start (repeatable; default demo-electronics.myshopify.com)",
    )
    p_serve.add_argument(
        "--stripe-account",
        default="acct_1DemoElectronics",
        help="Stripe account connected to the installed shops",
    )
    p_serve.set_defaults(run=serve)
    p_demo = commands.add_parser("demo", help="run the demo story on a fresh local stack")
    p_demo.set_defaults(run=demo)
    p_cases = commands.add_parser("cases", help="list a shop's cases on the running stack")
    p_cases.add_argument("--shop", required=True, help="the shop's myshopify.com domain")
    p_cases.add_argument("--json", action="store_true", help="machine-readable, with timelines")
    p_cases.add_argument("--all", action="store_true", help="include orders never owed")
    p_cases.set_defaults(run=list_cases)
    args = parser.parse_args(argv)
    if args.command == "serve" and not args.shop:
        args.shop = ["demo-electronics.myshopify.com"]
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
