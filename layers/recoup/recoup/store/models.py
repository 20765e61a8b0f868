"""The single table's item types (PynamoDB models) and its key layout.

pk                        sk                     item
SHOP#<domain>             META                   installation: Stripe account, installed at
SHOP#<domain>             POLICY#<kind>          reminders, fraud or referral policy, versioned
SHOP#<domain>             PRIVACY#DATA_REQUEST#<id>  a data request: export key, customer hash (TTL)
SHOP#<domain>             TESTMSG#<time>#<id>    a test message the admin sent to themself (TTL)
SHOP#<domain>             TESTCOUNT#<day>        test messages asked for that day (TTL)
SHOP#<domain>             STAFF#<user id>        a staff member's display name (TTL)
CASE#<domain>#<case id>   CASE                   the case: status, amounts, version, audit head
CASE#<domain>#<case id>   AUDIT#<seq>            one audit entry, hash-chained
CASE#<domain>#<case id>   WAIT, REFERRED#<id>    waiting for the merchant; a referral made (TTL)
SHOP#<domain>             NOTIFY#DIGEST          the day of the last digest to the merchant
NOTIFY#<shard>            <domain>               a shop with merchant notices to consider
CASE#<domain>#<case id>   LIST#<hash>            a key the admin's list finds the case by:
                                                 opened at, owed, search terms (case_listing)
XREF#<domain>#<stripe id> META                   which case a Stripe payment belongs to
VEL#<domain>#<dim>#<hash> H#<hour>               failed payments of one identity in one UTC
                                                 hour, per 5 minutes (store.velocity, TTL)
ADDR#<domain>#<addr hash> W#<monday>             customers seen at one shipping address in
                                                 one week (store.velocity, TTL)
ROLLUP#<domain>#<shard>   <day>                  one shard of a recent day's figures, every
                                                 currency (store.rollups; TTL once folded)
ROLLUP#<domain>#D         <day>#<currency>       a folded day's figures; WATERMARK: folded to
ROLLUP#<domain>#M         <yyyy-mm>#<currency>   a month's figures, with its weeks'
ROLLUP#<domain>#D<k>, M<k> as #D and #M          (k = 1..3) older days' changes of a share
                                                 of the cases, counters only
WHO#<domain>#<hash>       <case id>              a case naming this customer (store.customer_links)
MSG#<domain>#<hash>       LOG                    the messages sent to one customer in 8 days,
                                                 for the weekly cap (store.contacts, TTL)
STRIPEACCT#<id>           META                   which shop a connected Stripe account is
CONNECTSTATE#<n>          META                   a Stripe Connect state already used (TTL)
DELIVERY#<ch>#<id>        META                   which case and step a provider message id is (TTL)
DELIVERY#<ch>#<id>        REPORT#<kind>          a delivery report already on the trail (TTL)
SCHEDULER                 CURSOR#DUE             where the scheduler stopped in each due shard
PAGE#<link id>            META                   which case a customer's page link opens
                                                 (store.case_pages; shop index P#<link id>)
CASE#<domain>#<case id>   PAGE                   the case's current page link: id, expiry
CASE#<domain>#<case id>   RATE#<kind>#<hour>     a page's requests in one UTC hour (TTL)

Each case is a partition of its own, so one shop's writes spread over as many partitions as
it has cases (docs/data-model.md). The shop's items outside its SHOP# partition are found
through the `shop` index (keys only, write-sharded): a case item carries `shop_part`
(`<domain>#<shard>`) and `shop_sort` (`C#<case id>` while tracked, `M#<case id>` otherwise);
a cross reference, a velocity bucket, a rollup, a customer link or a message log `X#`, `V#`,
`R#`, `W#` or `L#` and its keys; a listing item of a tracked case `O#`, `A#` or `F#`. The
index is written only when those keys change, never by an ordinary case update.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
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
    """A message sent, in the shop's partition (`MSG#<hash>#<time>`), as versions before the
    per-customer log wrote them: read only to migrate them (store.migration)."""

    class Meta(_Item.Meta):
        pass

    case_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    expires_at = TTLAttribute()


class MessageLogItem(_Item):
    """The messages a shop sent one customer in the last 8 days (store.contacts): one
    string-set attribute per UTC day, `d<day>`, of `<time>|<channel>|<case id>`, so its
    attributes are read with the plain client."""

    class Meta(_Item.Meta):
        pass

    expires_at = TTLAttribute()
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class VelocityItem(_Item):
    """A failed payment (VEL#...) or an email seen at a shipping address (ADDR#...) in the
    shop's partition, as versions before the counters wrote them: read only to migrate and
    to erase them (store.velocity.migrate_marks)."""

    class Meta(_Item.Meta):
        pass

    card = UnicodeAttribute(null=True)  # the card fingerprint's hash, for distinct cards
    expires_at = TTLAttribute()


class VelocityBucketItem(_Item):
    """Failed payments of one identity in one UTC hour (store.velocity): pk
    `VEL#<domain>#<dim>#<hash>`, sk `H#<yyyy-mm-ddThh>`; counts per 5 minutes (q00..q11,
    top-level so that one UpdateItem ADDs to them), the hour's total, and for an email the
    cards tried with it (hashes, capped). Keyed by hashes only."""

    class Meta(_Item.Meta):
        pass

    total = NumberAttribute(null=True)
    q00 = NumberAttribute(null=True)
    q01 = NumberAttribute(null=True)
    q02 = NumberAttribute(null=True)
    q03 = NumberAttribute(null=True)
    q04 = NumberAttribute(null=True)
    q05 = NumberAttribute(null=True)
    q06 = NumberAttribute(null=True)
    q07 = NumberAttribute(null=True)
    q08 = NumberAttribute(null=True)
    q09 = NumberAttribute(null=True)
    q10 = NumberAttribute(null=True)
    q11 = NumberAttribute(null=True)
    cards = UnicodeSetAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class AddressBucketItem(_Item):
    """The customers (email hashes, capped) seen at one shipping address in one ISO week
    (store.velocity): pk `ADDR#<domain>#<address hash>`, sk `W#<the week's Monday>`."""

    class Meta(_Item.Meta):
        pass

    emails = UnicodeSetAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


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


class StaffNameItem(_Item):
    """A staff member's display name as Shopify last gave it (STAFF#<user id>), for the
    audit trail's "by Ana Ruiz"; nothing else about them, never a token."""

    class Meta(_Item.Meta):
        pass

    name = UnicodeAttribute()
    fetched_at = UTCDateTimeAttribute()
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


class PageLinkItem(_Item):
    """A customer's page link id (`PAGE#<link id>`, META) -> its shop and case, written once;
    whether it still opens the page is the case's `PAGE` item's to say. No personal data."""

    class Meta(_Item.Meta):
        pass

    shop = UnicodeAttribute()
    case_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class CasePageItem(_Item):
    """The case's current page link (sk `PAGE`, in the case's partition): its id, until when
    it opens the page, and when it was revoked. No personal data."""

    class Meta(_Item.Meta):
        pass

    link_id = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    link_expires_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)


