"""Staff accounts, stores and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, Role, authorize
from siyu.core.errors import NotFound, ValidationFailed

from .models import ApiToken, Store, User

TOKEN_PREFIX = "siyu_"


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_api_token(user: User, name: str, *, actor: Actor) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    if actor.kind != "system" and actor.user_id != user.pk:
        authorize(actor, "staff.manage")
    if not name.strip():
        raise ValidationFailed(_("Give the token a name."), fields={"name": _("Required.")})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name.strip()[:100], prefix=raw[:12], key_hash=_hash_token(raw)
        )
        audit.record(actor, "staff.token_issued", obj=token, summary=token.name)
    return token, raw


def revoke_api_token(token_id: int, *, actor: Actor) -> None:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound()
        if actor.kind != "system" and actor.user_id != token.user_id:
            authorize(actor, "staff.manage")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(actor, "staff.token_revoked", obj=token, summary=token.name)


def user_for_api_token(raw: str) -> User | None:
    """The active user behind a bearer token, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def create_staff(
    *,
    username: str,
    password: str,
    role: str,
    store: Store | None = None,
    display_name: str = "",
    actor: Actor,
) -> User:
    authorize(actor, "staff.manage")
    if role not in Role.ALL:
        raise ValidationFailed(_("Unknown role."), fields={"role": role})
    if role in (Role.STORE_MANAGER, Role.CLERK) and store is None:
        raise ValidationFailed(
            _("Store managers and clerks must belong to a store."), fields={"store": _("Required.")}
        )
    if role == Role.OWNER and actor.kind == "staff" and actor.role != Role.OWNER:
        raise ValidationFailed(_("Only an owner can create another owner."), fields={"role": role})
    if User.objects.filter(username=username).exists():
        raise ValidationFailed(_("That username is taken."), fields={"username": username})
    with transaction.atomic():
        user = User(username=username, role=role, store=store, display_name=display_name)
        user.set_password(password)
        user.save()
        audit.record(actor, "staff.created", obj=user, summary=f"{username} ({role})")
    return user


def staff_in_scope(actor: Actor):
    """Staff the actor may list: everyone for wide roles, their own store for a store manager."""
    qs = User.objects.select_related("store").order_by("username")
    if actor.sees_all_stores:
        return qs
    if actor.role == Role.STORE_MANAGER:
        return qs.filter(store_id=actor.store_id)
    return qs.filter(pk=actor.user_id)
