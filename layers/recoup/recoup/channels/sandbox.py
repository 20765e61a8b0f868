"""Merchant template overrides: untrusted Jinja2 source, checked and rendered in a sandbox.

A shop may replace the subject, HTML, plain text or SMS template of its reminders. That source
is untrusted: it must not reach Python internals, read anything but the fixed message
variables, or run for long. Three layers make sure of it:

1. **Size.** The source is at most `MAX_SOURCE_BYTES`; the output is streamed and cut off at
   `MAX_OUTPUT_CHARS` (all parts of one message together).
2. **A static check of the parsed template** (`check_source`). Only a small language is
   allowed: output, `if`, and `for` over `items` (not recursive, nested at most
   `MAX_LOOP_DEPTH` deep); the fixed variables, loop targets and `loop`; the attributes of an
   item, of `plan` and of `loop`; a list of filters whose output is at most a small multiple
   of their input; comparisons, `and`/`or`/`not`, `~`, `+`, `-`, `/`, `//`. Refused: every
   global (`range`, `lipsum`, `cycler`, `joiner`, `namespace`, `dict`), calls, macros, call
   and filter blocks, `include`/`extends`/`import`, `set`/`with`/`block`/`autoescape`, and
   the `*`, `**` and `%` operators (string repetition, huge powers, printf padding).
3. **A restricted sandbox at run time** (`ImmutableSandboxedEnvironment` with no globals, only
   the allowed filters, attributes allowed by type, no callables, `str.format` not wrapped)
   and one `RenderBudget` per message: `MAX_ITEM_ITERATIONS` item iterations,
   `MAX_RENDER_MS` of wall-clock time and `MAX_OUTPUT_CHARS` of output, checked as they are
   spent (at every item iteration and every chunk of output), so a render stops early.

Why rendering is bounded: without globals, calls, macros, recursion, assignment or includes,
the only repetition is a `for` over `items` (or a slice of it). Every loop, every evaluation
of an iterable and every filter that walks `items` draws on one budget per render, so the
number of loop bodies executed is at most the budget; each body is a fixed piece of the
source (at most `MAX_SOURCE_BYTES`) whose expressions grow strings by at most a constant
factor of the inputs, and the output is cut off at `MAX_OUTPUT_CHARS`. That bounds the work,
not the time: 50,000 bodies of string filters over long titles took close to a minute, hence
the clock, read at the same points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal, NoReturn, overload

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from recoup.errors import RecoupError

OverrideKind = Literal["subject", "html", "text", "sms"]
OVERRIDE_KINDS: tuple[OverrideKind, ...] = ("subject", "html", "text", "sms")

MAX_SOURCE_BYTES = 20 * 1024
MAX_OUTPUT_CHARS = 100 * 1024
MAX_LOOP_DEPTH = 2
MAX_ITEM_ITERATIONS = 50_000
MAX_RENDER_MS = 250  # wall-clock, per message: what a merchant's template may cost a send

# The variables a template sees (render.template_variables builds exactly these).
TEMPLATE_VARIABLES = frozenset(
    {
        "shop_name",
        "shop_email",
        "shop_url",
        "brand_color",
        "brand_text_color",
        "logo_url",
        "customer_first_name",
        "customer_last_name",
        "locale",
        "order_name",
        "items",
        "amount_owed",
        "amount_owed_plain",
        "order_total",
        "pay_url",
        "unsubscribe_url",
        "help_url",
        "step_number",
        "tone",
        "referral_date",
        "referral_to",
        "referral_date_short",
        "language",
        "situation",
        "page_url",
        "subtotal",
        "discounts",
        "shipping",
        "taxes",
        "included_taxes",
        "other_charges",
        "other_credits",
        "amount_paid",
        "plan",
        "payment_terms",
        "due_date",
        "due_date_short",
    }
)
ITEM_ATTRIBUTES = frozenset({"title", "quantity", "unit_price", "line_total"})
PLAN_ATTRIBUTES = frozenset(
    {
        "number",
        "count",
        "amount",
        "amount_plain",
        "due_on",
        "pay_by",
        "pay_by_time",
        "pay_by_short",
        "remaining",
    }
)
LOOP_ATTRIBUTES = frozenset(
    {
        "index",
        "index0",
        "revindex",
        "revindex0",
        "first",
        "last",
        "length",
        "depth",
        "depth0",
        "previtem",
        "nextitem",
    }
)
ALLOWED_ATTRIBUTES = ITEM_ATTRIBUTES | PLAN_ATTRIBUTES | LOOP_ATTRIBUTES
# Filters whose output is bounded by a small multiple of their input (no padding, repetition,
# replacement, joining or formatting) and that expose nothing of Python's objects.
ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "int",
        "last",
        "length",
        "lower",
        "round",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "wordcount",
    }
)
# Names Jinja (or its runtime) would otherwise provide: refused by name, not as "unknown".
FORBIDDEN_NAMES = frozenset(DEFAULT_NAMESPACE) | {"self", "caller", "varargs", "kwargs", "super"}

_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Macro: "template may not define macros",
    nodes.CallBlock: "template may not use call blocks",
    nodes.FilterBlock: "template may not use '{% filter %}' blocks",
    nodes.Include: "template may not use '{% include %}'",
    nodes.Extends: "template may not use '{% extends %}'",
    nodes.Import: "template may not use '{% import %}'",
    nodes.FromImport: "template may not use '{% from ... import %}'",
    nodes.Assign: "template may not use '{% set %}'",
    nodes.AssignBlock: "template may not use '{% set %}'",
    nodes.With: "template may not use '{% with %}'",
    nodes.Block: "template may not use '{% block %}'",
    nodes.Scope: "template may not use '{% autoescape %}'",  # its only producer
    nodes.EvalContextModifier: "template may not use '{% autoescape %}'",
    nodes.Call: "template may not call functions or methods",
    nodes.Mul: "template may not use the '*' operator",
    nodes.Pow: "template may not use the '**' operator",
    nodes.Mod: "template may not use the '%' operator (use the 'even' and 'odd' tests)",
}
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Div,
    nodes.FloorDiv,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
)


class TemplateRejected(RecoupError):
    """A merchant template that may not be used; `message` says why, for the merchant, and
    `line` where in its source (from 1), when the problem is at one place."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class TemplateTooSlow(TemplateRejected):
    """Refused for time alone: the one budget a pause of the machine (a garbage collection,
    another process's turn on the core) can spend, so a check may try it once more."""


