"""Shopper sessions, kept apart from staff sessions.

Staff and shoppers may use the same browser (an operator testing the mall), so each audience gets
its own session cookie: `/m/` pages read and write `SIYU_SHOPPER_SESSION_COOKIE`, everything else
Django's `sessionid`. Logging out of one never logs out the other, and a shopper session can never
authenticate a console page (it holds no staff user). A shopper's session holds
`request.session["customer_id"]`; its key is rotated at login.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date
from ninja.security import APIKeyCookie

from siyu.core.access import Actor

SHOPPER_PREFIX = "/m/"
CUSTOMER_KEY = "customer_id"
ATTRIBUTION_KEY = "attribution"
# Share-link parameters that credit a sale (a clerk's ?staff_ref=, a distributor's ?share_code=):
# kept in the shopper's session from the visit and handed to the orders service at checkout,
# whose resolvers validate them.
ATTRIBUTION_PARAMS = ("staff_ref", "share_code", "inv")
ATTRIBUTION_DAYS = 7


def is_shopper_path(path: str) -> bool:
    return path.startswith(SHOPPER_PREFIX) or path == SHOPPER_PREFIX.rstrip("/")


def cookie_name_for(path: str) -> str:
    return (
        settings.SIYU_SHOPPER_SESSION_COOKIE
        if is_shopper_path(path)
        else settings.SESSION_COOKIE_NAME
    )


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware with one cookie per audience (see the module docstring)."""

    def process_request(self, request):
        name = cookie_name_for(request.path_info)
        request.session_cookie_name = name
        request.session = self.SessionStore(request.COOKIES.get(name))
        if name == settings.SIYU_SHOPPER_SESSION_COOKIE:
            request._siyu_actor = _actor_from_session(request.session)
            if request.method == "GET" and any(p in request.GET for p in ATTRIBUTION_PARAMS):
                remember_attribution(request)

    def process_response(self, request, response):
        # Django's own logic, with the audience's cookie name instead of SESSION_COOKIE_NAME.
        name = getattr(request, "session_cookie_name", settings.SESSION_COOKIE_NAME)
        try:
            accessed = request.session.accessed
            modified = request.session.modified
            empty = request.session.is_empty()
        except AttributeError:
            return response
        if name in request.COOKIES and empty:
            response.delete_cookie(
                name,
                path=settings.SESSION_COOKIE_PATH,
                domain=settings.SESSION_COOKIE_DOMAIN,
                samesite=settings.SESSION_COOKIE_SAMESITE,
            )
            need_vary_cookie = True
        else:
            need_vary_cookie = accessed
            if (modified or settings.SESSION_SAVE_EVERY_REQUEST) and not empty:
                if request.session.get_expire_at_browser_close():
                    max_age = None
                    expires = None
                else:
                    max_age = request.session.get_expiry_age()
                    expires = http_date(time.time() + max_age)
                if response.status_code < 500:
                    try:
                        request.session.save()
                    except UpdateError:
                        raise SessionInterrupted(
                            "The request's session was deleted before the request completed."
                        )
                    response.set_cookie(
                        name,
                        request.session.session_key,
                        max_age=max_age,
                        expires=expires,
                        domain=settings.SESSION_COOKIE_DOMAIN,
                        path=settings.SESSION_COOKIE_PATH,
                        secure=settings.SESSION_COOKIE_SECURE or None,
                        httponly=settings.SESSION_COOKIE_HTTPONLY or None,
                        samesite=settings.SESSION_COOKIE_SAMESITE,
                    )
                    need_vary_cookie = True
        if need_vary_cookie:
            patch_vary_headers(response, ("Cookie",))
        return response


def _active_customer_id(customer_id) -> int | None:
    """The customer a session belongs to, if still usable: a merged-away record follows to the
    survivor; an erased one ends the session."""
    from siyu.customers.models import Customer

    try:
        customer_id = int(customer_id)
    except (TypeError, ValueError):
        return None
    for _hop in range(5):
        row = (
            Customer.objects.filter(pk=customer_id)
            .values_list("merged_into_id", "erased_at")
            .first()
        )
        if row is None or row[1] is not None:
            return None
        if row[0] is None:
            return customer_id
        customer_id = row[0]
    return None