class PageRateItem(_Item):
    """Requests to a case's page in one UTC hour (`RATE#<kind>#<hour>`, in the case's
    partition): a counter raised conditionally before the request is served (TTL)."""

    class Meta(_Item.Meta):
        pass

    requests = NumberAttribute()
    expires_at = TTLAttribute()


class DueIndex(GlobalSecondaryIndex["CaseItem"]):  # type: ignore[no-untyped-call]
    """Sparse: only cases with a reminder due are in it."""

    class Meta:
        index_name = "due"
        projection = IncludeProjection(["next_step"])

    due_pk = UnicodeAttribute(hash_key=True)
    due_sk = UnicodeAttribute(range_key=True)


class ShopIndex(GlobalSecondaryIndex["CaseItem"]):  # type: ignore[no-untyped-call]
    """Every case, cross reference and velocity bucket of a shop, by keys only."""

    class Meta:
        index_name = "shop"
        projection = KeysOnlyProjection()

    shop_part = UnicodeAttribute(hash_key=True)
    shop_sort = UnicodeAttribute(range_key=True)


def _rollup_version() -> int:
    """The current rollup version, for a new case item (imported when one is made)."""
    from recoup.domain.rollup import VERSION

    return VERSION


class CaseItem(_Item):
    class Meta(_Item.Meta):
        pass

    due_index = DueIndex()
    shop_index = ShopIndex()
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)
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
    # The sort keys of the case's listing items (store.case_listing) as written with this
    # version, so that the next write changes only what changed; absent on a case stored
    # before them (its next write writes them all).
    listed = JSONAttribute(null=True)
    # The rollup version (domain.rollup.VERSION) the case's figures are counted under: each
    # write counts the case under the current one (store.cases), so a new item carries it;
    # an item without it is counted under none yet (store.rollup_upgrade).
    rollup_version = NumberAttribute(null=True, default_for_new=_rollup_version)


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
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class ListingItem(_Item):
    """One key the admin's list finds a tracked case by (store.case_listing), in the case's
    partition (`LIST#<keyed hash of its sort>`) and the case's shard of the shop index: the
    case opened at, owed in a currency, or a search term (an email as a keyed hash). A key
    that no longer holds keeps only its table keys (out of the index)."""

    class Meta(_Item.Meta):
        pass

    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class ExperimentCaseItem(_Item):
    """One case of an experiment, in the case's partition (`EXP#<experiment>`): its arm and
    outcome are in its shop index sort key (store.experiment_outcomes), so an experiment's
    figures are keys-only Queries."""

    class Meta(_Item.Meta):
        pass

    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class ExperimentCountItem(_Item):
    """An experiment arm's complaints and unsubscribes (rare: counters, not keys)."""

    class Meta(_Item.Meta):
        pass

    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)
    complaints = NumberAttribute(default=0)
    unsubscribes = NumberAttribute(default=0)


