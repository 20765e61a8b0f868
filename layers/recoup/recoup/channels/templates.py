"""Where the shipped templates are, for the reminder channels and the case files alike, and
what each variable a reminder template sees holds (`render.template_variables` builds them;
kept here, without Jinja2, for the settings page's list)."""

from __future__ import annotations

from pathlib import Path

import recoup


def templates_dir() -> Path:
    """`<repo>/templates` (through layers/recoup/templates) or `/opt/python/templates`."""
    return Path(recoup.__file__).parent.parent / "templates"


# One line each, for the template editor; the keys are exactly sandbox.TEMPLATE_VARIABLES.
VARIABLE_DESCRIPTIONS: dict[str, str] = {
    "shop_name": "The shop's name, as Shopify has it",
    "shop_email": "Where the customer's replies go (may be empty)",
    "shop_url": "The shop's address, https://<shop> (may be empty)",
    "brand_color": "The shop's brand colour, #RRGGBB",
    "brand_text_color": "White or near-black, whichever reads better on the brand colour",
    "logo_url": "The shop's logo, an https address (may be empty)",
    "customer_first_name": "The customer's first name (may be empty)",
    "customer_last_name": "The customer's family name (may be empty)",
    "locale": "The customer's language as a tag, such as en-US or de-DE",
    "order_name": "The order's name, such as #1042",
    "items": "The order's lines; each has title, quantity, unit_price and line_total",
    "amount_owed": "What is owed, formatted for the customer: $1,899.00",
    "amount_owed_plain": "What is owed with the currency code, for SMS: 1,899.00 USD",
    "order_total": "The order's total, formatted like amount_owed (may be empty)",
    "pay_url": (
        "The link to pay, when the step carries one (may be empty; always empty in the notice "
        "of the order's cancellation)"
    ),
    "unsubscribe_url": "The link to stop reminders (emails must include it)",
    "help_url": "Where to get help (may be empty)",
    "step_number": "Which reminder this is, from 1",
    "tone": "The step's tone: friendly, firm or final_notice",
    "referral_date": "A final notice's date for referral, formatted for the customer",
    "referral_to": "What a final notice announces: agency, legal, or empty",
    "language": "The language the shipped text speaks to the customer: en, de, fr, es or ja",
    "referral_date_short": "The referral date in the customer's short form, for SMS: Dec 14, 2026",
    "situation": (
        "Why the money has not arrived: card_declined, card_not_usable, insufficient_funds, "
        "expired_card, incorrect_card, authentication_required, manual_payment_pending (a "
        "bank transfer), awaiting_payment, partially_paid, instalment_missed (the notice of a "
        "missed instalment), plan_broken (the plan ended: the balance is due), "
        "promise_broken, promise_due, payment_due_soon (a courtesy reminder before the payment "
        "terms' due date), terms_overdue (the payment terms' due date has passed), "
        "order_cancelled (the last message before an unpaid order is cancelled and its items "
        "restocked: nothing to pay) or payment_failed"
    ),
    "page_url": "The customer's page for the order: see, pay, or choose another way (may be empty)",
    "subtotal": "The order's lines before discounts, formatted (empty when unknown)",
    "discounts": "The order's discounts as a negative amount: -$10.00 (empty when none)",
    "shipping": "The order's shipping, formatted (empty when unknown)",
    "taxes": "Taxes added to the prices, formatted (empty when unknown or included)",
    "included_taxes": "Taxes the prices already include, formatted (empty otherwise)",
    "other_charges": "What the order total holds beyond the known parts (empty when nothing)",
    "other_credits": "What the known parts exceed the total by, negative (empty when nothing)",
    "amount_paid": "What the customer has paid so far, formatted (empty when nothing)",
    "plan": (
        "The missed instalment, in its notice only (else empty): plan.number of plan.count, "
        "plan.amount ($633.00; plan.amount_plain for SMS), plan.due_on (its date), plan.pay_by "
        "and plan.pay_by_time (the day and time to pay it by to keep the plan; "
        "plan.pay_by_short, Dec 8, for SMS), plan.remaining (what is owed once it is paid)"
    ),
    "payment_terms": "The order's payment terms, such as Net 30 (empty when it has none)",
    "due_date": "When the payment terms are due, formatted for the customer (may be empty)",
    "due_date_short": "The terms' due date in the customer's short form, for SMS: Dec 14, 2026",
}


__all__ = ["VARIABLE_DESCRIPTIONS", "templates_dir"]
