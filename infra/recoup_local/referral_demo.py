"""The demo's referral side: the shop's referral policy, a stand-in for the law firm's
webhook (a receiver thread on loopback that checks `Recoup-Signature`), and the case files
copied out of the emulated S3 so they can be opened locally."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3

from recoup.domain.handover import SignatureError, verify
from recoup.domain.referral import Referrals
from recoup.store import policies
from recoup_local.stack import LocalStack

AGENCY_ADDRESS = "referrals@collections-agency.example"
LEGAL_SECRET_REF = "legal-desk"  # noqa: S105 - the secret's name, not a secret
# A development value, like the local stack's other secrets: anyone may sign with it.
LEGAL_SECRET = "dev-legal-desk-secret"  # noqa: S105


class LawFirmReceiver:
    """Accepts hand-over webhooks on 127.0.0.1 and remembers whether each was signed right."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bool, int]] = []  # (signature valid, body bytes)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    # The demo's clock is simulated: check the signature at the time it names.
                    header = self.headers.get("Recoup-Signature") or ""
                    stamp = int(header.split(",")[0].removeprefix("t="))
                    verify(body, header, [LEGAL_SECRET], datetime.fromtimestamp(stamp).astimezone())
                    valid = True
                except (SignatureError, ValueError):
                    valid = False
                outer.deliveries.append((valid, len(body)))
                self.send_response(200 if valid else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/recoup/referrals"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def install_policy(shop: str, receiver: LawFirmReceiver, now: datetime) -> None:
    """Agency referrals by email, legal ones by webhook; default thresholds and wait."""
    os.environ[f"RECOUP_HANDOVER_SECRET_{LEGAL_SECRET_REF.upper().replace('-', '_')}"] = (
        LEGAL_SECRET
    )
    doc = {
        "version": 1,
        "agency": {"hand_over": {"channel": "email", "address": AGENCY_ADDRESS}},
        "legal": {
            "hand_over": {"channel": "webhook", "url": receiver.url, "secret_ref": LEGAL_SECRET_REF}
        },
    }
    policies.save_doc(shop, policies.REFERRAL, 1, doc, now=now)


def copy_case_files(local: LocalStack, shop: str, folder: Path) -> list[Path]:
    """Every case file of the shop, from the bucket to `folder/<case>/<referral>/`."""
    s3 = boto3.client("s3", region_name=local.stack.region)
    bucket = local.stack.refs["CaseFilesBucket"]
    prefix = f"cases/{shop}/"
    folder.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = folder / item["Key"].removeprefix(prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            copied.append(path)
    return copied


def counts(records: Iterable[Referrals | None]) -> dict[str, int]:
    """Referrals by kind, and write-offs, over the cases' referral records."""
    found = {"agency": 0, "legal": 0, "written_off": 0}
    for record in records:
        if record is None:
            continue
        for _, referral in record.entries:
            found[str(referral.kind)] += 1
        found["written_off"] += record.written_off is not None
    return found


__all__ = [
    "AGENCY_ADDRESS",
    "LawFirmReceiver",
    "copy_case_files",
    "counts",
    "install_policy",
]
