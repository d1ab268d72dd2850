"""The shopper's address book (收货地址). Every function is scoped to the acting customer: a
shopper can only ever read or change their own addresses."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.core import crypto
from siyu.core.access import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed

from .models import Address

MAX_ADDRESSES = 20


@dataclass(frozen=True)
class AddressInput:
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str
    detail: str
    label: str = ""
    is_default: bool = False


def _customer_id(actor: Actor) -> int:
    if actor.kind != "customer" or not actor.customer_id:
        raise PermissionDenied(_("Log in to manage your addresses."))
    return actor.customer_id


def _clean(data: AddressInput) -> AddressInput:
    errors = {}
    name = (data.receiver_name or "").strip()
    if not name:
        errors["receiver_name"] = _("Who receives the parcel?")
    elif len(name) > 30:
        errors["receiver_name"] = _("At most 30 characters.")
    phone = crypto.normalize_phone(data.receiver_phone)
    if phone is None:
        errors["receiver_phone"] = _("Enter an 11-digit mainland China mobile number.")
    for field, value, limit in (
        ("province", data.province, 30),
        ("city", data.city, 30),
        ("district", data.district, 30),
    ):
        value = (value or "").strip()
        if field != "district" and not value:
            errors[field] = _("Required.")
        elif len(value) > limit:
            errors[field] = _("Too long.")
    detail = (data.detail or "").strip()
    if len(detail) < 4:
        errors["detail"] = _("Street, building and room number, please.")
    elif len(detail) > 120:
        errors["detail"] = _("At most 120 characters.")
    if errors:
        raise ValidationFailed(_("Please check the address."), fields=errors)
    return AddressInput(
        receiver_name=name,
        receiver_phone=phone,
        province=data.province.strip(),
        city=data.city.strip(),
        district=(data.district or "").strip(),
        detail=detail,
        label=(data.label or "").strip()[:20],
        is_default=bool(data.is_default),
    )


def list_addresses(*, actor: Actor) -> list[Address]:
    return list(Address.objects.filter(customer_id=_customer_id(actor)))


def get_address(address_id: int, *, actor: Actor) -> Address:
    address = Address.objects.filter(pk=address_id, customer_id=_customer_id(actor)).first()
    if address is None:
        raise NotFound(_("That address does not exist."))
    return address


def default_address(*, actor: Actor) -> Address | None:
    return Address.objects.filter(customer_id=_customer_id(actor)).first()


def save_address(data: AddressInput, *, actor: Actor, address_id: int | None = None) -> Address:
    """Create or update an address; the first one, or one marked default, becomes the default."""
    customer_id = _customer_id(actor)
    clean = _clean(data)
    with transaction.atomic():
        existing = list(
            Address.objects.select_for_update().filter(customer_id=customer_id).order_by("pk")
        )
        if address_id is None:
            if len(existing) >= MAX_ADDRESSES:
                raise ValidationFailed(
                    _("You can keep up to %(n)d addresses. Delete one first.")
                    % {"n": MAX_ADDRESSES}
                )
            address = Address(customer_id=customer_id)
        else:
            address = next((a for a in existing if a.pk == address_id), None)
            if address is None:
                raise NotFound(_("That address does not exist."))
        # the first address, or one asked to be, is the default; unticking the only default
        # keeps it (a shopper with addresses always has a default to check out with)
        make_default = clean.is_default or not any(
            a.is_default for a in existing if a.pk != address.pk
        )
        if make_default:
            Address.objects.filter(customer_id=customer_id, is_default=True).exclude(
                pk=address.pk
            ).update(is_default=False)
        for field in ("receiver_name", "receiver_phone", "province", "city", "district", "detail"):
            setattr(address, field, getattr(clean, field))
        address.label = clean.label
        address.is_default = make_default
        address.save()
    return address


def set_default_address(address_id: int, *, actor: Actor) -> Address:
    customer_id = _customer_id(actor)
    with transaction.atomic():
        rows = list(
            Address.objects.select_for_update().filter(customer_id=customer_id).order_by("pk")
        )
        address = next((a for a in rows if a.pk == address_id), None)
        if address is None:
            raise NotFound(_("That address does not exist."))
        Address.objects.filter(customer_id=customer_id, is_default=True).exclude(
            pk=address.pk
        ).update(is_default=False)
        address.is_default = True
        address.save(update_fields=["is_default", "updated_at"])
    return address


def delete_address(address_id: int, *, actor: Actor) -> None:
    """Delete; if it was the default, the most recently used other address becomes default."""
    customer_id = _customer_id(actor)
    with transaction.atomic():
        rows = list(
            Address.objects.select_for_update().filter(customer_id=customer_id).order_by("pk")
        )
        address = next((a for a in rows if a.pk == address_id), None)
        if address is None:
            raise NotFound(_("That address does not exist."))
        was_default = address.is_default
        address.delete()
        if was_default:
            successor = (
                Address.objects.filter(customer_id=customer_id)
                .order_by("-updated_at", "-id")
                .first()
            )
            if successor is not None:
                successor.is_default = True
                successor.save(update_fields=["is_default", "updated_at"])
