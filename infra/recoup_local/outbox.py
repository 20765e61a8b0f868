"""What the emulator "sent": SES emails and SNS text messages, read back from moto's
backends (same process) and written as files a person can open (.eml, .txt)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

from recoup_local.provision import ACCOUNT


@dataclass(frozen=True)
class Sent:
    kind: str  # "email" | "sms"
    to: str
    subject: str
    content: bytes


def sent_messages(region: str) -> list[Sent]:
    from moto.backends import get_backend

    ses = get_backend("ses")[ACCOUNT][region]
    sns = get_backend("sns")[ACCOUNT][region]
    messages: list[Sent] = []
    for raw in ses.sent_messages:
        data = raw.raw_data.encode() if isinstance(raw.raw_data, str) else raw.raw_data
        parsed = message_from_bytes(data, policy=policy.default)
        messages.append(Sent("email", str(parsed["To"]), str(parsed["Subject"]), data))
    for phone, text, *_ in sns.sms_messages.values():
        messages.append(Sent("sms", phone, text[:40], text.encode()))
    return messages


def served_messages(endpoint: str) -> list[Sent]:
    """The emails the running stack's emulator (`recoup serve`, another process) sent, read
    over loopback from moto's own API (its tracked SES messages), oldest first."""
    if not endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"not a local emulator: {endpoint}")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as answer:  # noqa: S310 - loopback only, checked above
        data = json.load(answer)
    messages: list[Sent] = []
    for found in data.get("ses", {}).get("RawMessage", []):
        raw = str(found.get("raw_data") or "").encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        messages.append(Sent("email", str(parsed["To"]), str(parsed["Subject"]), raw))
    return messages


def write(messages: list[Sent], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    for number, message in enumerate(messages, 1):
        suffix = "eml" if message.kind == "email" else "txt"
        safe = "".join(c if c.isalnum() else "_" for c in message.to)[:40]
        (folder / f"{number:03d}-{message.kind}-{safe}.{suffix}").write_bytes(message.content)
    return folder
