"""Make one referral: write its case file set to S3, build the `Referral`, and, once the case
write that records it has landed, queue the hand-over and the Shopify tag.

The hand-over itself is recorded in that case write (the referral's notification, pending and
due now), which puts the case in the due index with step HANDOVER_DELIVERY: the outbox. Queueing
it right after the write only makes the first attempt quick; if that send fails, the
scheduler queues it from the index on its next run, so nothing is lost.

Used by the escalation job (`services.escalation`) and by the merchant's `refer` action
(`services.actions`). The files' keys are deterministic (`cases/<shop>/<case>/<referral
id>/...`, the id being kind and ordinal), so a redelivered job rewrites the same objects
rather than adding a second file set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recoup import observability, queue
from recoup.domain.dunning import Dunning, DunningStatus
from recoup.domain.referral import (
    CaseFileKeys,
    Referral,
    ReferralKind,
    ReferralPolicy,
    Referrals,
    default_referral_policy,
    parse_referral_policy,
    start_referral,
)
from recoup.integrations import case_files
from recoup.observability import logger, metrics
from recoup.services import case_record
from recoup.services.tagging import flag_customer
from recoup.settings import get_settings
from recoup.store import cases as store
from recoup.store import policies


def referral_policy(shop: str) -> ReferralPolicy:
    """The shop's stored referral policy, or the default. Loopback http hand-overs are allowed
    only on the local stack (secrets from the environment), where test receivers run."""
    stored = policies.load_doc(shop, policies.REFERRAL)
    if stored is None:
        return default_referral_policy()
    local = get_settings().secrets_source == "env"
    return parse_referral_policy(stored[1], allow_loopback_http=local)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A referral ready to be recorded in the case write."""

    referral_id: str
    referral: Referral
    referrals: Referrals
    dunning: Dunning
    summary: str  # for the case's trail: the kind, the reason and where the file is


def prepare(
    stored: store.StoredCase,
    kind: ReferralKind,
    reason: str,
    policy: ReferralPolicy,
    now: datetime,
) -> Prepared:
    """Build the referral and its file keys, writing nothing (`write_files` writes the files
    before the case write). Raises `ReferralTransitionError` when the case cannot be
    referred (one in progress, nothing owed), ValueError without a hand-over for `kind`."""
    case = stored.case
    hand_over = policy.hand_over(kind)
    if hand_over is None:
        raise ValueError(f"the shop's referral policy has no {kind} hand-over configured")
    referrals = stored.referrals or Referrals()
    referral_id = referrals.next_id(kind)
    prefix = f"{case_files.case_prefix(case.shop, case.case_id)}{referral_id}/"
    legal = kind is ReferralKind.LEGAL
    keys = CaseFileKeys(
        json=f"{prefix}record.json",
        html=f"{prefix}casefile.html",
        pdf=f"{prefix}casefile.pdf",
        letter=f"{prefix}demand_letter.html" if legal else None,
    )
    owed = case.amount_owed
    if owed is None:
        raise ValueError("nothing is owed on the case: it cannot be referred")
    referral = start_referral(
        kind,
        at=now,
        reason=reason,
        owed=owed,
        hand_over=hand_over,
        previous=referrals.latest,
        files=keys,
    )
    dunning = (stored.dunning or Dunning(DunningStatus.STOPPED)).finish(
        DunningStatus.STOPPED, f"referred to {kind}: no more reminders"
    )
    summary = (
        f"referred to {kind} ({referral_id}): {reason}; case file at "
        f"s3://{get_settings().require('case_files_bucket')}/{prefix}; hand-over by "
        f"{hand_over.channel} to {hand_over.target}"
    )
    return Prepared(referral_id, referral, referrals.added(referral_id, referral), dunning, summary)


def write_files(stored: store.StoredCase, prepared: Prepared, now: datetime) -> None:
    """Write the referral's case file set (`services.case_record`: the signed record, its
    signature files, HTML, PDF; the demand letter for legal), each object SSE-KMS encrypted;
    a job run again adds new versions of the same keys (the bucket keeps every version)."""
    case_record.write(stored, prepared.referral, referral_policy(stored.case.shop), now)
    metrics.add_metric(name="CaseFilesWritten", unit="Count", value=1)


def after_write(case_shop: str, stored: store.StoredCase, prepared: Prepared) -> None:
    """Once the referral is recorded: queue its hand-over and tag the customer. Runs once
    per referral: a redelivered job finds the referral recorded and stops before this."""
    queue_handover(case_shop, stored.case.case_id, prepared.referral_id)
    policy = referral_policy(case_shop)
    kind = prepared.referral.kind
    flag_customer(stored.case, str(kind), prepared.referral.reason, tag=policy.tag(kind))
    observability.case_referred(str(kind))
    logger.info("Referred", extra={"case_id": stored.case.case_id, "kind": str(kind)})


def queue_handover(shop: str, case_id: str, referral_id: str) -> bool:
    """Queue the first attempt now, the quick path. A failure is only counted: the hand-over
    is in the due index (recorded with the referral), and the scheduler queues it from there;
    the worker's claim makes the two deliveries of one job a single attempt."""
    job = queue.CaseJob(shop, case_id, referral_id=referral_id)
    try:
        queue.send(queue.Queue.HANDOVERS, job)
    except Exception as exc:  # noqa: BLE001 - the outbox delivers it; the error is counted
        metrics.add_metric(name="HandOverQueueDeferred", unit="Count", value=1)
        logger.warning(
            "Hand-over left to the scheduler",
            extra={"case_id": case_id, "error": type(exc).__name__},
        )
        return False
    return True


__all__ = [
    "Prepared",
    "after_write",
    "prepare",
    "queue_handover",
    "referral_policy",
    "write_files",
]
