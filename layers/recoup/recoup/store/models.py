"""The single table's item types (PynamoDB models) and its key layout.

pk                sk                         item
SHOP#<domain>     META                       installation: Stripe account, installed at
SHOP#<domain>     CASE#<case id>             the case: status, amounts, version, audit head
SHOP#<domain>     AUDIT#<case id>#<seq>      one audit entry, hash-chained
SHOP#<domain>     XREF#<stripe object id>    which case a Stripe payment belongs to
SHOP#<domain>     POLICY#<kind>              reminders, fraud or referral policy, versioned
SHOP#<domain>     VEL#<dim>#<hash>#<time>#<id>  a failed payment, for velocity counts (TTL)
SHOP#<domain>     ADDR#<hash>#<email hash>   an email shipping to an address (TTL)
SHOP#<domain>     PRIVACY#DATA_REQUEST#<id>  a data request: export key, customer hash (TTL)
SHOP#<domain>     TESTMSG#<time>#<id>        a test message the admin sent to themself (TTL)
SHOP#<domain>     TESTCOUNT#<day>            test messages asked for that day (TTL)
STRIPEACCT#<id>   META                       which shop a connected Stripe account is
CONNECTSTATE#<n>  META                       a Stripe Connect state already used (TTL)
DELIVERY#<ch>#<id> META                      which case and step a provider message id is (TTL)
DELIVERY#<ch>#<id> REPORT#<kind>             a delivery report already on the trail (TTL)
SCHEDULER         CURSOR#DUE                 where the scheduler stopped in each due shard
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model


class _Item(Model):
    class Meta:
        table_name = "unbound"  # set by store.bind from Settings
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ShopItem(_Item):
    class Meta(_Item.Meta):
        pass

    installed_at = UTCDateTimeAttribute()
    stripe_account = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    shop_name = UnicodeAttribute(null=True)
    contact_email = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    # The rest of the shop's identity as Shopify reports it (install, shop/update).
    currency = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    primary_domain = UnicodeAttribute(null=True)
    identity_at = UTCDateTimeAttribute(null=True)  # the version of it held (Shopify's time)
    brand_color = UnicodeAttribute(null=True)
    logo_url = UnicodeAttribute(null=True)
    # Where customers' replies go, set in the settings (None: the contact email).
    reply_to = UnicodeAttribute(null=True)
    # The shop's template overrides by template name: {"subject", "html", "text", "sms"},
    # each checked by recoup.channels.render.validate_override before it is stored.
    templates = JSONAttribute(null=True)
    # The offline Admin API token and its refresh token, each encrypted with the token key
    # (never stored plain), their expiries (None: a non-expiring token, to migrate), a
    # version every token write is conditioned on, the lease of the one refresh under way,
    # and why the merchant must open the app again (Shopify refused to refresh).
    access_token = BinaryAttribute(null=True, legacy_encoding=False)
    refresh_token = BinaryAttribute(null=True, legacy_encoding=False)
    token_expires_at = UTCDateTimeAttribute(null=True)
    refresh_expires_at = UTCDateTimeAttribute(null=True)
    token_version = NumberAttribute(null=True)
    refresh_lease_until = UTCDateTimeAttribute(null=True)
    needs_reauth = UnicodeAttribute(null=True)
    scopes = UnicodeAttribute(null=True)
    uninstalled_at = UTCDateTimeAttribute(null=True)
    # Shopify customer tags Recoup applies, by purpose ("fraud", "agency", "legal").
    tags = JSONAttribute(null=True)


class PolicyItem(_Item):
    class Meta(_Item.Meta):
        pass

    version = NumberAttribute()
    doc = JSONAttribute()
    updated_at = UTCDateTimeAttribute()


class ContactItem(_Item):
    class Meta(_Item.Meta):
        pass

    email_opt_out = BooleanAttribute(default=False)
    sms_opt_out = BooleanAttribute(default=False)
    suppressed = BooleanAttribute(default=False)
    reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    last_shop = UnicodeAttribute(null=True)  # GLOBAL phone items: who to name in HELP
    # Why this shop cannot deliver to the address by email / to the number by SMS at all
    # (the provider refused it for good, or it is not a valid address); None: deliverable.
    email_undeliverable = UnicodeAttribute(null=True)
    sms_undeliverable = UnicodeAttribute(null=True)


class MessageItem(_Item):
    class Meta(_Item.Meta):
        pass

    case_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    expires_at = TTLAttribute()


class VelocityItem(_Item):
    """A failed payment (VEL#...) or an email seen at a shipping address (ADDR#...), keyed
    by hashes only, kept for the velocity windows."""

    class Meta(_Item.Meta):
        pass

    card = UnicodeAttribute(null=True)  # the card fingerprint's hash, for distinct cards
    expires_at = TTLAttribute()


class DeliveryItem(_Item):
    """A message the sender handed to SES or SNS, by the provider's message id (META), and
    each kind of delivery report already recorded for it (REPORT#<kind>): no personal data."""

    class Meta(_Item.Meta):
        pass

    shop = UnicodeAttribute()
    case_id = UnicodeAttribute()
    step = NumberAttribute()
    expires_at = TTLAttribute()


class SampleSendItem(_Item):
    """A test message (TESTMSG#...): one step sent to an address the admin typed, marked as
    a test, on no case and in no figure. Claimed (queued -> sending) before the send."""

    class Meta(_Item.Meta):
        pass

    channel = UnicodeAttribute()
    step = NumberAttribute()  # the policy's step index
    to_address = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | sending | sent | failed | unknown
    detail = UnicodeAttribute(null=True)
    provider_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class SampleSendCountItem(_Item):
    """How many test messages a shop asked for on one UTC day (TESTCOUNT#<day>)."""

    class Meta(_Item.Meta):
        pass

    asked = NumberAttribute()
    expires_at = TTLAttribute()


class StripeAccountItem(_Item):
    class Meta(_Item.Meta):
        pass

    shop = UnicodeAttribute()


class ConnectStateItem(_Item):
    """A Stripe Connect state nonce already used (CONNECTSTATE#<nonce>): a replay is refused."""

    class Meta(_Item.Meta):
        pass

    shop = UnicodeAttribute()
    expires_at = TTLAttribute()


class DueIndex(GlobalSecondaryIndex["CaseItem"]):  # type: ignore[no-untyped-call]
    """Sparse: only cases with a reminder due are in it."""

    class Meta:
        index_name = "due"
        projection = IncludeProjection(["next_step"])

    due_pk = UnicodeAttribute(hash_key=True)
    due_sk = UnicodeAttribute(range_key=True)


class CaseItem(_Item):
    class Meta(_Item.Meta):
        pass

    due_index = DueIndex()
    due_pk = UnicodeAttribute(null=True)
    due_sk = UnicodeAttribute(null=True)
    next_step = NumberAttribute(null=True)
    dunning = JSONAttribute(null=True)  # recoup.domain.dunning.Dunning.to_dict
    screening = JSONAttribute(null=True)  # recoup.domain.fraud.screening.Screening.to_dict
    referral = JSONAttribute(null=True)  # recoup.domain.referral.Referrals.to_dict
    status = UnicodeAttribute()
    opened = BooleanAttribute(default=False)
    opened_at = UTCDateTimeAttribute(null=True)
    amount_owed_minor = NumberAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    doc = JSONAttribute()  # the whole domain Case (recoup.domain.case.Case.to_dict)
    audit_seq = NumberAttribute(default=0)
    audit_head = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    version = VersionAttribute()


class AuditItem(_Item):
    class Meta(_Item.Meta):
        pass

    case_id = UnicodeAttribute()
    seq = NumberAttribute()
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
    body = JSONAttribute()
    expires_at = TTLAttribute(null=True)


class XrefItem(_Item):
    class Meta(_Item.Meta):
        pass

    case_id = UnicodeAttribute()


class DueCursorItem(_Item):
    """The scheduler's position in every shard of the due index (store.due_cursors)."""

    class Meta(_Item.Meta):
        pass

    shards = JSONAttribute()  # {"<shard>": recoup.store.due_cursors.ShardCursor.to_dict}
    updated_at = UTCDateTimeAttribute()
    version = VersionAttribute()


MODELS: tuple[type[_Item], ...] = (
    ShopItem,
    StripeAccountItem,
    CaseItem,
    AuditItem,
    XrefItem,
    DueCursorItem,
    PolicyItem,
    ContactItem,
    MessageItem,
    VelocityItem,
    DeliveryItem,
    ConnectStateItem,
    SampleSendItem,
    SampleSendCountItem,
)


def shop_pk(shop: str) -> str:
    return f"SHOP#{shop}"


def case_sk(case_id: str) -> str:
    return f"CASE#{case_id}"


def audit_prefix(case_id: str) -> str:
    return f"AUDIT#{case_id}#"


def audit_sk(case_id: str, seq: int) -> str:
    return f"{audit_prefix(case_id)}{seq:08d}"


def xref_sk(stripe_id: str) -> str:
    return f"XREF#{stripe_id}"
