"""Case files as evidence, on the stack built from template.yaml (moto): signed with the
asymmetric KMS key, verifiable with openssl and the public key alone (the README's commands,
run as written), kept in every version by Object Lock and erased version by version; the
final notice names the referral that really follows, and the file quotes its words."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from recoup.casefile.messages import PAGE_PLACEHOLDER, PAY_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER
from recoup.integrations import case_files, casefile_key
from recoup.services import case_record
from recoup.services.referrals import referral_policy
from recoup_local.cli import main as recoup_cli
from recoup_local.outbox import sent_messages
from tests.conftest import SHOP
from tests.integration.test_escalation import (
    AGENCY_THRESHOLDS,
    CASE,
    OPENED,
    Receiver,
    at,
    open_case,
    receiver,
    run_scheduler,
    run_sequence,
    set_policy,
    spend,
    stored_case,
)

__all__ = ["at", "receiver"]  # fixtures, imported for pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FOLDER = f"cases/{SHOP}/{CASE}/agency-1/"
# The agency's check, exactly as README's "Verifying a case file" gives it.
PEM_FROM_KMS = "openssl pkey -pubin -inform DER -in casefile-signing.der -out casefile-signing.pem"
VERIFY_SIGNATURE = (
    "openssl dgst -sha256 -verify casefile-signing.pem -signature record.sig record.signed"
)
RECORD_DIGEST = (
    """python3 -c 'import json,sys; r=json.load(open("record.json")); r.pop("signature"); """
    """sys.stdout.buffer.write(json.dumps(r,sort_keys=True,separators=(",",":"),"""
    """ensure_ascii=False).encode())' | openssl dgst -sha256"""
)
STATED_DIGEST = "grep record-sha256 record.signed"


def _s3() -> Any:
    return boto3.client("s3", region_name="us-east-1")


def _refer_to_agency(local: Any, clock_: Any, receiver_url: str) -> None:
    set_policy(receiver_url, AGENCY_THRESHOLDS)
    open_case(local)
    spend(clock_, OPENED + timedelta(days=15))
    run_scheduler(local, clock_, OPENED + timedelta(days=30))


def _download(local: Any, folder: Path) -> None:
    bucket = local.stack.refs["CaseFilesBucket"]
    for name in ("record.json", "record.sig", "record.signed"):
        body = _s3().get_object(Bucket=bucket, Key=FOLDER + name)["Body"].read()
        (folder / name).write_bytes(body)


def _sh(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S602 - the README's commands, as an agency types them
        command, shell=True, cwd=folder, capture_output=True, text=True, check=False
    )


def test_a_referred_file_verifies_with_openssl_and_the_public_key_alone(
    local: Any, at: Any, receiver: Receiver, tmp_path: Path
) -> None:
    # Given a case referred to the agency, its files downloaded, and the signing key's
    # public key as KMS gives it (DER), as the README tells the operator to publish it
    _refer_to_agency(local, at, receiver.url)
    _download(local, tmp_path)
    key_id = local.stack.attrs[("CaseFileSigningKey", "Arn")]
    der = boto3.client("kms", region_name="us-east-1").get_public_key(KeyId=key_id)["PublicKey"]
    (tmp_path / "casefile-signing.der").write_bytes(der)
    readme = README.read_text()
    # When the agency runs the README's commands, as written there
    for command in (PEM_FROM_KMS, VERIFY_SIGNATURE, RECORD_DIGEST, STATED_DIGEST):
        assert command in readme, command
    assert _sh(PEM_FROM_KMS, tmp_path).returncode == 0
    verified = _sh(VERIFY_SIGNATURE, tmp_path)
    computed = _sh(RECORD_DIGEST, tmp_path).stdout.split()[-1]
    stated = _sh(STATED_DIGEST, tmp_path).stdout.split()[-1]
    # Then the signature verifies and the record is the one the statement names
    assert (verified.returncode, verified.stdout.strip()) == (0, "Verified OK")
    assert re.fullmatch(r"[0-9a-f]{64}", computed)
    assert computed == stated
    record = json.loads((tmp_path / "record.json").read_bytes())
    assert record["signature"]["key_id"] == key_id
    assert record["signature"]["algorithm"] == "ECDSA_SHA_256"
    # and `recoup verify-chain` agrees, with the PEM file or with KMS
    pem = str(tmp_path / "casefile-signing.pem")
    record_path = str(tmp_path / "record.json")
    assert recoup_cli(["verify-chain", record_path, "--public-key", pem]) == 0
    assert recoup_cli(["verify-chain", record_path]) == 0
    # When the owed amount is edited / Then both refuse it, and openssl's digest differs
    record["amounts"]["owed"]["minor"] = 100
    (tmp_path / "record.json").write_text(json.dumps(record))
    assert recoup_cli(["verify-chain", record_path, "--public-key", pem]) == 1
    assert recoup_cli(["verify-chain", record_path]) == 1
    assert _sh(RECORD_DIGEST, tmp_path).stdout.split()[-1] != stated
    # and a statement signed by anyone but the key does not verify
    (tmp_path / "record.signed").write_text(f"record-sha256: {computed[::-1]}\n")
    assert _sh(VERIFY_SIGNATURE, tmp_path).returncode != 0


