"""The group and member state machines (transition tables) and the functions that apply them."""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.states import transition

from .models import Group, GroupStatus, GroupStatusChange, Member, MemberStatus, MemberStatusChange

G = GroupStatus
M = MemberStatus

GROUP_TRANSITIONS: dict[str, frozenset[str]] = {
    # the initiator's order is paid → the group opens and its clock starts; unpaid → never opened
    G.AWAITING_PAYMENT: frozenset({G.OPEN, G.ABANDONED}),
    # the N-th member pays → succeeded; the clock runs out short of N → failed
    G.OPEN: frozenset({G.SUCCEEDED, G.FAILED}),
    G.SUCCEEDED: frozenset(),
    G.FAILED: frozenset(),
    G.ABANDONED: frozenset(),
}

MEMBER_TRANSITIONS: dict[str, frozenset[str]] = {
    # paid, or the order was cancelled (unpaid timeout, the shopper, the group failing)
    M.PENDING_PAYMENT: frozenset({M.PAID, M.CANCELLED}),
    # the group succeeded; or the money goes back (left before success, or the group failed)
    M.PAID: frozenset({M.SUCCEEDED, M.REFUNDING}),
    M.REFUNDING: frozenset({M.REFUNDED}),
    M.SUCCEEDED: frozenset(),
    M.CANCELLED: frozenset(),
    M.REFUNDED: frozenset(),
}


def transition_group(
    group: Group, target: str, *, actor: Actor, note: str = "", update_fields=()
) -> GroupStatusChange:
    return transition(
        group,
        target,
        table=GROUP_TRANSITIONS,
        history=GroupStatusChange,
        subject_field="group",
        actor=actor,
        note=note,
        update_fields=tuple(update_fields),
    )


def transition_member(
    member: Member, target: str, *, actor: Actor, note: str = "", update_fields=()
) -> MemberStatusChange:
    return transition(
        member,
        target,
        table=MEMBER_TRANSITIONS,
        history=MemberStatusChange,
        subject_field="member",
        actor=actor,
        note=note,
        update_fields=tuple(update_fields),
    )
