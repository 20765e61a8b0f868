"""The `recoup` console command: serve, demo, cases, whatif, digest, admin-url, verify-chain, and
the one-off upgrades move-tokens, migrate-keys, count-figures, list-keys and mark-waiting."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoup.domain.cadence import ReminderPolicy
    from recoup.domain.whatif import Summary

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com")


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
            poller.stopped.set()  # no new poll; the one under way finishes
            _bounded(server.shutdown)
            poller.join(timeout=SHUTDOWN_SECONDS)
            os.remove(STATE_FILE)
            # The emulators' own shutdown (moto's server, the stand-ins) is bounded too: a
            # poll still waiting on moto must not keep the stopped stack alive.
            _exit_if_stuck()
    return 0


# How long each part of stopping `serve` may take before it is left behind.
SHUTDOWN_SECONDS = 20


def _bounded(stop: Callable[[], None]) -> None:
    """Run `stop` (a server's shutdown), waiting at most SHUTDOWN_SECONDS for it."""
    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    thread.join(timeout=SHUTDOWN_SECONDS)


def _exit_if_stuck() -> None:
    """Leave the process, saying so, if what is left of stopping outlasts SHUTDOWN_SECONDS."""

    def leave() -> None:
        print("recoup serve: the emulators did not stop in time; exiting", file=sys.stderr)
        sys.stderr.flush()
        os._exit(0)

    timer = threading.Timer(SHUTDOWN_SECONDS, leave)
    timer.daemon = True
    timer.start()


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
    if args.json:
        held = sorted(
            cases.list_stored(args.shop, include_untracked=args.all),
            key=lambda s: report.status_order(s.case),
        )
        payload = [report.stored_json(s, cases.timeline(args.shop, s.case.case_id)) for s in held]
        print(json.dumps({"shop": args.shop, "cases": payload}, indent=2))
        return 0
    found = sorted(cases.list_cases(args.shop, include_untracked=args.all), key=report.status_order)
    if not found:
        print(f"no cases for {args.shop}")
    for case in found:
        print(report.case_headline(case))
    return 0


def whatif(args: argparse.Namespace) -> int:
    """Preview a reminder policy, or strategies on the shop's current one, over the cases the
    shop opened in the last days, on the running stack: cases per strategy, messages per
    step and channel gone and to come, per week. A bad file or policy: one line, exit 2."""
    from recoup import clock
    from recoup.domain.cadence import PolicyError
    from recoup.domain.whatif import summary_to_dict
    from recoup.services import whatif as previews
    from recoup_local.stack import connect

    if not previews.MIN_DAYS <= args.days <= previews.MAX_DAYS:
        print(
            f"--days must be {previews.MIN_DAYS} to {previews.MAX_DAYS}, got {args.days}",
            file=sys.stderr,
        )
        return 2
    raw = _whatif_file(args.strategy)
    if raw is None:
        return 2
    connect()
    try:
        policy = whatif_policy(raw, previews.current_policy(args.shop))
        summary = previews.preview(args.shop, policy, now=clock.now(), days=args.days)
    except PolicyError as exc:
        print(f"{args.strategy}: {exc.field or 'policy'}: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"shop": args.shop, **summary_to_dict(summary)}, indent=2))
        return 0
    print("\n".join(whatif_table(args.shop, summary)))
    return 0


def _whatif_file(name: str) -> Any:
    """The file's JSON; None (having said why, in one line) when it cannot be read."""
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"{name}: cannot read: {why}", file=sys.stderr)
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        print(
            f"{name}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=sys.stderr
        )
        return None


def whatif_policy(raw: object, current: ReminderPolicy) -> ReminderPolicy:
    """The policy a what-if file describes: a whole reminder policy (it has "steps"; its
    version defaults to the current one's next), or strategies (a list, or an object of
    "strategies" alone) that replace the current policy's. Raises PolicyError naming the
    field."""
    from recoup.domain.cadence import PolicyError, parse_policy, policy_to_dict

    version = current.version + 1
    if isinstance(raw, dict) and "steps" in raw:
        return parse_policy({"version": version, **raw})
    if isinstance(raw, dict) and set(raw) == {"strategies"}:
        raw = raw["strategies"]
    if not isinstance(raw, list):
        raise PolicyError(
            "",
            "must be a reminder policy (with steps), a list of strategies, "
            'or {"strategies": [...]}',
        )
    return parse_policy({**policy_to_dict(current), "version": version, "strategies": raw})


def whatif_table(shop: str, summary: Summary) -> list[str]:
    """The preview as the console shows it."""
    from recoup.domain.whatif import kind_of

    start, end = summary.window_start, summary.window_end
    lines = [
        f"What-if for {shop}: {summary.cases} case(s) opened "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
    ]
    if summary.cut:
        lines.append("  (cut: only the newest cases were planned; the window starts at the oldest)")
    lines += ["", f"{'strategy':<32}{'cases':>7}{'holdout':>9}{'gone':>7}{'to come':>9}"]
    for s in summary.strategies:
        label = f"{s.strategy_id} ({s.name})"
        lines.append(f"{label:<32}{s.cases:>7}{s.holdout:>9}{s.gone:>7}{s.to_come:>9}")
    lines.append(f"not chased: {summary.not_chased}; waiting for a due date: {summary.waiting}")
    lines += ["", f"{'messages':<56}{'gone':>7}{'to come':>9}"]
    for m in summary.steps:
        arm = f" [{m.arm}]" if m.arm else ""
        label = f"{m.strategy_id}{arm} {kind_of(m.step)} {m.channel} {m.template}"
        lines.append(f"{label:<56}{m.gone:>7}{m.to_come:>9}")
    lines.append(f"{'total':<56}{summary.gone:>7}{summary.to_come:>9}")
    lines += ["", "messages gone per week (UTC, from Monday)"]
    lines += [f"{w.monday.isoformat()}  {w.gone:>6}" for w in summary.weeks]
    if summary.first_at and summary.last_at:
        lines.append(
            f"first message {summary.first_at:%Y-%m-%d %H:%M}, "
            f"last {summary.last_at:%Y-%m-%d %H:%M} UTC"
        )
    lines += ["", summary.limits]
    return lines


def admin_url(args: argparse.Namespace) -> int:
    """Print a link that opens the admin page on the local stack as a staff member of the
    shop: a session token signed with the local development secret, in the URL fragment
    (which the browser never sends; the page moves it to memory)."""
    from recoup_local.session_tokens import mint
    from recoup_local.stack import DEV_SECRETS, DEV_SHOPIFY_API_KEY, STATE_FILE

    shop = args.shop.strip().lower()
    if not _SHOP.fullmatch(shop):
        print(f"--shop must be a *.myshopify.com domain, got {args.shop!r}", file=sys.stderr)
        return 2
    if not 1 <= args.minutes <= 24 * 60:
        print(f"--minutes must be 1 to 1440, got {args.minutes}", file=sys.stderr)
        return 2
    name = "RECOUP_SHOPIFY_API_SECRET"
    secret = (os.environ.get(name) or DEV_SECRETS[name]).split(",")[0].strip()
    api_key = os.environ.get("RECOUP_SHOPIFY_API_KEY") or DEV_SHOPIFY_API_KEY
    state = Path(STATE_FILE)
    front = (
        json.loads(state.read_text())["front"]
        if state.exists()
        else f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    )
    token = mint(shop, api_key=api_key, secret=secret, lifetime=timedelta(minutes=args.minutes))
    print(f"{front}/app#id_token={token}")
    return 0


def verify_chain(args: argparse.Namespace) -> int:
    """Check a referral case file (its JSON): the audit chain, the digest of the whole record,
    the signature (with the public key in a PEM file, else KMS on the running local stack),
    and that the amounts reconcile. 0 when every check passes."""
    from recoup.casefile.verify import verify_document
    from recoup_local.casefile_check import kms_check, openssl_check

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.public_key:
        check = openssl_check(Path(args.public_key))
        checked_with = f"public key {args.public_key}"
    else:
        from recoup.settings import get_settings
        from recoup_local.stack import connect

        if not os.environ.get("RECOUP_CASEFILE_SIGNING_KEY_ID"):
            connect()  # the stack `recoup serve` runs (else: this process's own, in tests)
        key_id = get_settings().require("casefile_signing_key_id")
        check, checked_with = kms_check(key_id), f"KMS key {key_id}"
    report = verify_document(raw, check)
    if not report.ok:
        print(f"{args.file}: FAILED: {report.problem}", file=sys.stderr)
        return 1
    print(
        f"{args.file}: OK: {report.chain.entries} entries, chain head {report.chain.head}; "
        f"record sha256 {report.record_sha256}; signature verified with {checked_with}; "
        "amounts reconcile"
    )
    return 0


def move_tokens(args: argparse.Namespace) -> int:
    """One-off, against a deployed stack (the caller's AWS credentials): shops' tokens from
    the data key to the token key (README, "Deploy")."""
    from recoup.store.tokens import move_to_token_key

    report = move_to_token_key(args.table, args.token_key, region=args.region)
    print(
        f"tokens moved to {args.token_key}: {report.moved}; already there: {report.already}; "
        f"re-written meanwhile (kept): {report.changed}"
    )
    return 0


def migrate_keys(args: argparse.Namespace) -> int:
    """One-off, against a deployed stack (the caller's AWS credentials), with its queue
    consumers paused: cases into partitions of their own (README, "Upgrading")."""
    os.environ["RECOUP_TABLE_NAME"] = args.table
    os.environ["AWS_DEFAULT_REGION"] = args.region
    os.environ.pop("AWS_REGION", None)
    os.environ.setdefault("RECOUP_EVENTS_QUEUE_URL", "unused")  # the migration queues nothing
    from recoup.store.migration import migrate

    migrate(progress=print)
    return 0


def _against_table(args: argparse.Namespace) -> None:
    """Point the store at a deployed table (`--table`, `--region`) for a one-off upgrade."""
    os.environ["RECOUP_TABLE_NAME"] = args.table
    os.environ["AWS_DEFAULT_REGION"] = args.region
    os.environ.pop("AWS_REGION", None)
    os.environ.setdefault("RECOUP_EVENTS_QUEUE_URL", "unused")  # an upgrade queues nothing


def count_figures(args: argparse.Namespace) -> int:
    """One-off after an upgrade that changes the figures' counters, against a deployed stack
    (the caller's AWS credentials): count every case once under the new rollup version
    (README, "Upgrading"). Idempotent: run it again after an interruption."""
    _against_table(args)
    from recoup.store.rollup_upgrade import count_all

    count_all(shop=args.shop, progress=print)
    return 0


def list_keys(args: argparse.Namespace) -> int:
    """One-off after the upgrade that added the case list's keys, against a deployed stack
    (the caller's AWS credentials): give every case stored before them its search terms and
    sort keys (docs/data-model.md). Idempotent: run it again after an interruption."""
    _against_table(args)
    from recoup.store.case_listing import backfill

    backfill(shop=args.shop, progress=print)
    return 0


def mark_waiting(args: argparse.Namespace) -> int:
    """One-off after the upgrade that added the merchant's notices, against a deployed stack
    (the caller's AWS credentials): give every case already waiting for the merchant its
    marker, so the digests list it (README, "Upgrading"). Idempotent."""
    _against_table(args)
    from recoup import clock
    from recoup.store.waiting_backfill import mark_waiting as backfill

    backfill(now=clock.now(), shop=args.shop, progress=print)
    return 0


def digest(args: argparse.Namespace) -> int:
    """Send a shop's notice digest now on the running stack (once per local day, as the
    hourly job does, whatever the hour), then write the emulator's outbox to a folder."""
    from recoup import clock
    from recoup.services import notifications
    from recoup_local import outbox
    from recoup_local.stack import STATE_FILE, connect

    connect()
    print(notifications.daily_digest(args.shop, now=clock.now(), force=True))
    endpoint = json.loads(Path(STATE_FILE).read_text())["endpoint"]
    messages = outbox.served_messages(endpoint)
    folder = outbox.write(messages, Path(args.outbox))
    print(f"outbox: {folder} ({len(messages)} emails: .eml opens in a mail client)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    _quiet()
    parser = argparse.ArgumentParser(prog="recoup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_serve = commands.add_parser("serve", help="keep the local stack up")
    p_serve.add_argument("--host", default=DEFAULT_HOST)
    p_serve.add_argument("--port", type=int, default=DEFAULT_PORT)
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
    p_whatif = commands.add_parser(
        "whatif", help="preview a reminder policy or strategies on a shop's recent cases"
    )
    p_whatif.add_argument("--shop", required=True, help="the shop's myshopify.com domain")
    p_whatif.add_argument(
        "--strategy",
        required=True,
        metavar="FILE.json",
        help='a whole reminder policy, or strategies (a list, or {"strategies": [...]}) '
        "to put on the shop's current policy",
    )
    p_whatif.add_argument(
        "--days", type=int, default=90, help="the cases opened in the last DAYS (1 to 90)"
    )
    p_whatif.add_argument("--json", action="store_true", help="the summary as JSON")
    p_whatif.set_defaults(run=whatif)
    p_digest = commands.add_parser(
        "digest", help="send a shop's notice digest now on the running stack; write the outbox"
    )
    p_digest.add_argument("--shop", required=True, help="the shop's myshopify.com domain")
    p_digest.add_argument("--outbox", default="out/outbox", help="folder for the emails")
    p_digest.set_defaults(run=digest)
    p_admin = commands.add_parser(
        "admin-url", help="print a link to the admin page on the local stack, signed in"
    )
    p_admin.add_argument("--shop", required=True, help="the shop's myshopify.com domain")
    p_admin.add_argument("--minutes", type=int, default=60, help="how long the link works")
    p_admin.set_defaults(run=admin_url)
    p_verify = commands.add_parser(
        "verify-chain",
        help="check a referral case file (JSON): chain, record digest, signature, amounts",
    )
    p_verify.add_argument("file", help="the case file's JSON (record.json)")
    p_verify.add_argument(
        "--public-key",
        help="PEM file of the signing key's public key (default: KMS on the running local stack)",
    )
    p_verify.set_defaults(run=verify_chain)
    p_move = commands.add_parser(
        "move-tokens", help="one-off: re-encrypt shops' tokens under the stack's token key"
    )
    p_move.add_argument("--table", required=True, help="the stack's table, recoup-<stage>")
    p_move.add_argument("--token-key", required=True, help="alias/recoup-<stage>-tokens")
    p_move.add_argument("--region", required=True)
    p_move.set_defaults(run=move_tokens)
    p_migrate = commands.add_parser(
        "migrate-keys", help="one-off: move cases written before per-case partitions"
    )
    p_migrate.add_argument("--table", required=True, help="the stack's table, recoup-<stage>")
    p_migrate.add_argument("--region", required=True)
    p_migrate.set_defaults(run=migrate_keys)
    p_count = commands.add_parser(
        "count-figures", help="one-off: count every case once under the figures' new counters"
    )
    p_count.add_argument("--table", required=True, help="the stack's table, recoup-<stage>")
    p_count.add_argument("--region", required=True)
    p_count.add_argument("--shop", default=None, help="only this shop (default: every shop)")
    p_count.set_defaults(run=count_figures)
    p_list = commands.add_parser(
        "list-keys", help="one-off: give cases stored before them the case list's keys"
    )
    p_list.add_argument("--table", required=True, help="the stack's table, recoup-<stage>")
    p_list.add_argument("--region", required=True)
    p_list.add_argument("--shop", default=None, help="only this shop (default: every shop)")
    p_list.set_defaults(run=list_keys)
    p_mark = commands.add_parser(
        "mark-waiting", help="one-off: mark the cases already waiting for the merchant"
    )
    p_mark.add_argument("--table", required=True, help="the stack's table, recoup-<stage>")
    p_mark.add_argument("--region", required=True)
    p_mark.add_argument("--shop", default=None, help="only this shop (default: every shop)")
    p_mark.set_defaults(run=mark_waiting)
    args = parser.parse_args(argv)
    if args.command == "serve" and not args.shop:
        args.shop = ["demo-electronics.myshopify.com"]
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