def test_a_rewrite_adds_a_version_and_none_can_be_deleted_without_the_erasure_right(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given a referred case whose file set is written again (a redelivered job)
    _refer_to_agency(local, at, receiver.url)
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.latest is not None
    referral = stored.referrals.latest
    case_record.write(stored, referral, referral_policy(SHOP), at.now + timedelta(minutes=1))
    bucket = local.stack.refs["CaseFilesBucket"]
    versions = _s3().list_object_versions(Bucket=bucket, Prefix=FOLDER + "record.json")
    first, *later = sorted(versions["Versions"], key=lambda v: v["LastModified"])
    # Then both versions are kept, locked in governance mode for the retention period
    assert len(later) == 1
    head = _s3().head_object(
        Bucket=bucket, Key=FOLDER + "record.json", VersionId=first["VersionId"]
    )
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > at.now + timedelta(days=2189)
    # and a delete of a version without bypassing governance retention is refused
    with pytest.raises(ClientError, match="AccessDenied"):
        _s3().delete_object(Bucket=bucket, Key=FOLDER + "record.json", VersionId=first["VersionId"])
    # When the privacy worker's erasure runs on the case's prefix
    erased = case_files.delete_prefix(case_files.case_prefix(SHOP, CASE))
    # Then every version of every file is gone, not merely hidden behind a delete marker
    remaining = _s3().list_object_versions(Bucket=bucket, Prefix=f"cases/{SHOP}/{CASE}/")
    assert erased >= 10
    assert remaining.get("Versions", []) == []
    assert remaining.get("DeleteMarkers", []) == []


def test_the_final_notice_names_legal_and_the_file_quotes_every_message_as_sent(
    local: Any, at: Any, receiver: Receiver
) -> None:
    # Given default thresholds: 1,899.00 USD owed is over the legal minimum, and the shop
    # has a legal hand-over, so an unpaid case goes to legal
    set_policy(receiver.url)
    open_case(local)
    # When the whole sequence goes out
    run_sequence(local, at)
    sent = [
        message_from_bytes(m.content, policy=policy.default)
        for m in sent_messages(local.stack.region)
        if m.kind == "email"
    ]
    (notice,) = [m for m in sent if "final notice" in str(m["Subject"])]
    words = notice.get_body(("plain",)).get_content()
    # Then the final notice says the account goes to lawyers, never to an agency
    assert "our lawyers" in words
    assert "agency" not in words
    # When the case is referred after the notice's date
    dunning = stored_case().dunning
    assert dunning is not None and dunning.escalate_at is not None
    run_scheduler(local, at, dunning.escalate_at + timedelta(minutes=5))
    stored = stored_case()
    assert stored.referrals is not None and stored.referrals.latest is not None
    assert str(stored.referrals.latest.kind) == "legal"
    bucket = local.stack.refs["CaseFilesBucket"]
    key = f"cases/{SHOP}/{CASE}/legal-1/record.json"
    record = json.loads(_s3().get_object(Bucket=bucket, Key=key)["Body"].read())
    # Then each email's text in the file is the text sent, but for the signed links
    emails = [m for m in record["messages"] if m["channel"] == "email"]
    assert len(emails) == len(sent) >= 2
    for quoted, mail in zip(emails, sent, strict=True):
        body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
        link = re.search(r"https?://\S*unsubscribe\S*", body)
        assert link is not None
        pay = re.search(r"https?://\S*/pay/\S*", body)
        assert quoted["subject"] == str(mail["Subject"]).strip()
        expected = body.replace(link.group(0), UNSUBSCRIBE_PLACEHOLDER)
        if pay is not None:
            expected = expected.replace(pay.group(0), PAY_PLACEHOLDER)
        page = re.search(r"https?://\S*/c/\S*", body)
        assert page is not None  # every reminder links to the customer's page
        expected = expected.replace(page.group(0), PAGE_PLACEHOLDER)
        assert quoted["text"].strip() == expected.strip()
        assert "re-rendered" in quoted["text_source"]
        assert "are those recorded with the message" in quoted["text_source"]
    # and the file is signed with the stack's key
    assert record["signature"]["key_id"] == casefile_key.key_id()
