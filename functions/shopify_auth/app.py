"""GET /auth and GET /auth/callback: Shopify's OAuth (authorization code grant) for the
shop's offline token; GET /stripe/callback: the end of Stripe Connect OAuth. The checks and
the storing are in recoup.services.install and recoup.services.stripe_connect. A refused
request answers 400, 401 or 403 (502 or 503 when the platform does not answer) with a plain
message, chosen as every HTTP function chooses it (recoup.http, docs/api-errors.md).
"""

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from recoup import clock
from recoup.http import NO_STORE, Edge, Resolver, answer_errors, text_error
from recoup.integrations.shopify_oauth import STATE_COOKIE, STATE_LIFETIME
from recoup.observability import logger, metrics
from recoup.services import install, stripe_connect
from recoup.settings import configure

configure("shopify_auth")
app = Resolver()


def state_cookie(value: str, max_age: int) -> Cookie:
    # Lax: the browser sends it on Shopify's top-level redirect back to the callback.
    return Cookie(
        STATE_COOKIE,
        value,
        path="/auth",
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.LAX_MODE,
    )


def state_cookies(cookies: list[str]) -> list[str]:
    """The values of every recoup_oauth_state cookie the browser sent."""
    pairs = (part.strip().partition("=") for cookie in cookies for part in cookie.split(";"))
    return [value for name, _, value in pairs if name == STATE_COOKIE and value]


def redirect(location: str, cookie: Cookie) -> Response[str]:
    return Response(
        status_code=302,
        content_type=content_types.TEXT_PLAIN,
        body="",
        headers={"Location": location, **NO_STORE},
        cookies=[cookie],
    )


@app.get("/auth")
def begin() -> Response[str]:
    begun = install.begin(app.current_event.raw_query_string, now=clock.now())
    lifetime = int(STATE_LIFETIME.total_seconds())
    return redirect(begun.authorize_url, state_cookie(begun.state_cookie, lifetime))


@app.get("/auth/callback")
def callback() -> Response[str]:
    location = install.complete(
        app.current_event.raw_query_string,
        state_cookies(app.current_event.cookies),
        now=clock.now(),
    )
    return redirect(location, state_cookie("", 0))  # the state is single use: clear it


@app.get("/stripe/callback")
def stripe_callback() -> Response[str]:
    connected = stripe_connect.complete(app.current_event.raw_query_string, now=clock.now())
    return Response(
        status_code=302,
        content_type=content_types.TEXT_PLAIN,
        body="",
        headers={"Location": connected.location, **NO_STORE},
    )


answer_errors(app, Edge("OAuth", "OAuth request", text_error))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
