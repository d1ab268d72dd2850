"""Who is asking, and what their role lets them do: the one place pages, API and commands check.

Apps declare their permissions and which roles hold them in `AppConfig.ready()` through `grant()`.
Row-level scope (a clerk sees only the customers they own) lives beside the data, in each app's
services, and is built on the `Actor` defined here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from django.utils.translation import gettext_lazy as _

from .errors import PermissionDenied

if TYPE_CHECKING:
    from django.http import HttpRequest


class Role:
    OWNER = "owner"
    OPERATOR = "operator"
    STORE_MANAGER = "store_manager"
    CLERK = "clerk"
    ANALYST = "analyst"

    CHOICES = [
        (OWNER, _("Owner / admin")),
        (OPERATOR, _("Operator")),
        (STORE_MANAGER, _("Store manager")),
        (CLERK, _("Store clerk (导购)")),
        (ANALYST, _("Analyst (read-only)")),
    ]
    ALL = frozenset(code for code, _label in CHOICES)
    STAFF_WIDE = frozenset({OWNER, OPERATOR, ANALYST})


_grants: dict[str, set[str]] = defaultdict(set)


def grant(permissions: dict[str, Iterable[str]]) -> None:
    """Register permissions: {"customers.view": {Role.OWNER, ...}}. Owners always get everything."""
    for perm, roles in permissions.items():
        _grants[perm].update(roles)
        _grants[perm].add(Role.OWNER)


def roles_with(perm: str) -> frozenset[str]:
    return frozenset(_grants.get(perm, ()))


def known_permissions() -> list[str]:
    return sorted(_grants)


@dataclass(frozen=True)
class Actor:
    """The party behind a request or job: a staff member, a shopper, or the system itself."""

    kind: Literal["staff", "customer", "system", "anonymous"]
    role: str | None = None
    user_id: int | None = None
    store_id: int | None = None
    customer_id: int | None = None
    label: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind="system", label=label)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(kind="anonymous", label="anonymous")

    @classmethod
    def for_customer(cls, customer_id: int, label: str = "") -> Actor:
        return cls(
            kind="customer", customer_id=customer_id, label=label or f"customer:{customer_id}"
        )

    @classmethod
    def for_user(cls, user) -> Actor:
        if user is None or not user.is_authenticated:
            return cls.anonymous()
        role = Role.OWNER if user.is_superuser else (user.role or None)
        return cls(
            kind="staff",
            role=role,
            user_id=user.pk,
            store_id=getattr(user, "store_id", None),
            label=user.get_username(),
        )

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def can(self, perm: str) -> bool:
        if self.kind == "system":
            return True
        if self.kind != "staff" or not self.role:
            return False
        return self.role in _grants.get(perm, ())

    @property
    def sees_all_stores(self) -> bool:
        """Owners, operators, analysts and the system are not limited to one store or owner."""
        return self.kind == "system" or self.role in Role.STAFF_WIDE


def authorize(actor: Actor, perm: str) -> None:
    """Raise PermissionDenied unless the actor holds `perm`."""
    if not actor.can(perm):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": perm},
            code="permission_denied",
        )


def actor_from_request(request: HttpRequest) -> Actor:
    """The actor for a console/API request (API token users arrive as request.auth)."""
    cached = getattr(request, "_siyu_actor", None)
    if cached is not None:
        return cached
    user = getattr(request, "auth", None)
    if isinstance(user, Actor):  # API auth classes for shoppers resolve straight to an Actor
        request._siyu_actor = user
        return user
    if user is None or not getattr(user, "is_authenticated", False):
        user = getattr(request, "user", None)
    actor = Actor.for_user(user)
    request._siyu_actor = actor
    return actor