class _BudgetExceeded(SecurityError):
    pass


class _OutputTooLarge(SecurityError):
    pass


class _TooSlow(SecurityError):
    pass


# --- values a template sees ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemView:
    """One order line as a template sees it: money already formatted."""

    title: str
    quantity: int
    unit_price: str | None
    line_total: str | None

    def __str__(self) -> str:
        return self.title


@dataclass(frozen=True, slots=True)
class PlanView:
    """The missed instalment a notice states (`plan`, None in every other message): money,
    dates and the time already formatted for the customer; `amount_plain`, `pay_by_short`
    and `pay_by_time` in characters an SMS carries."""

    number: int  # the instalment, from 1
    count: int  # how many the plan has
    amount: str  # $633.00
    amount_plain: str  # 633.00 USD
    due_on: str  # the date it was due: December 3, 2026
    pay_by: str  # the day to pay it by to keep the plan: December 8, 2026
    pay_by_time: str  # the time on that day, the customer's: 10:00 AM
    pay_by_short: str  # that day without the year, for SMS: Dec 8
    remaining: str  # what is owed once it is paid

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


class RenderBudget:
    """What rendering one message's overrides may spend, all its parts together: item
    iterations, wall-clock time (from the first render) and output characters."""

    __slots__ = ("_clock", "deadline", "iterations_left", "milliseconds", "output_left")

    def __init__(
        self,
        *,
        milliseconds: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterations_left = MAX_ITEM_ITERATIONS
        self.output_left = MAX_OUTPUT_CHARS
        self.milliseconds = MAX_RENDER_MS if milliseconds is None else milliseconds
        self.deadline: float | None = None
        self._clock = clock

    def start(self) -> None:
        """Start the clock, if not yet started (compiling does not count: it is cached)."""
        if self.deadline is None:
            self.deadline = self._clock() + self.milliseconds / 1000

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Work that is not the template's (compiling it, building its variables): the
        clock, if started, is moved on by the time it takes, so a cold compile of one part
        under load never spends the budget of the message's other parts."""
        began = self._clock()
        try:
            yield
        finally:
            if self.deadline is not None:
                self.deadline += self._clock() - began

    def spend(self) -> None:
        """One item iteration."""
        self.iterations_left -= 1
        if self.iterations_left < 0:
            raise _BudgetExceeded(
                f"template loops too much (more than {MAX_ITEM_ITERATIONS:,} item iterations)"
            )
        self.check_time()

    def emit(self, chars: int) -> None:
        self.output_left -= chars
        if self.output_left < 0:
            raise _OutputTooLarge(
                f"template output is longer than {MAX_OUTPUT_CHARS:,} characters "
                "(the budget of one message)"
            )
        self.check_time()

    def check_time(self) -> None:
        self.start()
        if self._clock() > (self.deadline or 0.0):
            raise _TooSlow(
                f"template takes longer than {self.milliseconds} ms to render "
                "(the time budget of one message)"
            )


class ItemsView(Sequence[ItemView]):
    """`items` in a template: a sequence whose every walk draws on the render's budget."""

    __slots__ = ("_budget", "_items")

    def __init__(self, items: tuple[ItemView, ...], budget: RenderBudget | None) -> None:
        self._items = items
        self._budget = budget

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> ItemView: ...

    @overload
    def __getitem__(self, index: slice) -> ItemsView: ...

    def __getitem__(self, index: int | slice) -> ItemView | ItemsView:
        if isinstance(index, slice):
            return ItemsView(self._items[index], self._budget)
        if isinstance(index, int) and not isinstance(index, bool):
            return self._items[index]
        raise TypeError("items are indexed by position")

    def __iter__(self) -> Iterator[ItemView]:
        for item in self._items:
            if self._budget is not None:
                self._budget.spend()
            yield item

    def __reversed__(self) -> Iterator[ItemView]:
        for item in reversed(self._items):
            if self._budget is not None:
                self._budget.spend()
            yield item

    def __str__(self) -> str:
        return ", ".join(f"{item.quantity} × {item.title}" for item in self._items)


# --- the static check --------------------------------------------------------------------------


def _reject(message: str, line: int | None = None) -> NoReturn:
    raise TemplateRejected(message, line)


def _error_line(error: BaseException) -> int | None:
    """The source line a template failed at while rendering: Jinja rewrites the traceback
    so the template's frames carry its own line numbers."""
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _is_items_iterable(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Name):
        return node.name == "items"
    return (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Slice)
        and _is_items_iterable(node.node)
    )


