"""The customer's own page for a case: its link, and what each request to it does.

**The link.** One per case, `/c/<token>`: 24 base64url characters, a random link id and a
truncated HMAC of it under the link secret (`links.sign_page`), checked in constant time
before any table read, so a forged token costs nothing and tells nothing. The token names
neither shop nor case: the table maps the link id to them (`store/case_pages.py`). It opens
the page for 180 days after it was last put in a message (`services/page_links.py`, which
the sender calls for every message), until it is revoked or replaced by a fresh one. An
expired, revoked or replaced link still names its case, so its page offers "email me a new
link", sent to the address on file (never to one the requester types) by the first channel
the customer can be reached on and allows (not opted out, STOP, suppressed, undeliverable or
turned off). What is sent is the case's current link, signed again, while it still opens the
page (an old link cannot close the one the customer now has); else a fresh one in place of
it. The send is said on the case's trail (`customer.new_link`, by channel, never the
address).

**The requests.** GET shows the page, and with `plan_interval`, `plan_count` (and
`plan_start`) in its query the exact schedule of that instalment plan (nothing changes; a
choice outside the shop's terms is shown at its field, 400); POST `promise`, `report` and
`preferences` call the customer's services (customer_requests, preferences) and answer 303
back to the page (post/redirect/get) or the page again with the field's error next to it;
POST `new-link` sends the case's link again (or a fresh one). POST `plan` (the schedule
shown, with `agree=yes`) records the plan and `plan-card` (a plan awaiting its card, or
with an instalment missed) and `settle` (the settlement offer open) answer 303 to Stripe
Checkout, which returns to the page (services.instalment_plans); a payment page Stripe
cannot open is a 503 page saying so (the plan stays recorded: the page offers to continue).
Every POST is refused (403) without a form token bound to the link id and under two hours
old, or when the browser says it comes from another site; at most POSTS_PER_HOUR per link
and FRESH_LINKS_PER_HOUR per case are served (429 beyond, saying when to try again). A
shop that uninstalled the app gets no request served: its page is closed and sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from recoup import aws, links
from recoup.domain import strategies
from recoup.domain.aggregate import StoredCase
from recoup.errors import Conflict, InvalidInput
from recoup.links import InvalidLink
from recoup.observability import logger, metrics
from recoup.services import customer_page, page_links
from recoup.settings import get_settings
from recoup.store import case_pages as store
from recoup.store import policies, shops

if TYPE_CHECKING:
    from recoup.domain.cadence import ReminderPolicy
    from recoup.domain.case import Case
    from recoup.domain.customer_requests import CustomerOptions, RequestMeta
    from recoup.domain.instalments import PlanChoices, Scheduled
    from recoup.domain.preferences import ContactPreferences
    from recoup.domain.settlement import Offer
    from recoup.store.contacts import Reachability
    from recoup.store.models import ShopItem

POSTS_PER_HOUR = 10
FRESH_LINKS_PER_HOUR = 1
USER_AGENT_MAX = 512
ACTIONS = ("promise", "report", "preferences", "new-link", "plan", "plan-card", "settle")
PAYMENTS = ("plan", "plan-card", "settle")  # the actions that answer with Stripe Checkout
# The instalment plan a GET asks to see: query parameter -> the plan form's field.
PLAN_QUERY = {"plan_interval": "interval", "plan_count": "count", "plan_start": "start"}
NEW_LINK = "customer.new_link"  # the trail's entry for a link sent on the customer's request


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    token: str
    action: str | None = None  # None: show the page; else one of ACTIONS (a POST)
    form: Mapping[str, Sequence[str]] = field(default_factory=dict)
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)  # a GET's (PLAN_QUERY)
    language: str | None = None  # ?lang= (or the form's lang)
    status: str | None = None  # ?done=: what the last POST did
    accept_language: str | None = None
    origin: str | None = None
    host: str | None = None  # the Host the request was sent to
    fetch_site: str | None = None
    ip: str | None = None  # requestContext.identity.sourceIp, never a header
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class PageAnswer:
    status: int
    html: str = ""
    nonce: str = ""
    location: str | None = None
    retry_after: int | None = None  # seconds, for a 429


@dataclass(frozen=True, slots=True)
class _Opened:
    """A token whose link id names a case: the case, its shop and whether it opens."""

    link_id: str
    stored: StoredCase
    current: store.CurrentLink | None
    usable: bool


def serve(request: PageRequest, *, now: datetime) -> PageAnswer:
    """Answer one request to a page link."""
    opened = _open(request.token, now)
    if opened is None:
        return _invalid(request)
    case = opened.stored.case
    shop_item = shops.get(case.shop)
    policy = policies.load(
        case.shop, shop_timezone=(shop_item.timezone if shop_item else None) or "UTC"
    )
    dunning = opened.stored.dunning
    if dunning is not None:  # the steps of the case's own strategy
        policy = strategies.cadence_for(policy, dunning.strategy, dunning.arm)
    from recoup.services import preferences

    prefs = preferences.for_case(case.shop, case)
    reach = _reachability(case)
    language = _language(request, prefs.language, case, shop_item)
    context = _Context(request, opened, shop_item, policy, prefs, reach, language, now)
    if request.action is None:
        return context.show() if opened.usable else context.expired()
    refused = context.refused()
    if refused is not None:
        return refused
    if request.action == "new-link":
        return context.new_link()
    if not opened.usable:
        return context.expired()
    return context.act()


def _reachability(case: Case) -> Reachability | None:
    """How the case's customer can be reached (one BatchGetItem); None without an address."""
    from recoup.services import preferences
    from recoup.store import contacts

    email, phone = preferences.addresses(case)
    if not email and not phone:
        return None
    return contacts.reachability(case.shop, email, phone)