class CustomerLinkItem(_Item):
    """A case named by one identity of its customer (store.customer_links): no personal
    data, a keyed hash and a case id."""

    class Meta(_Item.Meta):
        pass

    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class RollupItem(_Item):
    """Counters of a shop's figures for one day, currency and shard (store.rollups); its
    counter attributes are named by the figures, so they are read with the plain client."""

    class Meta(_Item.Meta):
        pass

    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class WaitingItem(_Item):
    """A case waiting for the merchant (sk `WAIT`, in the case's partition) or a referral
    made (sk `REFERRED#<referral id>`, TTL), for the merchant's notices
    (store.waiting): in the shop index (`N#...`) only while it counts; no personal data."""

    class Meta(_Item.Meta):
        pass

    case_id = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)  # recoup.domain.notices.WaitReason, or "referred"
    since = UTCDateTimeAttribute(null=True)
    notified_at = UTCDateTimeAttribute(null=True)  # the immediate notice claimed it
    expires_at = TTLAttribute(null=True)
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class NoticeShopItem(_Item):
    """A shop with merchant notices to consider (`NOTIFY#<shard>`, sk the shop): what the
    scheduler reads to queue digests and immediate notices (store.waiting)."""

    class Meta(_Item.Meta):
        pass

    pending_at = UTCDateTimeAttribute(null=True)  # an immediate notice may be due
    registered_at = UTCDateTimeAttribute(null=True)
    shop_part = UnicodeAttribute(null=True)
    shop_sort = UnicodeAttribute(null=True)


class DigestItem(_Item):
    """The shop's daily digest (`SHOP#<domain>`, `NOTIFY#DIGEST`): the local day claimed,
    before the send (at most once a day), and what became of it."""

    class Meta(_Item.Meta):
        pass

    day = UnicodeAttribute(null=True)
    previous_day = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute(null=True)


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
    RollupItem,
    CustomerLinkItem,
    ListingItem,
    ExperimentCaseItem,
    ExperimentCountItem,
    DueCursorItem,
    PolicyItem,
    ContactItem,
    MessageItem,
    MessageLogItem,
    VelocityItem,
    VelocityBucketItem,
    AddressBucketItem,
    DeliveryItem,
    ConnectStateItem,
    SampleSendItem,
    SampleSendCountItem,
    StaffNameItem,
    WaitingItem,
    NoticeShopItem,
    DigestItem,
    PageLinkItem,
    CasePageItem,
    PageRateItem,
)


def shop_pk(shop: str) -> str:
    return f"SHOP#{shop}"


# The shop index's partitions per shop: an order paid at checkout writes it twice (its case,
# an address bucket), an unpaid one about sixteen times (its case, customer links, the
# message log, new rollup items, the case list's keys, the merchant's waiting marker), so 16
# partitions take a shop to 1,000 orders a second at any mix; a listing reads all 16
# (docs/data-model.md). Entries written when there were 4 or 8 stay where they are until
# their item's next write moves them: a listing reads every partition.
SHOP_SHARDS = 16
TRACKED = "C#"  # shop_sort of a tracked case (opened, not merged)
UNTRACKED = "M#"  # of any other case: never owed, merged away
XREF = "X#"
VELOCITY = "V#"
ROLLUP = "R#"
CUSTOMER_LINK = "W#"
MESSAGE_LOG = "L#"
# The admin list's keys of a tracked case (store.case_listing): opened at, owed, search terms.
OPENED = "O#"
OWED = "A#"
FOUND = "F#"
PAGE_LINK = "P#"  # a customer's page link id (store.case_pages)
WAITING = "N#"  # a case waiting for the merchant, a referral made, a shop with notices
EXPERIMENT = "E#"  # an experiment's case with its outcome, an arm's counters


def shop_part(shop: str, key: str) -> str:
    """The shop index partition an item of the shop with this `key` (its case id, Stripe id
    or bucket) lands in: a stable hash, so its index entry stays in its shard."""
    return f"{shop}#{hashlib.sha256(key.encode()).digest()[0] % SHOP_SHARDS}"


def shop_parts(shop: str) -> list[str]:
    return [f"{shop}#{shard}" for shard in range(SHOP_SHARDS)]


def case_pk(shop: str, case_id: str) -> str:
    return f"CASE#{shop}#{case_id}"


CASE_SK = "CASE"
AUDIT_PREFIX = "AUDIT#"


def audit_sk(seq: int) -> str:
    return f"{AUDIT_PREFIX}{seq:08d}"


def xref_pk(shop: str, stripe_id: str) -> str:
    return f"XREF#{shop}#{stripe_id}"


XREF_SK = "META"
