"""Staff API: who am I, and the staff list for managers."""

from __future__ import annotations

from ninja import Router, Schema

from siyu.core.access import actor_from_request, authorize

from . import services

router = Router(tags=["staff"])


class Me(Schema):
    id: int
    username: str
    display_name: str
    role: str
    store_id: int | None
    permissions: list[str]


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    role: str
    store_id: int | None
    is_active: bool


@router.get("/me", response=Me, summary="The authenticated staff member and their permissions")
def me(request):
    from siyu.core.access import known_permissions

    actor = actor_from_request(request)
    user = request.auth
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        "role": actor.role or "",
        "store_id": user.store_id,
        "permissions": [p for p in known_permissions() if actor.can(p)],
    }


@router.get("/", response=list[StaffOut], summary="Staff visible to the caller")
def list_staff(request, role: str | None = None):
    actor = actor_from_request(request)
    authorize(actor, "staff.manage")
    qs = services.staff_in_scope(actor)
    if role:
        qs = qs.filter(role=role)
    return list(qs[:500])