def _open(token: str, now: datetime) -> _Opened | None:
    """The case a token opens; None for a forged token (no table read) or an unknown one."""
    try:
        link_id = links.verify_page(token, secrets=get_settings().link_secrets())
    except InvalidLink:
        return None
    target = store.target(link_id)
    if target is None:
        return None
    stored, current = store.case_and_link(target.shop, target.case_id)
    if stored is None or not stored.case.opened:
        return None
    usable = current is not None and current.opens(link_id, now)
    return _Opened(link_id, stored, current, usable)


def _invalid(request: PageRequest) -> PageAnswer:
    """The one answer to a token that opens nothing: no shop, no offer, nothing that says
    whether a case exists."""
    from recoup.channels import i18n

    language = i18n.language_for(request.language or "", *_accepted(request.accept_language))
    rendered = customer_page.render("invalid.html.j2", language)
    return PageAnswer(404, rendered.html, rendered.nonce)


def _language(
    request: PageRequest, preferred: str | None, case: Case, shop_item: ShopItem | None
) -> str:
    """?lang=, else the customer's preference, else the order's locale, else the shop's,
    else English."""
    from recoup.channels import i18n

    customer = case.snapshot.customer if case.snapshot else None
    tags = (
        request.language,
        preferred,
        customer.locale if customer else None,
        shop_item.locale if shop_item else None,
    )
    return i18n.language_for(*(tag for tag in tags if tag))