def _check_attribute(name: str) -> None:
    if name not in ALLOWED_ATTRIBUTES:
        _reject(f"access to attribute {name!r} is not allowed")


def _check_name(name: str, scope: frozenset[str]) -> None:
    if name in scope:
        return
    if name in FORBIDDEN_NAMES:
        _reject(f"template may not use {name!r}")
    if name == "loop":
        _reject("template uses 'loop' outside a loop")
    if name not in TEMPLATE_VARIABLES:
        _reject(f"template uses unknown variable {name!r}")


def _refusal(node: nodes.Node) -> str | None:
    for refused, message in _REFUSED.items():
        if isinstance(node, refused):
            return message
    if not isinstance(node, _ALLOWED_NODES):
        return f"template may not use {type(node).__name__!r}"
    return None


def _check(node: nodes.Node, scope: frozenset[str], depth: int) -> None:
    """Refuse anything outside the allowed language; the first problem in reading order wins,
    at the line of the innermost node that has one."""
    try:
        _check_node(node, scope, depth)
    except TemplateRejected as rejected:
        if rejected.line is None:
            rejected.line = getattr(node, "lineno", None)
        raise


def _check_node(node: nodes.Node, scope: frozenset[str], depth: int) -> None:
    """Statements are judged before their contents (a macro is refused as a macro),
    expressions after theirs (`''.__class__.__mro__` names `__class__`, the first step that
    fails)."""
    if not isinstance(node, nodes.Expr | nodes.Helper):
        message = _refusal(node)
        if message:
            _reject(message)
    if isinstance(node, nodes.For):
        _check_for(node, scope, depth)
        return

    for child in node.iter_child_nodes():
        _check(child, scope, depth)

    message = _refusal(node)
    if message:
        _reject(message)
    if isinstance(node, nodes.Name):
        if node.ctx != "load":
            _reject("template may not assign variables")
        _check_name(node.name, scope)
    elif isinstance(node, nodes.Getattr):
        _check_attribute(node.attr)
    elif isinstance(node, nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            _check_attribute(node.arg.value)
    elif isinstance(node, nodes.Filter | nodes.Test):
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            _reject("template may not pass '*args' or '**kwargs'")
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            _reject(f"template may not use the filter {node.name!r}")


def _check_for(node: nodes.For, scope: frozenset[str], depth: int) -> None:
    if node.recursive:
        _reject("template may not use recursive loops")
    if depth + 1 > MAX_LOOP_DEPTH:
        _reject(f"loops may be nested at most {MAX_LOOP_DEPTH} deep")
    _check(node.iter, scope, depth)
    if not _is_items_iterable(node.iter):
        _reject("template may only loop over 'items'")
    if not isinstance(node.target, nodes.Name):
        _reject("a loop must name a single variable ('{% for item in items %}')")
    inner = scope | {node.target.name, "loop"}
    if node.test is not None:
        _check(node.test, scope | {node.target.name}, depth + 1)
    for child in node.body:
        _check(child, inner, depth + 1)
    for child in node.else_:
        _check(child, scope, depth)


def _compile_message(error: Exception) -> str:
    if isinstance(error, TemplateSyntaxError):  # also TemplateAssertionError (unknown test)
        where = f" on line {error.lineno}" if error.lineno else ""
        return f"template has a syntax error{where}: {error.message}"
    if isinstance(error, RecursionError | SyntaxError | MemoryError):
        # Python's own limits on the code Jinja generates (nested blocks, parentheses)
        return "template is too deeply nested"
    return f"template could not be read: {error}"


# --- the sandbox -----------------------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    """No globals, the allowed filters only, attributes allowed by type, nothing callable."""

    def __init__(self, *, html: bool) -> None:
        super().__init__(
            autoescape=html,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
            auto_reload=False,
            cache_size=0,
        )
        self.globals.clear()
        self.filters = {name: FILTERS[name] for name in ALLOWED_FILTERS}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, ItemView):
            return attr in ITEM_ATTRIBUTES
        if isinstance(obj, PlanView):
            return attr in PLAN_ATTRIBUTES
        if isinstance(obj, LoopContext):
            return attr in LOOP_ATTRIBUTES
        return False

    def is_safe_callable(self, obj: Any) -> bool:
        return False

    def wrap_str_format(self, value: Any) -> None:
        return None  # `str.format` is an attribute like any other: refused

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        raise SecurityError(f"access to attribute {attribute!r} is not allowed")


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@cache
def _sandbox(html: bool) -> _Sandbox:
    return _Sandbox(html=html)


