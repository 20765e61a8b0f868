"""Escalation after the reminders: refer an unpaid case to a collection agency or to legal.

Pure: no I/O, no clock. The escalation job loads the shop's `ReferralPolicy`
(`parse_referral_policy`), gathers `ReferralFacts` about a case, calls `decide`, and for an
agency or legal decision starts a `Referral` (`start_referral`) whose later moves, reported by
the agency or made by the merchant, go through `transition`.

- `policy`: thresholds per currency, the wait after the last reminder, hand-overs, tags;
- `decision`: agency, legal, write-off, wait or none, with the reason;
- `lifecycle`: referred, accepted, paid (partially or fully), returned unpaid, withdrawn;
- `state`: a case's referrals with their ids, and its write-off.

The names below are loaded on first use: a case's stored referrals (`state`, `lifecycle`) are
read by many functions that never decide a referral (`decision`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoup.domain.referral.decision import (
        CaseMoney,
        DecisionKind,
        ReferralDecision,
        ReferralFacts,
        case_money,
        decide,
    )
    from recoup.domain.referral.lifecycle import (
        MAX_NOTE_CHARS,
        CaseFileKeys,
        HistoryEntry,
        Notification,
        NotificationStatus,
        Referral,
        ReferralStatus,
        ReferralTransitionError,
        start_referral,
        transition,
    )
    from recoup.domain.referral.policy import (
        DEFAULT_AFTER_LAST_STEP_DAYS,
        FINAL_NOTICE_PERIOD,
        EmailHandOver,
        HandOver,
        HandOverChannel,
        ReferralKind,
        ReferralPolicy,
        ReferralPolicyError,
        Thresholds,
        WebhookHandOver,
        check_with_reminders,
        default_referral_policy,
        default_thresholds,
        format_amount,
        parse_referral_policy,
        referral_policy_to_dict,
    )
    from recoup.domain.referral.state import Referrals, WriteOff

# Each name and the submodule that defines it.
_HOMES = {
    "CaseMoney": "decision",
    "DecisionKind": "decision",
    "ReferralDecision": "decision",
    "ReferralFacts": "decision",
    "case_money": "decision",
    "decide": "decision",
    "MAX_NOTE_CHARS": "lifecycle",
    "CaseFileKeys": "lifecycle",
    "HistoryEntry": "lifecycle",
    "Notification": "lifecycle",
    "NotificationStatus": "lifecycle",
    "Referral": "lifecycle",
    "ReferralStatus": "lifecycle",
    "ReferralTransitionError": "lifecycle",
    "start_referral": "lifecycle",
    "transition": "lifecycle",
    "DEFAULT_AFTER_LAST_STEP_DAYS": "policy",
    "FINAL_NOTICE_PERIOD": "policy",
    "EmailHandOver": "policy",
    "HandOver": "policy",
    "HandOverChannel": "policy",
    "ReferralKind": "policy",
    "ReferralPolicy": "policy",
    "ReferralPolicyError": "policy",
    "Thresholds": "policy",
    "WebhookHandOver": "policy",
    "check_with_reminders": "policy",
    "default_referral_policy": "policy",
    "default_thresholds": "policy",
    "format_amount": "policy",
    "parse_referral_policy": "policy",
    "referral_policy_to_dict": "policy",
    "Referrals": "state",
    "WriteOff": "state",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_AFTER_LAST_STEP_DAYS",
    "FINAL_NOTICE_PERIOD",
    "MAX_NOTE_CHARS",
    "CaseFileKeys",
    "CaseMoney",
    "DecisionKind",
    "EmailHandOver",
    "HandOver",
    "HandOverChannel",
    "HistoryEntry",
    "Notification",
    "NotificationStatus",
    "Referral",
    "ReferralDecision",
    "ReferralFacts",
    "ReferralKind",
    "ReferralPolicy",
    "ReferralPolicyError",
    "ReferralStatus",
    "ReferralTransitionError",
    "Referrals",
    "Thresholds",
    "WebhookHandOver",
    "WriteOff",
    "case_money",
    "check_with_reminders",
    "decide",
    "default_referral_policy",
    "default_thresholds",
    "format_amount",
    "parse_referral_policy",
    "referral_policy_to_dict",
    "start_referral",
    "transition",
]