def _accepted(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def unsubscribe_language(query_language: str | None, accept_language: str | None) -> str:
    """The unsubscribe page's language, and an error page's: the link's ?lang=, else
    Accept-Language, else en."""
    from recoup.channels import i18n

    return i18n.language_for(
        *([query_language] if query_language else []), *_accepted(accept_language)
    )


def _locale(language: str, case: Case, shop_item: ShopItem | None) -> str:
    """The full tag money and dates are formatted in: the order's locale, else the shop's,
    when it is of the page's language ("de-CH" for a German page), else the language."""
    from recoup.channels import i18n

    customer = case.snapshot.customer if case.snapshot else None
    tags = (customer.locale if customer else None, shop_item.locale if shop_item else None)
    same = [t for t in tags if t and i18n.language_for(t) == language]
    return i18n.locale_for(*same) if same else language


@dataclass(frozen=True, slots=True)
class _Context:
    request: PageRequest
    opened: _Opened
    shop_item: ShopItem | None
    policy: ReminderPolicy
    prefs: ContactPreferences
    reach: Reachability | None
    language: str
    now: datetime

    @property
    def _case(self) -> Case:
        return self.opened.stored.case

    @property
    def _installed(self) -> bool:
        """The shop has the app (an uninstalled shop's page is closed)."""
        return self.shop_item is not None and bool(self.shop_item.active)

    def _channel(self) -> str | None:
        """How a fresh link may reach the customer now; None: no way (or a closed shop)."""
        if not self._installed:
            return None
        usable = customer_page.reachable_channels(self._case, self.reach, self.prefs)
        return usable[0] if usable else None

    def _form_token(self) -> str:
        return links.sign_form(
            self.opened.link_id, now=self.now, secret=get_settings().link_secrets()[0]
        )

    def _shop_name(self) -> str:
        return (self.shop_item.shop_name if self.shop_item else None) or self._case.shop

    def page(
        self,
        *,
        status_code: int = 200,
        errors: Mapping[str, str] | None = None,
        posted: tuple[str, Mapping[str, Sequence[str]]] | None = None,
        status: str | None = None,
        preview: tuple[Scheduled, ...] | None = None,
    ) -> PageAnswer:
        choices, offer = self._payment_choices()
        rendered = customer_page.render_page(
            customer_page.PageInput(
                stored=self.opened.stored,
                shop_item=self.shop_item,
                policy=self.policy,
                options=self._options(),
                prefs=self.prefs,
                language=self.language,
                token=self.request.token,
                form_token=self._form_token(),
                pay_url=self._pay_url(),
                now=self.now,
                reach=self.reach,
                installed=self._installed,
                locale=_locale(self.language, self._case, self.shop_item),
                status=status or _known_status(self.request.status),
                errors=errors or {},
                posted=posted,
                plan_choices=choices,
                plan_preview=preview,
                offer=offer,
            )
        )
        return PageAnswer(status_code, rendered.html, rendered.nonce)

    def show(self) -> PageAnswer:
        """GET: the page, and the schedule of the instalment plan its query asks for (a
        choice outside the shop's terms: 400, the error at its field)."""
        asked = _plan_asked(self.request.query)
        if asked is None:
            return self.page()
        try:
            schedule = self._preview(asked)
        except InvalidInput as problem:
            errors = self._plan_errors(problem, asked)
            return self.page(status_code=400, errors=errors, posted=("plan", asked))
        except Conflict:
            return self.page()  # no plan offered (any more): the page as it stands
        return self.page(posted=("plan", asked), preview=schedule)

    def _payment_choices(self) -> tuple[PlanChoices | None, Offer | None]:
        """The instalment plan's choices and the settlement offer open now (None: none)."""
        if not self._installed:
            return None, None
        from recoup.services import instalment_plans

        stored = self.opened.stored
        choices = instalment_plans.plan_choices(
            stored, self.policy, self._plans_connected(), now=self.now
        )
        return choices, instalment_plans.open_offer(stored, self.policy, now=self.now)

    def _plans_connected(self) -> bool:
        """Whether the shop can take a plan's payments: plans enabled, its Stripe account
        connected and the platform's key set."""
        from recoup.services import instalment_plans

        if not self.policy.instalments.enabled:
            return False
        try:
            return instalment_plans.connected_item(self.shop_item)
        except Exception as error:  # noqa: BLE001 (the page shows, without a plan)
            logger.warning(
                "Stripe key not read; no instalment plan offered",
                extra={"case_id": self._case.case_id, "error_type": type(error).__name__},
            )
            return False

    def _preview(self, asked: Mapping[str, Sequence[str]]) -> tuple[Scheduled, ...]:
        """The schedule of the plan asked for: InvalidInput at its field, RequestRefused
        when no plan is offered."""
        from recoup.services import instalment_plans

        count, interval, start = _plan_choice(asked)
        return instalment_plans.preview(
            self.opened.stored,
            self.policy,
            self._plans_connected(),
            count=count,
            interval=interval,
            start=start,
            now=self.now,
        )

    def _plan_errors(
        self, problem: InvalidInput, asked: Mapping[str, Sequence[str]]
    ) -> dict[str, str]:
        """The plan form's error: the field, and for the count which limit it is past."""
        name = problem.field or "form"
        if name != "count":
            return {name: _error_kind(problem)}
        return {"count": self._count_problem(asked)}

    def _count_problem(self, asked: Mapping[str, Sequence[str]]) -> str:
        """Which limit a count the shop's terms refuse is past, checked in the order
        domain.instalments checks them: the count's range, the plan's length, else the
        smallest instalment."""
        from recoup.domain import instalments

        terms = self.policy.instalments
        raw = _one(asked, "count")
        count = int(raw) if raw.isdigit() and len(raw) <= 3 else 0
        if not instalments.MIN_COUNT <= count <= terms.max_count:
            return "count_range"
        try:
            _, interval, start = _plan_choice(asked)
            chosen = instalments.Interval(interval)
        except (InvalidInput, ValueError):
            return "count_range"
        zone = customer_page.customer_zone_of(self._case, self.policy)
        today = self.now.astimezone(zone).date()
        first = today if terms.first_due_now or start is None else start
        dates = instalments.instalment_dates(first, chosen, count)
        return "count_days" if (dates[-1] - dates[0]).days > terms.max_days else "count_min"

    def _options(self) -> CustomerOptions:
        from recoup.services import customer_requests

        return customer_requests.options(self.opened.stored, self.policy, now=self.now)

    def _pay_url(self) -> str:
        settings = get_settings()
        token = links.sign_pay(
            self._case.shop, self._case.case_id, now=self.now, secret=settings.link_secrets()[0]
        )
        return links.pay_url(settings.public_base_url(), token)

    def expired(
        self, *, status: str | None = None, status_code: int = 410, again: str | None = None
    ) -> PageAnswer:
        rendered = customer_page.render(
            "expired.html.j2",
            self.language,
            token=self.request.token,
            form_token=self._form_token(),
            shop_name=self._shop_name(),
            menu_base=f"/c/{self.request.token}",
            channel=self._channel(),
            status=status or _known_status(self.request.status),
            again=again,
        )
        return PageAnswer(status_code, rendered.html, rendered.nonce)

    def refused(self) -> PageAnswer | None:
        """403 for a cross-site or tokenless POST, 429 past the link's hourly limit."""
        if not self._same_site() or not self._form_token_valid():
            rendered = customer_page.render(
                "refused.html.j2", self.language, token=self.request.token
            )
            return PageAnswer(403, rendered.html, rendered.nonce)
        case = self._case
        counted = store.count_request(
            case.shop,
            case.case_id,
            f"P{self.opened.link_id}",
            limit=POSTS_PER_HOUR,
            now=self.now,
        )
        return None if counted else self._too_many()

    def _same_site(self) -> bool:
        if (self.request.fetch_site or "").lower() == "cross-site":
            return False
        origin = self.request.origin
        # The page sends no Referer, so browsers send `Origin: null` on its forms: then
        # Sec-Fetch-Site (checked above) and the form token decide.
        if origin is None or origin == "null":
            return True
        # The page's own origin: the host the request was sent to (a cross-site form cannot
        # set it), or the public base URL the links are made with.
        sent = urlsplit(origin).netloc.lower()
        own = {urlsplit(get_settings().public_base_url()).netloc.lower()}
        if self.request.host:
            own.add(self.request.host.lower())
        return bool(sent) and sent in own

    def _form_token_valid(self) -> bool:
        sent = (self.request.form.get("csrf") or [""])[0]
        return links.verify_form(
            sent, self.opened.link_id, now=self.now, secrets=get_settings().link_secrets()
        )

    def _next_hour(self) -> str:
        """When the hour's counters start again, as the customer reads a time."""
        again = customer_page.rounded_up_hour(self.now)
        zone = customer_page.customer_zone_of(self._case, self.policy)
        return customer_page.retry_time(again, zone, self.language)

    def _too_many(self) -> PageAnswer:
        again = customer_page.rounded_up_hour(self.now)
        rendered = customer_page.render(
            "too_many.html.j2", self.language, token=self.request.token, again=self._next_hour()
        )
        seconds = max(1, int((again - self.now).total_seconds()))
        return PageAnswer(429, rendered.html, rendered.nonce, retry_after=seconds)

    def _back(self, done: str) -> PageAnswer:
        query = urlencode({"lang": self.language, "done": done})
        return PageAnswer(303, location=f"/c/{self.request.token}?{query}")

    def act(self) -> PageAnswer:
        action = self.request.action
        form = self.request.form
        # A closed shop takes nothing; a case under review takes no promise and no payment
        # (the page offers none: the shop is looking into it).
        review = action in ("promise", *PAYMENTS) and customer_page.under_review(self.opened.stored)
        if not self._installed or review:
            return self.page(status_code=409, status="refused")
        if action in PAYMENTS:
            return self._payment(str(action), form)
        try:
            if action == "promise":
                self._promise(form)
            elif action == "report":
                self._report(form)
            else:
                return self._preferences(form)
        except InvalidInput as problem:
            errors = {problem.field or "form": _error_kind(problem)}
            return self.page(status_code=400, errors=errors, posted=(str(action), form))
        except Conflict:
            return self.page(status_code=409, status="refused", posted=(str(action), form))
        return self._back(str(action))

    def _payment(self, action: str, form: Mapping[str, Sequence[str]]) -> PageAnswer:
        """POST plan, plan-card or settle: 303 to Stripe Checkout, which returns to the
        page; 409 when the case no longer takes it, 503 when Checkout cannot be opened."""
        from recoup.services import instalment_plans

        try:
            if action == "plan":
                return self._plan(form)
            stored = self.opened.stored
            if action == "plan-card":
                url = instalment_plans.card_checkout(stored, return_url=self._return_url("plan"))
            else:
                url = instalment_plans.settle_checkout(
                    stored, self.policy, return_url=self._return_url("settle"), now=self.now
                )
        except InvalidInput as problem:
            errors = self._plan_errors(problem, form)
            return self.page(status_code=400, errors=errors, posted=(action, form))
        except instalment_plans.PaymentsUnavailable:
            return self.page(status_code=503, status="payments_unavailable")
        except Conflict:
            return self.page(status_code=409, status="refused")
        return PageAnswer(303, location=url)

    def _plan(self, form: Mapping[str, Sequence[str]]) -> PageAnswer:
        """The customer agrees to the schedule shown: the plan is recorded (the terms'
        digest on the trail), then Checkout saves their card. The schedule is shown again
        without the box ticked, or when it changed since it was shown (a new day, a part
        payment); a click repeated on a plan already agreed goes on to its Checkout."""
        from recoup.services import instalment_plans

        agreed = self._agreed_already(form)
        if agreed is not None:
            return agreed
        schedule = self._preview(form)
        if _one(form, "agree") != "yes":
            errors = {"agree": "required"}
            return self.page(
                status_code=400, errors=errors, posted=("plan", form), preview=schedule
            )
        shown = _one(form, "shown")
        if shown and shown != customer_page.schedule_shown(schedule):
            return self.page(
                status_code=409, status="plan_changed", posted=("plan", form), preview=schedule
            )
        count, interval, start = _plan_choice(form)
        stored = instalment_plans.agree(
            self._case.shop,
            self._case.case_id,
            count=count,
            interval=interval,
            start=start,
            locale=_locale(self.language, self._case, self.shop_item),
            meta=self._meta(),
            now=self.now,
        )
        return self._with(stored)._card("plan_card")

    def _agreed_already(self, form: Mapping[str, Sequence[str]]) -> PageAnswer | None:
        """The same plan posted again (a double click, the browser's back button): its
        Checkout, as "plan-card" would; None for any other."""
        from recoup.domain.instalments import PlanStatus

        dunning = self.opened.stored.dunning
        plan = dunning.plan_in_force if dunning else None
        if plan is None or plan.status is not PlanStatus.AWAITING_CARD:
            return None
        try:
            count, interval, start = _plan_choice(form)
        except InvalidInput:
            return None
        same = (
            count == len(plan.instalments)
            and interval == str(plan.interval)
            and (start is None or start == plan.instalments[0].due_on)
        )
        return self._card("payments_unavailable") if same else None

    def _card(self, unavailable: str) -> PageAnswer:
        """Checkout for the plan's card (or a missed instalment): 303; the page with
        `unavailable` as its status (503) when it cannot be opened."""
        from recoup.services import instalment_plans

        try:
            url = instalment_plans.card_checkout(
                self.opened.stored, return_url=self._return_url("plan")
            )
        except instalment_plans.PaymentsUnavailable:
            return self.page(status_code=503, status=unavailable)
        except Conflict:
            return self.page(status_code=409, status="refused")
        return PageAnswer(303, location=url)

    def _with(self, stored: StoredCase) -> _Context:
        """This request's context after a change of the case (the page shows it as now)."""
        return replace(self, opened=replace(self.opened, stored=stored))

    def _return_url(self, done: str) -> str:
        """Where Stripe Checkout sends the customer back: this page, saying what they did."""
        query = urlencode({"lang": self.language, "done": done})
        return f"{get_settings().public_base_url()}/c/{self.request.token}?{query}"

    def _meta(self) -> RequestMeta:
        from recoup.domain.customer_requests import RequestMeta

        agent = (self.request.user_agent or "")[:USER_AGENT_MAX] or None
        return RequestMeta(ip=self.request.ip, user_agent=agent)

    def _promise(self, form: Mapping[str, Sequence[str]]) -> None:
        from recoup.services import customer_requests

        customer_requests.promise(
            self._case.shop,
            self._case.case_id,
            pay_by=_date_field(form),
            note=_note(form),
            meta=self._meta(),
            now=self.now,
        )

    def _report(self, form: Mapping[str, Sequence[str]]) -> None:
        from recoup.services import customer_requests

        kind = _one(form, "kind")
        if not kind:
            raise InvalidInput("choose what you want to tell the shop", field="kind")
        customer_requests.report(
            self._case.shop,
            self._case.case_id,
            kind,
            note=_note(form),
            meta=self._meta(),
            now=self.now,
        )

    def _preferences(self, form: Mapping[str, Sequence[str]]) -> PageAnswer:
        from recoup.domain.preferences import parse_form
        from recoup.services import preferences

        try:
            chosen = parse_form(form)
            preferences.save(
                self._case.shop,
                self._case,
                chosen,
                meta=self._meta(),
                now=self.now,
            )
        except InvalidInput as problem:
            errors = {problem.field or "form": _error_kind(problem)}
            return self.page(status_code=400, errors=errors, posted=("preferences", form))
        except Conflict:
            return self.page(status_code=409, status="refused", posted=("preferences", form))
        if chosen.language:
            return _Context(
                self.request,
                self.opened,
                self.shop_item,
                self.policy,
                chosen,
                self.reach,
                chosen.language,
                self.now,
            )._back("preferences")
        return self._back("preferences")

    def new_link(self) -> PageAnswer:
        """Send the case's link to the address on file, once (the hourly count is raised
        before the send): the current one while it opens the page, else a fresh one. Nothing
        is sent, and the page says so, when no channel may reach the customer."""
        if self.opened.usable:
            return self._back("")
        channel = self._channel()
        if channel is None:
            return self.expired(status="no_address", status_code=200)
        case = self._case
        if not store.count_request(
            case.shop, case.case_id, "N", limit=FRESH_LINKS_PER_HOUR, now=self.now
        ):
            return self._too_many()
        outcome = fresh_link(
            self.opened.stored,
            current=self.opened.current,
            channel=channel,
            shop_item=self.shop_item,
            language=self.language,
            now=self.now,
        )
        if outcome in ("sent", "unknown"):
            _on_trail(self.opened.stored, channel, outcome, now=self.now)
        if outcome == "sent":
            return self._back("new-link")
        if outcome == "unknown":
            return self.expired(status="unknown", status_code=200, again=self._next_hour())
        return self.expired(status=outcome, status_code=503 if outcome == "not_sent" else 200)


# ------------------------------------------------------------------------------ a fresh link


def fresh_link(
    stored: StoredCase,
    *,
    current: store.CurrentLink | None,
    channel: str,
    shop_item: ShopItem | None,
    language: str,
    now: datetime,
) -> str:
    """Send the case's link by `channel` ("email" or "sms", one the customer may be
    reached by) to the address on file, one attempt (at most once: a lost answer is not
    sent again). The link is `current` while it still opens the page (signed again and kept
    open page_links.LIFETIME from now), else a new one in place of it. "sent", "unknown"
    (the provider's answer was lost: it may be on its way), "not_sent" (the customer is told
    to try later) or "no_address"."""
    from recoup.services import preferences

    case = stored.case
    email, phone = preferences.addresses(case)
    address = email if channel == "email" else phone
    if not address:
        return "no_address"
    settings = get_settings()
    try:
        link_id = _link_to_send(case, current, now)
    except store.LinkChanged:
        return "not_sent"
    url = links.page_url(
        settings.public_base_url(), links.sign_page(link_id, secret=settings.link_secrets()[0])
    )
    name = (shop_item.shop_name if shop_item else None) or case.shop
    try:
        if channel == "email":
            _send_email(case.shop, address, url, name, shop_item, language, now)
        else:
            _send_sms(address, url, name, language)
    except Exception as error:  # noqa: BLE001 (one attempt: never sent twice)
        outcome = _send_outcome(error)
        logger.warning(
            "Fresh page link not sent",
            extra={
                "case_id": case.case_id,
                "channel": channel,
                "error_type": type(error).__name__,
                "outcome": outcome,
            },
        )
        metrics.add_metric(name="PageLinkNotSent", unit="Count", value=1)
        return "unknown" if outcome == "unknown" else "not_sent"
    metrics.add_metric(name="PageLinkSent", unit="Count", value=1)
    return "sent"


def _link_to_send(case: Case, current: store.CurrentLink | None, now: datetime) -> str:
    """The link id a requested link carries: the case's current one while it opens the
    page (a request from an older link must not close the one the customer has now), else
    a new one issued in place of it. Raises store.LinkChanged when another writer changed
    the case's link meanwhile."""
    return page_links.kept_or_issued(case, current, now, revive_expired=False)


def _on_trail(stored: StoredCase, channel: str, outcome: str, *, now: datetime) -> None:
    """Say on the case's trail that its link was sent on the customer's request (the
    channel, never the address). The send has happened: a failure here is logged, not
    answered."""
    from recoup.store import cases as case_store

    case = stored.case
    words = "email" if channel == "email" else "SMS"
    summary = (
        f"Customer asked for their page link; sent by {words}"
        if outcome == "sent"
        else f"Customer asked for their page link; the {words} provider's answer was lost"
    )

    def decide(prior: StoredCase | None) -> case_store.Change[None] | None:
        if prior is None:
            return None
        entry = case_store.recoup_entry(
            prior,
            source="customer",
            kind=NEW_LINK,
            event_id=f"customer:new_link:{case.case_id}:{now.isoformat()}",
            summary=summary,
            effect="",
            now=now,
        )
        return case_store.Change(prior.case, entry, None)

    try:
        case_store.change(case.shop, case.case_id, decide, now=now)
    except Exception as error:  # noqa: BLE001 (the link is sent; the trail misses it)
        logger.warning(
            "Fresh page link not put on the trail",
            extra={"case_id": case.case_id, "error_type": type(error).__name__},
        )


def _send_outcome(error: Exception) -> str:
    if isinstance(error, aws.OutcomeUnknown):
        return "unknown"
    if isinstance(error, aws.Rejected):
        return "rejected"
    return "not_sent"


def _send_email(
    shop: str,
    email: str,
    url: str,
    name: str,
    shop_item: ShopItem | None,
    language: str,
    now: datetime,
) -> None:
    from recoup.channels import mime
    from recoup.channels.render import RenderedEmail
    from recoup.integrations import ses
    from recoup.store import contacts

    settings = get_settings()
    unsubscribe = links.unsubscribe_url(
        settings.public_base_url(),
        links.sign_unsubscribe(
            shop, contacts.contact_hash(email), now=now, secret=settings.link_secrets()[0]
        ),
    )
    context = {"shop_name": name, "page_url": url, "unsubscribe_url": unsubscribe}
    rendered = RenderedEmail(
        subject=customer_page.render_text("new_link.subject.txt.j2", language, **context).strip(),
        html=customer_page.render_text("new_link.html.j2", language, **context),
        text=customer_page.render_text("new_link.txt.j2", language, **context),
        template="customer/new_link",
    )
    sender = settings.require("sender_address")
    raw = mime.build_email(
        rendered,
        from_address=sender,
        from_name=name,
        to_address=email,
        reply_to=shops.reply_address(shop_item),
        list_unsubscribe_url=unsubscribe,
        list_unsubscribe_mailto=None,
        message_id_domain=sender.rsplit("@", 1)[1],
    )
    # Tagged as every sender tags: feedback finds the shop of a bounce or complaint by it.
    tags = {"shop": shop.replace(".", "_"), "kind": "page_link"}
    ses.send_raw(raw, from_address=sender, to_address=email, tags=tags)


def _send_sms(phone: str, url: str, name: str, language: str) -> None:
    from recoup.integrations import sns

    body = customer_page.render_text("new_link.sms.txt.j2", language, shop_name=name, page_url=url)
    sns.send_sms(phone, " ".join(body.split()))


# ------------------------------------------------------------------------------ form values


_STATUSES = frozenset({"promise", "report", "preferences", "new-link", "plan", "settle"})


def _known_status(value: str | None) -> str | None:
    """?done= as the page knows it; anything else shows nothing."""
    return value if value in _STATUSES else None


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or [""]
    return str(values[0]).strip()


def _plan_asked(query: Mapping[str, Sequence[str]]) -> dict[str, list[str]] | None:
    """The plan a GET's query asks to see, as the plan form's fields; None: none."""
    if not any(_one(query, name) for name in PLAN_QUERY):
        return None
    return {plain: [_one(query, name)] for name, plain in PLAN_QUERY.items()}


def _plan_choice(form: Mapping[str, Sequence[str]]) -> tuple[int, str, date | None]:
    """The plan form's count, interval and first date (None: none given, as when the first
    instalment is due today); InvalidInput at the field that is not one."""
    raw = _one(form, "count")
    if not raw.isdigit() or len(raw) > 3:
        raise InvalidInput("choose the number of instalments", field="count")
    interval = _one(form, "interval")
    if not interval:
        raise InvalidInput("choose how often to pay", field="interval")
    start = _one(form, "start")
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        raise InvalidInput("choose a date", field="start") from None
    return int(raw), interval, first


def _date_field(form: Mapping[str, Sequence[str]]) -> date:
    raw = _one(form, "pay_by")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("choose a date", field="pay_by") from None


NOTE_TOO_LONG = "note_too_long"
NOTE_CONTROL = "note_control"


class NoteRefused(InvalidInput):
    """A note the page refuses; `reason` (NOTE_TOO_LONG, NOTE_CONTROL) picks the words the
    page shows next to it. Answered only as the page, never as an API error code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, field="note")
        self.reason = reason


def _error_kind(problem: InvalidInput) -> str:
    """What the page's error text is chosen by: a note's reason, else the problem's code."""
    return problem.reason if isinstance(problem, NoteRefused) else problem.code


def _note(form: Mapping[str, Sequence[str]]) -> str:
    """The note with its line breaks as "\\n" (a browser sends "\\r\\n", which must not
    count twice), at most NOTE_MAX characters and free of control characters, each refused
    with its own code (the page words them apart)."""
    from recoup.domain.customer_requests import clean_note

    raw = str((form.get("note") or [""])[0])
    note = raw.replace("\r\n", "\n").replace("\r", "\n")
    if len(note) > customer_page.NOTE_MAX:
        raise NoteRefused(
            f"a note may be at most {customer_page.NOTE_MAX} characters", NOTE_TOO_LONG
        )
    try:
        return clean_note(note)
    except InvalidInput:
        raise NoteRefused("a note may not hold control characters", NOTE_CONTROL) from None


__all__ = [
    "ACTIONS",
    "PageAnswer",
    "PageRequest",
    "fresh_link",
    "serve",
    "unsubscribe_language",
]
