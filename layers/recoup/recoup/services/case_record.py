"""Gather, sign and write one referral's case file set.

The record (`casefile.record`) is built from the case, its trail, the shop and the customer's
contact records; the words of each message are re-rendered (`casefile.messages`); the whole
record and the chain head are signed with the stack's asymmetric KMS key
(`casefile.signing`). Then every file is put SSE-KMS encrypted into the case-files bucket,
whose Object Lock keeps every version (a rewrite by a redelivered job adds a version, it never
replaces one unseen):

    record.json     the signed record
    record.signed   the statement that was signed (bytes, for openssl)
    record.sig      the DER signature (for openssl)
    casefile.html, casefile.pdf, and for legal demand_letter.html and .txt
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recoup.domain import strategies
from recoup.domain.aggregate import StoredCase
from recoup.domain.referral import Referral, ReferralPolicy
from recoup.integrations import case_files, casefile_key
from recoup.store import cases as store
from recoup.store import contacts, policies, shops

SIGNED_SUFFIX = "record.signed"
SIGNATURE_SUFFIX = "record.sig"


def signed_record(
    stored: StoredCase, referral: Referral, referral_policy: ReferralPolicy, now: datetime
) -> dict[str, Any]:
    """The case file's record, signed."""
    # The case file's machinery (the record, the messages' words rendered again with Jinja2
    # and babel, the signature) loads where a file is made: the functions that import this
    # module through the referral service only to read or move referrals (hand-over,
    # report-backs, the admin's case pages) never make one.
    from recoup.casefile.messages import Branding, texts
    from recoup.casefile.record import CaseFileInputs, ContactState, ShopInfo, build_record
    from recoup.casefile.signing import sign_record

    case = stored.case
    shop_item = shops.get(case.shop)
    customer = case.snapshot.customer if case.snapshot else None
    reach = contacts.reachability(
        case.shop, customer.email if customer else None, customer.phone if customer else None
    )
    shop_name = (shop_item.shop_name if shop_item else None) or case.shop
    branding = Branding(
        shop_domain=case.shop,
        shop_name=shop_name,
        contact_email=shop_item.contact_email if shop_item else None,
        brand_color=shop_item.brand_color if shop_item else None,
        logo_url=shop_item.logo_url if shop_item else None,
        locale=shop_item.locale if shop_item else None,
        templates=(shop_item.templates if shop_item else None) or None,
    )
    reminder_policy = policies.load(
        case.shop, shop_timezone=(shop_item.timezone if shop_item else None) or "UTC"
    )
    if stored.dunning is not None:  # the steps of the case's own strategy
        reminder_policy = strategies.cadence_for(
            reminder_policy, stored.dunning.strategy, stored.dunning.arm
        )
    sent = stored.dunning.sent if stored.dunning else ()
    record = build_record(
        CaseFileInputs(
            shop=ShopInfo(
                domain=case.shop,
                name=shop_name,
                contact_email=shop_item.contact_email if shop_item else None,
            ),
            case=case,
            dunning=stored.dunning,
            screening=stored.screening.to_dict() if stored.screening else None,
            audit=store.audit_trail(case.shop, case.case_id),
            audit_head=stored.audit_head,
            contact=ContactState(
                email_opted_out=reach.email_opted_out,
                sms_opted_out=reach.sms_opted_out,
                email_suppressed=reach.email_suppressed,
            ),
            message_texts=texts(case, sent, reminder_policy, referral_policy, branding, now),
            referral=referral,
            generated_at=now,
        )
    )
    return sign_record(record, casefile_key.key_id(), casefile_key.sign)


def write(
    stored: StoredCase, referral: Referral, referral_policy: ReferralPolicy, now: datetime
) -> None:
    """Write the referral's file set (keys from `referral.files`)."""
    from recoup.casefile.record import record_json
    from recoup.casefile.render import render_html, render_pdf
    from recoup.casefile.signing import signature_files

    keys = referral.files
    assert keys is not None  # a prepared referral always names its files
    record = signed_record(stored, referral, referral_policy, now)
    folder = keys.json.rsplit("/", 1)[0]
    signed, signature = signature_files(record)
    case_files.put_bytes(keys.json, record_json(record), "application/json; charset=utf-8")
    case_files.put_bytes(f"{folder}/{SIGNED_SUFFIX}", signed, "text/plain; charset=utf-8")
    case_files.put_bytes(f"{folder}/{SIGNATURE_SUFFIX}", signature, "application/octet-stream")
    case_files.put_bytes(keys.html, render_html(record).encode(), "text/html; charset=utf-8")
    case_files.put_bytes(keys.pdf, render_pdf(record), "application/pdf")
    if keys.letter is not None:  # legal referrals only
        from recoup.casefile.letters import render_demand_letter

        letter = render_demand_letter(record, issued_on=now.date())
        case_files.put_bytes(keys.letter, letter.html.encode(), "text/html; charset=utf-8")
        text_key = keys.letter.removesuffix(".html") + ".txt"
        case_files.put_bytes(text_key, letter.text.encode(), "text/plain; charset=utf-8")


__all__ = ["SIGNATURE_SUFFIX", "SIGNED_SUFFIX", "signed_record", "write"]