def check_source(kind: OverrideKind, source: str) -> nodes.Template:
    """Parse and check an override; raise TemplateRejected naming the first problem."""
    if not isinstance(source, str):
        _reject("template must be text")
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        _reject(f"template is {size:,} bytes; the maximum is {MAX_SOURCE_BYTES:,}")
    try:
        tree = _sandbox(kind == "html").parse(source)
    except Exception as error:  # noqa: BLE001 - untrusted source: any failure means "refuse"
        _reject(_compile_message(error), getattr(error, "lineno", None))
    try:
        _check(tree, frozenset(), 0)
    except RecursionError:
        _reject("template is too deeply nested")
    return tree


def compile_override(kind: OverrideKind, source: str) -> Template:
    """Check an override and compile it in the sandbox; raise TemplateRejected."""
    return _compile(kind, source)


@lru_cache(maxsize=128)  # exceptions are not cached: a refused source is checked again
def _compile(kind: OverrideKind, source: str) -> Template:
    tree = check_source(kind, source)
    try:
        return _sandbox(kind == "html").from_string(tree)
    except Exception as error:  # noqa: BLE001 - untrusted source: any failure means "refuse"
        _reject(_compile_message(error))


def render_override(
    template: Template, variables: Mapping[str, Any], budget: RenderBudget | None = None
) -> str:
    """Render in the sandbox, streaming, on the message's budget (the one `variables`'
    `items` draws on); raise TemplateRejected on any failure or overrun."""
    budget = budget or RenderBudget()
    budget.start()
    out: list[str] = []
    try:
        for chunk in template.generate(dict(variables)):
            budget.emit(len(chunk))
            out.append(chunk)
    except _TooSlow as error:
        raise TemplateTooSlow(str(error), _error_line(error)) from None
    except SecurityError as error:
        _reject(str(error), _error_line(error))
    except UndefinedError as error:
        _reject(f"template failed: {error.message}", _error_line(error))
    except RecursionError:
        _reject("template is too deeply nested")
    except Exception as error:  # noqa: BLE001 - untrusted template: any failure means "refuse"
        _reject(f"template failed: {type(error).__name__}: {error}", _error_line(error))
    return "".join(out)