def _actor_from_session(session) -> Actor:
    customer_id = session.get(CUSTOMER_KEY)
    if customer_id is None:
        return Actor.anonymous()
    active = _active_customer_id(customer_id)
    if active is None:
        session.flush()
        return Actor.anonymous()
    if active != customer_id:
        session[CUSTOMER_KEY] = active
    return Actor.for_customer(active)


def remember_attribution(request) -> None:
    hints = {p: request.GET[p][:64] for p in ATTRIBUTION_PARAMS if request.GET.get(p)}
    if hints:
        request.session[ATTRIBUTION_KEY] = {**hints, "at": timezone.now().isoformat()}


def attribution_hints(request) -> dict:
    """The share-link hints of this visit (at most ATTRIBUTION_DAYS old), for checkout."""
    from datetime import timedelta

    from django.utils.dateparse import parse_datetime

    stored = request.session.get(ATTRIBUTION_KEY) or {}
    at = parse_datetime(stored.get("at", "")) if stored else None
    if at is None or timezone.now() - at > timedelta(days=ATTRIBUTION_DAYS):
        return {}
    return {k: v for k, v in stored.items() if k in ATTRIBUTION_PARAMS}


def login_shopper(request, customer_id: int, *, method: str) -> Actor:
    """Start the customer's session: a new session key (so a key planted before login is
    worthless), and a clean session when a different customer was logged in."""
    previous = request.session.get(CUSTOMER_KEY)
    if previous is not None and previous != customer_id:
        request.session.flush()
    else:
        request.session.cycle_key()
    request.session[CUSTOMER_KEY] = customer_id
    request.session["login_method"] = method
    request.session["login_at"] = timezone.now().isoformat()
    request.session.set_expiry(settings.SIYU_SHOPPER_SESSION_AGE)
    actor = Actor.for_customer(customer_id)
    request._siyu_actor = actor
    return actor


def logout_shopper(request) -> None:
    request.session.flush()
    request._siyu_actor = Actor.anonymous()


def shopper_actor(request) -> Actor:
    """The actor of an H5 request: `Actor.for_customer(...)` when a shopper is logged in."""
    actor = getattr(request, "_siyu_actor", None)
    if actor is None or getattr(request, "session_cookie_name", None) != (
        settings.SIYU_SHOPPER_SESSION_COOKIE
    ):
        return Actor.anonymous()
    return actor


def login_url(next_path: str) -> str:
    return f"{reverse('mall:login')}?{urlencode({'next': next_path})}"


def page_of(request) -> str:
    from urllib.parse import urlparse

    for candidate in (request.headers.get("HX-Current-URL"), request.headers.get("Referer")):
        if candidate:
            parsed = urlparse(candidate)
            if parsed.netloc in ("", request.get_host()) and is_shopper_path(parsed.path):
                return parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return SHOPPER_PREFIX


def shopper_required(view):
    """Send anonymous shoppers to the login page, and back here afterwards."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        actor = shopper_actor(request)
        if actor.kind != "customer":
            # after logging in, a GET comes back here; a POST (add to cart) to the page it was on
            back = request.get_full_path() if request.method == "GET" else page_of(request)
            target = login_url(back)
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = target
                return response
            return redirect(target)
        request.actor = actor
        return view(request, *args, **kwargs)

    return wrapper


class ShopperAuth(APIKeyCookie):
    """Ninja auth for shopper endpoints: the shopper session cookie → `Actor.for_customer`.

    Use `auth=ShopperAuth()` on a router or operation; `siyu.core.api.actor(request)` then returns
    the shopper's actor. CSRF is checked for unsafe methods, as for staff sessions.
    """

    param_name = "siyu_shopper"

    def __init__(self, csrf: bool = True) -> None:
        self.param_name = settings.SIYU_SHOPPER_SESSION_COOKIE
        super().__init__(csrf=csrf)

    def authenticate(self, request, key):
        if not key:
            return None
        from importlib import import_module

        store = import_module(settings.SESSION_ENGINE).SessionStore(key)
        customer_id = store.get(CUSTOMER_KEY)
        active = _active_customer_id(customer_id) if customer_id is not None else None
        return Actor.for_customer(active) if active else None
