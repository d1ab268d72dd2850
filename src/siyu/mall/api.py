"""Shopper API under /api/v1/mall/: log in, the shopper's profile and address book.

Authenticated by the shopper session cookie (`ShopperAuth`), the same session the /m/ pages use,
so a mini-program web-view or a single-page front end can share it. Every endpoint acts as
`Actor.for_customer(...)`: a shopper only ever reaches their own records.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.utils import check_csrf

from siyu.core.api import actor

from . import login as login_service
from . import services
from .profile import shopper_profile
from .sessions import CUSTOMER_KEY, ShopperAuth
from .views.common import client_ip

router = Router(tags=["mall (shopper)"], auth=ShopperAuth())


class PhoneIn(Schema):
    phone: str


class CodeSentOut(Schema):
    phone_masked: str
    expires_in: int
    resend_in: int


class LoginIn(Schema):
    phone: str
    code: str


class ProfileOut(Schema):
    customer_id: int
    name: str
    phone_masked: str
    member_since: str


class AddressIn(Schema):
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str = ""
    detail: str
    label: str = ""
    is_default: bool = False


class AddressOut(Schema):
    id: int
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str
    detail: str
    label: str
    is_default: bool


def _csrf(request: HttpRequest) -> None:
    if check_csrf(request):
        raise HttpError(403, "CSRF check Failed")


def _profile_out(profile) -> dict:
    return {
        "customer_id": profile.customer_id,
        "name": profile.name,
        "phone_masked": profile.phone_masked,
        "member_since": profile.member_since.isoformat(),
    }


@router.post("/login/code", auth=None, response={200: CodeSentOut})
def request_code(request, payload: PhoneIn):
    """Text a 6-digit login code (throttled per phone and per client address)."""
    _csrf(request)
    sent = login_service.send_login_code(payload.phone, ip=client_ip(request))
    return {
        "phone_masked": f"{sent.phone[:3]}****{sent.phone[-4:]}",
        "expires_in": sent.expires_in,
        "resend_in": sent.resend_in,
    }


@router.post("/login", auth=None, response={200: ProfileOut})
def login(request, payload: LoginIn, response: HttpResponse):
    """Verify the code and start a shopper session (sets the shopper session cookie)."""
    from siyu.core.access import Actor

    _csrf(request)
    phone = login_service.verify_login_code(payload.phone, payload.code, ip=client_ip(request))
    customer_id = login_service.customer_for_phone(phone)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[CUSTOMER_KEY] = customer_id
    store["login_method"] = "sms"
    store["login_at"] = timezone.now().isoformat()
    store.set_expiry(settings.SIYU_SHOPPER_SESSION_AGE)
    store.save()
    old_key = request.COOKIES.get(settings.SIYU_SHOPPER_SESSION_COOKIE)
    if old_key:
        import_module(settings.SESSION_ENGINE).SessionStore(old_key).delete()
    response.set_cookie(
        settings.SIYU_SHOPPER_SESSION_COOKIE,
        store.session_key,
        max_age=settings.SIYU_SHOPPER_SESSION_AGE,
        path=settings.SESSION_COOKIE_PATH,
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=settings.SESSION_COOKIE_SECURE or None,
        httponly=True,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
    login_service.record_login(customer_id, "sms")
    return _profile_out(shopper_profile(Actor.for_customer(customer_id)))


@router.post("/logout", response={204: None})
def logout(request, response: HttpResponse):
    key = request.COOKIES.get(settings.SIYU_SHOPPER_SESSION_COOKIE)
    import_module(settings.SESSION_ENGINE).SessionStore(key).delete()
    response.delete_cookie(settings.SIYU_SHOPPER_SESSION_COOKIE, path=settings.SESSION_COOKIE_PATH)
    return Status(204, None)


@router.get("/me", response=ProfileOut)
def me(request):
    return _profile_out(shopper_profile(actor(request)))


@router.get("/addresses", response=list[AddressOut])
def list_addresses(request):
    return services.list_addresses(actor=actor(request))


@router.post("/addresses", response={201: AddressOut})
def create_address(request, payload: AddressIn):
    return Status(
        201,
        services.save_address(services.AddressInput(**payload.dict()), actor=actor(request)),
    )


@router.get("/addresses/{address_id}", response=AddressOut)
def get_address(request, address_id: int):
    return services.get_address(address_id, actor=actor(request))


@router.put("/addresses/{address_id}", response=AddressOut)
def update_address(request, address_id: int, payload: AddressIn):
    return services.save_address(
        services.AddressInput(**payload.dict()), actor=actor(request), address_id=address_id
    )


@router.delete("/addresses/{address_id}", response={204: None})
def delete_address(request, address_id: int):
    services.delete_address(address_id, actor=actor(request))
    return Status(204, None)
