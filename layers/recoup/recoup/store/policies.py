"""The shop's reminder policy: stored versioned, read with a default for a new shop."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from recoup.domain.cadence import ReminderPolicy, default_policy, parse_policy, policy_to_dict
from recoup.store.bind import bind
from recoup.store.models import PolicyItem, shop_pk

SK = "POLICY#REMINDERS"


class PolicyConflict(Exception):
    """Someone saved a newer version first."""


def load(shop: str, *, shop_timezone: str = "UTC") -> ReminderPolicy:
    bind()
    try:
        item = PolicyItem.get(shop_pk(shop), SK)
    except DoesNotExist:
        return default_policy(shop_timezone)
    return parse_policy(item.doc)


def save(shop: str, policy: ReminderPolicy, *, now: datetime) -> None:
    """Store a new version; refused unless it is exactly one more than the stored one."""
    bind()
    item = PolicyItem(
        shop_pk(shop), SK, version=policy.version, doc=policy_to_dict(policy), updated_at=now
    )
    condition = (
        PolicyItem.pk.does_not_exist()
        if policy.version == 1
        else PolicyItem.version == policy.version - 1
    )
    try:
        item.save(condition=condition)
    except PutError as exc:
        raise PolicyConflict(f"policy version {policy.version} is not the next one") from exc
