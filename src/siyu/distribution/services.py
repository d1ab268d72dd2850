"""Distribution's business rules: joining (free, always), share links and binding, commissions
through their lifecycle, and withdrawals of settled commission.

Money moves only through `siyu.ledger.services`; every ledger key starts with the commission's
`commission:{order_line}:{level}`, so each step happens once however often an event is delivered.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.states import transition
from siyu.customers.models import Customer
from siyu.ledger import accounts as LA
from siyu.ledger import services as ledger
from siyu.ledger.accounts import Owner
from siyu.orders.models import Order, OrderLine

from . import calculations
from .models import (
    ApplicationStatus,
    Binding,
    BindingRule,
    Commission,
    CommissionRefund,
    CommissionStatus,
    CommissionStatusChange,
    Distributor,
    DistributorApplication,
    DistributorLevel,
    DistributorStatus,
    Invitation,
    JoinedVia,
    JoinMode,
    LinkClick,
    ProgramSettings,
)

log = logging.getLogger(__name__)

OWNER_KIND = "distributor"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: codes get read aloud and typed


class CommissionDepthExceeded(DomainError):
    """Distribution has at most two levels."""

    code = "commission_depth_exceeded"
    status = 409


class NotADistributor(DomainError):
    """You are not a distributor yet."""

    code = "not_a_distributor"
    status = 404


def owner_of(distributor: Distributor | int) -> Owner:
    return Owner(OWNER_KIND, distributor if isinstance(distributor, int) else distributor.pk)


# --- programme settings and levels ------------------------------------------------------------


def program() -> ProgramSettings:
    """The programme's settings (created with the defaults on first use)."""
    found = ProgramSettings.objects.filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return ProgramSettings.objects.create(pk=1)
    except IntegrityError:
        return ProgramSettings.objects.get(pk=1)


SETTING_FIELDS = (
    "join_mode",
    "levels",
    "binding_rule",
    "binding_days",
    "self_purchase_rebate",
    "after_sales_days",
    "min_withdrawal_fen",
)


def update_program(*, actor: Actor, **changes) -> ProgramSettings:
    """Change the programme's rules. Only the fields above exist: there is no entry fee or
    purchase threshold to set, by design."""
    authorize(actor, "distribution.manage")
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("Unknown distribution settings: %(names)s.") % {"names": ", ".join(sorted(unknown))},
            fields={name: _("Not a setting.") for name in unknown},
        )
    if "levels" in changes and changes["levels"] not in (1, 2):
        raise CommissionDepthExceeded(
            _("Commission can go at most two levels deep."), fields={"levels": _("1 or 2.")}
        )
    with transaction.atomic():
        settings_row = program()
        settings_row = ProgramSettings.objects.select_for_update().get(pk=settings_row.pk)
        before = {name: getattr(settings_row, name) for name in SETTING_FIELDS}
        for name, value in changes.items():
            setattr(settings_row, name, value)
        settings_row.updated_at = timezone.now()
        settings_row.updated_by = actor.label[:150]
        try:
            settings_row.full_clean()
        except Exception as exc:  # django ValidationError -> one domain error shape
            fields = getattr(exc, "message_dict", {})
            raise ValidationFailed(
                _("Some settings are invalid."),
                fields={k: "; ".join(v) for k, v in fields.items()},
            )
        settings_row.save()
        after = {name: getattr(settings_row, name) for name in SETTING_FIELDS}
        audit.record(
            actor,
            "distribution.settings_changed",
            obj=settings_row,
            data={k: [before[k], after[k]] for k in SETTING_FIELDS if before[k] != after[k]},
        )
    return settings_row


def default_level() -> DistributorLevel:
    level = DistributorLevel.objects.filter(is_default=True).first()
    if level is None:
        level = DistributorLevel.objects.order_by("rank").first()
    if level is None:
        with transaction.atomic():
            level, _created = DistributorLevel.objects.get_or_create(
                rank=1,
                defaults={
                    "name": _("Distributor"),
                    "rate1_bp": 1000,
                    "rate2_bp": 300,
                    "is_default": True,
                },
            )
    return level


def save_level(
    *,
    actor: Actor,
    name: str,
    rank: int,
    rate1_bp: int,
    rate2_bp: int = 0,
    is_default: bool = False,
    description: str = "",
    level_id: int | None = None,
) -> DistributorLevel:
    """Create or change a level. New rates apply to orders paid from now on; commissions already
    recorded keep the rate they were paid at."""
    authorize(actor, "distribution.manage")
    if not 0 <= rate1_bp <= 10000 or not 0 <= rate2_bp <= 10000 - rate1_bp:
        raise ValidationFailed(
            _("Rates are between 0% and 100%, and both levels together at most 100%."),
            fields={"rate2_bp": _("Out of range.")},
        )
    with transaction.atomic():
        if level_id:
            level = DistributorLevel.objects.select_for_update().filter(pk=level_id).first()
            if level is None:
                raise NotFound()
        else:
            level = DistributorLevel()
        if is_default:
            DistributorLevel.objects.filter(is_default=True).exclude(pk=level.pk).update(
                is_default=False
            )
        level.name, level.rank, level.description = name.strip(), rank, description
        level.rate1_bp, level.rate2_bp, level.is_default = rate1_bp, rate2_bp, is_default
        try:
            with transaction.atomic():
                level.save()
        except IntegrityError:
            raise ValidationFailed(
                _("Another level already has this name or rank."),
                fields={"name": _("Taken."), "rank": _("Taken.")},
            )
        audit.record(
            actor,
            "distribution.level_saved",
            obj=level,
            summary=level.name,
            data={"rate1_bp": rate1_bp, "rate2_bp": rate2_bp},
        )
    return level


# --- joining -----------------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _i in range(8))


def _active_customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or not customer.is_active:
        raise NotFound(_("No such customer."))
    return customer


def _inviter(code: str | None) -> Distributor | None:
    if not code:
        return None
    return Distributor.objects.filter(
        code=code.strip().upper(), status=DistributorStatus.ACTIVE
    ).first()


def _recruiter_for(customer_id: int, inviter: Distributor | None, now: datetime):
    """Who recruited a new distributor: the inviter, or else the distributor the customer is
    bound to. Returns (parent, invited_by): the parent only when that keeps the tree two deep."""
    recruiter = inviter
    if recruiter is None:
        binding = current_binding(customer_id, now=now)
        recruiter = binding.distributor if binding else None
    if recruiter is None or recruiter.customer_id == customer_id:
        return None, None
    parent = recruiter if recruiter.depth == 1 and recruiter.is_active else None
    return parent, recruiter


def _create_distributor(
    customer: Customer,
    *,
    display_name: str,
    joined_via: str,
    parent: Distributor | None,
    invited_by: Distributor | None,
    actor: Actor,
    level: DistributorLevel | None = None,
) -> Distributor:
    if Distributor.objects.filter(customer=customer).exists():
        raise Conflict(_("This customer is already a distributor."))
    level = level or default_level()
    for _attempt in range(10):
        try:
            with transaction.atomic():
                distributor = Distributor.objects.create(
                    customer=customer,
                    code=_new_code(),
                    display_name=(display_name or customer.name or _("My shop")).strip()[:50],
                    level=level,
                    parent=parent,
                    invited_by=invited_by,
                    joined_via=joined_via,
                )
            break
        except IntegrityError:
            if Distributor.objects.filter(customer=customer).exists():
                raise Conflict(_("This customer is already a distributor."))
            continue  # the random code was taken; draw another
    else:
        raise Conflict(_("Could not allocate a share code; try again."))
    audit.record(
        actor,
        "distribution.distributor_joined",
        obj=distributor,
        summary=distributor.display_name,
        data={"via": joined_via, "parent": parent.pk if parent else None},
    )
    return distributor


def _use_invitation(code: str, now: datetime) -> Invitation | None:
    invitation = Invitation.objects.select_for_update().filter(code=code.strip().upper()).first()
    if invitation is None or invitation.revoked_at is not None:
        return None
    if invitation.expires_at is not None and invitation.expires_at <= now:
        return None
    if invitation.used_count >= invitation.max_uses:
        return None
    Invitation.objects.filter(pk=invitation.pk).update(used_count=F("used_count") + 1)
    return invitation


def join(
    customer_id: int,
    *,
    actor: Actor,
    display_name: str = "",
    invite_code: str | None = None,
    motivation: str = "",
    now: datetime | None = None,
) -> Distributor | DistributorApplication:
    """A customer asks to become a distributor. Free in every mode, no purchase needed:
    open -> a distributor at once; application -> an application for review; invitation -> a
    distributor if `invite_code` is a valid invitation or an active distributor's share code."""
    now = now or timezone.now()
    if not (actor.is_system or (actor.kind == "customer" and actor.customer_id == customer_id)):
        raise PermissionDenied()
    rules = program()
    with transaction.atomic():
        customer = _active_customer(customer_id)
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        inviter = _inviter(invite_code)
        if rules.join_mode == JoinMode.OPEN:
            parent, invited_by = _recruiter_for(customer.pk, inviter, now)
            return _create_distributor(
                customer,
                display_name=display_name,
                joined_via=JoinedVia.OPEN,
                parent=parent,
                invited_by=invited_by,
                actor=actor,
            )
        if rules.join_mode == JoinMode.INVITATION:
            if inviter is None and not (invite_code and _use_invitation(invite_code, now)):
                raise ValidationFailed(
                    _("Joining is by invitation: enter a valid invitation code."),
                    fields={"invite_code": _("Not a valid invitation.")},
                )
            parent, invited_by = _recruiter_for(customer.pk, inviter, now)
            return _create_distributor(
                customer,
                display_name=display_name,
                joined_via=JoinedVia.INVITATION,
                parent=parent,
                invited_by=invited_by,
                actor=actor,
            )
        if Distributor.objects.filter(customer=customer).exists():
            raise Conflict(_("You are already a distributor."))
        try:
            with transaction.atomic():
                application = DistributorApplication.objects.create(
                    customer=customer,
                    display_name=(display_name or customer.name or "").strip()[:50],
                    motivation=motivation.strip()[:500],
                    invited_by=inviter,
                    created_at=now,
                )
        except IntegrityError:
            raise Conflict(_("Your application is already waiting for review."))
        audit.record(actor, "distribution.applied", obj=application)
        return application


def approve_application(application_id: int, *, actor: Actor) -> Distributor:
    authorize(actor, "distribution.review")
    now = timezone.now()
    with transaction.atomic():
        application = (
            DistributorApplication.objects.select_for_update().filter(pk=application_id).first()
        )
        if application is None:
            raise NotFound()
        if application.status != ApplicationStatus.PENDING:
            raise Conflict(_("This application was already decided."))
        customer = _active_customer(application.customer_id)
        inviter = application.invited_by if application.invited_by_id else None
        if inviter is not None and not inviter.is_active:
            inviter = None
        parent, invited_by = _recruiter_for(customer.pk, inviter, now)
        distributor = _create_distributor(
            customer,
            display_name=application.display_name,
            joined_via=JoinedVia.APPLICATION,
            parent=parent,
            invited_by=invited_by,
            actor=actor,
        )
        application.status = ApplicationStatus.APPROVED
        application.decided_at = now
        application.decided_by = actor.label[:150]
        application.save(update_fields=["status", "decided_at", "decided_by"])
    return distributor


def reject_application(application_id: int, *, actor: Actor, reason: str) -> DistributorApplication:
    authorize(actor, "distribution.review")
    if not reason.strip():
        raise ValidationFailed(_("Give the applicant a reason."), fields={"reason": _("Required.")})
    with transaction.atomic():
        application = (
            DistributorApplication.objects.select_for_update().filter(pk=application_id).first()
        )
        if application is None:
            raise NotFound()
        if application.status != ApplicationStatus.PENDING:
            raise Conflict(_("This application was already decided."))
        application.status = ApplicationStatus.REJECTED
        application.reject_reason = reason.strip()[:255]
        application.decided_at = timezone.now()
        application.decided_by = actor.label[:150]
        application.save(update_fields=["status", "reject_reason", "decided_at", "decided_by"])
        audit.record(actor, "distribution.application_rejected", obj=application, summary=reason)
    return application


def add_distributor(
    customer_id: int,
    *,
    actor: Actor,
    display_name: str = "",
    parent_id: int | None = None,
    level_id: int | None = None,
) -> Distributor:
    """An operator makes a customer a distributor directly (any mode)."""
    authorize(actor, "distribution.manage")
    with transaction.atomic():
        customer = _active_customer(customer_id)
        parent = None
        if parent_id:
            parent = Distributor.objects.filter(pk=parent_id).first()
            if parent is None:
                raise NotFound(_("No such recruiter."))
            if parent.depth != 1:
                raise CommissionDepthExceeded(
                    _("Distribution has at most two levels: the recruiter must be top-level."),
                    fields={"parent_id": _("Not a top-level distributor.")},
                )
        level = DistributorLevel.objects.filter(pk=level_id).first() if level_id else None
        return _create_distributor(
            customer,
            display_name=display_name,
            joined_via=JoinedVia.OPERATOR,
            parent=parent,
            invited_by=parent,
            actor=actor,
            level=level,
        )


def issue_invitation(
    *, actor: Actor, max_uses: int = 1, days: int | None = 30, note: str = ""
) -> Invitation:
    authorize(actor, "distribution.review")
    if max_uses < 1 or max_uses > 10000:
        raise ValidationFailed(
            _("Between 1 and 10,000 uses."), fields={"max_uses": _("Out of range.")}
        )
    for _attempt in range(10):
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    code=_new_code(),
                    max_uses=max_uses,
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    note=note.strip()[:100],
                    created_by=actor.label[:150],
                )
                audit.record(actor, "distribution.invitation_issued", obj=invitation)
                return invitation
        except IntegrityError:
            continue
    raise Conflict(_("Could not allocate a code; try again."))


def set_status(distributor_id: int, *, actor: Actor, active: bool, reason: str = "") -> Distributor:
    """Suspend or reactivate. A suspended distributor earns nothing on new orders and binds no new
    customers; what they already earned follows its course and stays withdrawable."""
    authorize(actor, "distribution.manage")
    with transaction.atomic():
        distributor = Distributor.objects.select_for_update().filter(pk=distributor_id).first()
        if distributor is None:
            raise NotFound()
        target = DistributorStatus.ACTIVE if active else DistributorStatus.SUSPENDED
        if distributor.status != target:
            distributor.status = target
            distributor.suspended_at = None if active else timezone.now()
            distributor.save(update_fields=["status", "suspended_at"])
            audit.record(
                actor,
                "distribution.reactivated" if active else "distribution.suspended",
                obj=distributor,
                summary=reason,
            )
    return distributor


def change_level(distributor_id: int, level_id: int, *, actor: Actor) -> Distributor:
    authorize(actor, "distribution.manage")
    with transaction.atomic():
        distributor = Distributor.objects.select_for_update().filter(pk=distributor_id).first()
        level = DistributorLevel.objects.filter(pk=level_id).first()
        if distributor is None or level is None:
            raise NotFound()
        before = distributor.level_id
        distributor.level = level
        distributor.save(update_fields=["level"])
        audit.record(
            actor,
            "distribution.level_changed",
            obj=distributor,
            summary=level.name,
            data={"from": before, "to": level.pk},
        )
    return distributor


# --- share links and binding -------------------------------------------------------------------


def current_binding(customer_id: int, *, now: datetime | None = None) -> Binding | None:
    """The binding in force for a customer right now, if any."""
    now = now or timezone.now()
    binding = (
        Binding.objects.select_related("distributor")
        .filter(customer_id=customer_id, ended_at__isnull=True)
        .first()
    )
    if binding is None or not binding.in_force(now):
        return None
    return binding


def record_click(
    code: str,
    *,
    customer_id: int | None = None,
    landing: str = "",
    now: datetime | None = None,
) -> tuple[Distributor | None, LinkClick | None]:
    """A visit through a share link. Records the click and, for a known customer, applies the
    programme's binding rule:

    * first click, permanent: the first distributor keeps the customer for good;
    * first click, N days: the first distributor keeps them for N days; after that the next click
      (any distributor's) binds anew;
    * last click, N days: every click binds to that link's distributor for N days from the click.
    """
    now = now or timezone.now()
    distributor = Distributor.objects.filter(code=(code or "").strip().upper()).first()
    if distributor is None or not distributor.is_active:
        return None, None
    with transaction.atomic():
        click = LinkClick.objects.create(
            distributor=distributor, customer_id=customer_id, clicked_at=now, landing=landing[:200]
        )
        if customer_id is None:
            outcome = "anonymous"
        elif distributor.customer_id == customer_id:
            outcome = "self"
        else:
            outcome = _bind(customer_id, distributor, click, now)
        click.outcome = outcome
        LinkClick.objects.filter(pk=click.pk).update(outcome=outcome)
    return distributor, click


def _bind(customer_id: int, distributor: Distributor, click: LinkClick, now: datetime) -> str:
    rules = program()
    # Lock the customer's bindings: two simultaneous clicks must not both bind.
    Customer.objects.select_for_update().filter(pk=customer_id).first()
    existing = Binding.objects.filter(customer_id=customer_id, ended_at__isnull=True).first()
    days = timedelta(days=rules.binding_days)
    if existing is not None and existing.in_force(now):
        if rules.binding_rule != BindingRule.LAST_DAYS:
            return "kept"
        if existing.distributor_id == distributor.pk:
            existing.expires_at = now + days
            existing.click = click
            existing.save(update_fields=["expires_at", "click"])
            return "extended"
        existing.ended_at, existing.end_reason = now, "replaced"
        existing.save(update_fields=["ended_at", "end_reason"])
    elif existing is not None:
        existing.ended_at, existing.end_reason = now, "expired"
        existing.save(update_fields=["ended_at", "end_reason"])
    Binding.objects.create(
        customer_id=customer_id,
        distributor=distributor,
        click=click,
        rule=rules.binding_rule,
        bound_at=now,
        expires_at=None if rules.binding_rule == BindingRule.FIRST_PERMANENT else now + days,
    )
    return "bound"


@dataclass(frozen=True)
class Attribution:
    """Who an order placed now is credited to (copied onto the order by checkout)."""

    credited_id: int
    distributor_code: str
    channel: str = "distributor"
    credited_kind: str = OWNER_KIND


def attribution_for(
    customer_id: int, link_code: str | None = None, *, now: datetime | None = None
) -> Attribution | None:
    """The distributor credited with an order this customer places now, or None.

    Checkout calls it inside its transaction, with the share-link code the shopper arrived
    through (if any): that click is recorded and bound first under the programme's rule. A
    distributor buying for themselves is credited to themselves when the programme pays
    self-purchase rebates; otherwise their purchase is treated like any customer's.
    """
    now = now or timezone.now()
    if link_code:
        record_click(link_code, customer_id=customer_id, landing="checkout", now=now)
    own = Distributor.objects.filter(
        customer_id=customer_id, status=DistributorStatus.ACTIVE
    ).first()
    # the programme's rules matter only for a distributor's own purchase
    if own is not None and program().self_purchase_rebate:
        return Attribution(credited_id=own.pk, distributor_code=own.code)
    binding = current_binding(customer_id, now=now)
    if binding is None or not binding.distributor.is_active:
        return None
    if binding.distributor.customer_id == customer_id:
        return None
    return Attribution(
        credited_id=binding.distributor_id, distributor_code=binding.distributor.code
    )


# --- commissions -------------------------------------------------------------------------------

COMMISSION_TRANSITIONS = {
    CommissionStatus.PENDING: frozenset({CommissionStatus.FROZEN, CommissionStatus.REVERSED}),
    CommissionStatus.FROZEN: frozenset({CommissionStatus.SETTLED, CommissionStatus.REVERSED}),
    CommissionStatus.SETTLED: frozenset({CommissionStatus.CLAWED_BACK}),
    CommissionStatus.REVERSED: frozenset(),
    CommissionStatus.CLAWED_BACK: frozenset(),
}

SYSTEM = Actor.system("distribution")


def _move(c: Commission, target: str, *, note: str = "", fields=(), at=None) -> None:
    transition(
        c,
        target,
        table=COMMISSION_TRANSITIONS,
        history=CommissionStatusChange,
        subject_field="commission",
        actor=SYSTEM,
        note=note,
        update_fields=tuple(fields),
        at=at,
    )


def rate_for(
    distributor: Distributor, level: int, line: OrderLine, product_rates: dict | None = None
) -> calculations.Rate:
    """The rate for a line at a level: the product's own rate if it has one, else the
    distributor's level rate."""
    from .rates import as_rate, rates_for_lines

    if product_rates is None:
        product_rates = rates_for_lines([line])
    special = product_rates.get(line.pk)
    if special is not None:
        return as_rate(special, level)
    value = distributor.level.rate1_bp if level == 1 else distributor.level.rate2_bp
    return calculations.Rate(source="level", mode="percent", value=value)


def credit_order(order_id: int, *, now: datetime | None = None) -> list[Commission]:
    """The order was paid: record and credit each line's commission for each level, once.

    Only orders credited to a distributor at placement earn commission, only from what each line
    actually cost the shopper (`OrderLine.paid_fen`, after discounts), and only up the chain
    the programme allows (1 or 2 levels)."""
    now = now or timezone.now()
    # Most paid orders credit no distributor: read only what decides that (every order is paid
    # through here, inside the payment's transaction).
    order = (
        Order.objects.filter(pk=order_id)
        .only("credited_kind", "credited_id", "paid_fen", "paid_at", "customer_id", "number")
        .first()
    )
    if order is None or order.credited_kind != OWNER_KIND or not order.credited_id:
        return []
    if order.paid_fen <= 0:
        return []
    rules = program()
    seller = (
        Distributor.objects.select_related("level", "parent__level")
        .filter(pk=order.credited_id)
        .first()
    )
    if seller is None or not seller.is_active:
        return []
    chain: list[tuple[int, Distributor]] = [(1, seller)]
    if rules.levels >= 2 and seller.parent is not None and seller.parent.is_active:
        chain.append((2, seller.parent))
    if len(chain) > 2:  # unreachable by construction; the database agrees
        raise CommissionDepthExceeded()
    if not rules.self_purchase_rebate:
        chain = [(lvl, d) for lvl, d in chain if d.customer_id != order.customer_id]
    from .rates import rates_for_lines

    lines = list(order.lines.select_related("sku").order_by("pk"))
    product_rates = rates_for_lines(lines)
    created: list[Commission] = []
    for line in lines:
        if line.paid_fen <= 0:
            continue
        rates = [rate_for(d, lvl, line, product_rates) for lvl, d in chain]
        amounts = calculations.level_amounts(line.paid_fen, line.quantity, rates)
        for (lvl, distributor), rate, amount in zip(chain, rates, amounts, strict=True):
            if amount <= 0:
                continue
            commission = _record_commission(order, line, lvl, distributor, rate, amount, now)
            if commission is not None:
                created.append(commission)
    return created


def _record_commission(order, line, level, distributor, rate, amount, now) -> Commission | None:
    """Insert the commission and its ledger credit together; None if it already exists (the
    same payment reported again, possibly at this very moment by another transaction)."""
    try:
        with transaction.atomic():
            commission = Commission.objects.create(
                order=order,
                order_line=line,
                level=level,
                distributor=distributor,
                buyer_id=order.customer_id,
                base_fen=line.paid_fen,
                rate_source=rate.source,
                rate_mode=rate.mode,
                rate_value=rate.value,
                amount_fen=amount,
                paid_at=order.paid_at or now,
                created_at=now,
            )
            CommissionStatusChange.objects.create(
                commission=commission,
                from_status="",
                to_status=commission.status,
                actor_kind=SYSTEM.kind,
                actor_label=SYSTEM.label,
                note=order.number,
                created_at=now,
            )
            ledger.credit_earning(
                owner_of(distributor),
                amount,
                key=commission.key,
                actor=SYSTEM,
                memo=_("Order %(number)s, %(product)s (level %(level)s)")
                % {"number": order.number, "product": line.product_title[:80], "level": level},
                source=("distribution.commission", commission.pk),
            )
    except IntegrityError:
        if Commission.objects.filter(order_line=line, level=level).exists():
            return None
        raise
    return commission


def freeze_order(order_id: int, *, now: datetime | None = None) -> int:
    """The order completed: its pending commissions freeze until the after-sales window closes."""
    now = now or timezone.now()
    rules = program()
    order = Order.objects.filter(pk=order_id).only("completed_at").first()
    completed_at = (order.completed_at if order else None) or now
    settle_after = completed_at + timedelta(days=rules.after_sales_days)
    n = 0
    with transaction.atomic():
        pending = Commission.objects.select_for_update().filter(
            order_id=order_id, status=CommissionStatus.PENDING
        )
        for c in pending.order_by("pk"):
            if c.net_fen > 0:
                ledger.move_earning(
                    owner_of(c.distributor_id),
                    c.net_fen,
                    from_purpose=LA.PENDING,
                    to_purpose=LA.FROZEN,
                    key=f"{c.key}:freeze",
                    actor=SYSTEM,
                    source=("distribution.commission", c.pk),
                )
            c.completed_at = completed_at
            c.settle_after = settle_after
            _move(c, CommissionStatus.FROZEN, fields=("completed_at", "settle_after"), at=now)
            n += 1
    return n


def apply_line_refund(
    line_id: int, refund_fen: int, refund_key: str, *, now: datetime | None = None
) -> list[CommissionRefund]:
    """Money went back to the shopper for part of a line: its commissions shrink in proportion.
    Before settlement that is a reversal; after, a clawback against the distributor's balance
    (which blocks withdrawals while it is not covered). Once per refund key."""
    now = now or timezone.now()
    applied: list[CommissionRefund] = []
    with transaction.atomic():
        commissions = Commission.objects.select_for_update().filter(order_line_id=line_id)
        for c in commissions.order_by("pk"):
            if CommissionRefund.objects.filter(commission=c, refund_key=refund_key).exists():
                continue
            refunded = min(c.base_fen, c.refunded_base_fen + max(refund_fen, 0))
            keep = calculations.kept_after_refund(c.amount_fen, c.base_fen, refunded)
            take = max(c.net_fen - keep, 0)
            kind = (
                "clawback"
                if c.status in (CommissionStatus.SETTLED, CommissionStatus.CLAWED_BACK)
                else "reversal"
            )
            owner = owner_of(c.distributor_id)
            source = ("distribution.commission", c.pk)
            c.refunded_base_fen = refunded
            fields = ["refunded_base_fen"]
            if take and c.status in (CommissionStatus.PENDING, CommissionStatus.FROZEN):
                ledger.cancel_earning(
                    owner,
                    take,
                    stage=LA.PENDING if c.status == CommissionStatus.PENDING else LA.FROZEN,
                    key=f"{c.key}:refund:{refund_key}",
                    actor=SYSTEM,
                    memo=_("Refund %(key)s before settlement") % {"key": refund_key},
                    source=source,
                )
                c.reversed_fen += take
                fields.append("reversed_fen")
            elif take and c.status == CommissionStatus.SETTLED:
                ledger.claw_back(
                    owner,
                    take,
                    key=f"{c.key}:clawback:{refund_key}",
                    reason=_("Refund %(key)s after settlement") % {"key": refund_key},
                    actor=SYSTEM,
                    source=source,
                    now=now,
                )
                c.clawed_back_fen += take
                fields.append("clawed_back_fen")
            c.save(update_fields=fields)
            if c.net_fen == 0 and c.status in (CommissionStatus.PENDING, CommissionStatus.FROZEN):
                _move(c, CommissionStatus.REVERSED, note=refund_key, at=now)
            elif c.net_fen == 0 and c.status == CommissionStatus.SETTLED:
                _move(c, CommissionStatus.CLAWED_BACK, note=refund_key, at=now)
            applied.append(
                CommissionRefund.objects.create(
                    commission=c,
                    refund_key=refund_key[:100],
                    refund_fen=refund_fen,
                    taken_back_fen=take,
                    kind=kind,
                    created_at=now,
                )
            )
    return applied


def _orders_in_after_sales():
    from siyu.orders.models import AfterSale
    from siyu.orders.states import AFTER_SALE_OPEN

    # cases that may still refund money: a commission waits for them before settling
    return AfterSale.objects.filter(status__in=AFTER_SALE_OPEN).values("order_id")


def settle_commission(commission_id: int, *, now: datetime | None = None) -> Commission | None:
    """The after-sales window closed: the commission becomes withdrawable, unless a refund case
    on the order is still open (it settles once the case ends, or is reversed if it refunds)."""
    now = now or timezone.now()
    with transaction.atomic():
        c = Commission.objects.select_for_update().filter(pk=commission_id).first()
        if c is None or c.status != CommissionStatus.FROZEN:
            return c
        if c.settle_after is None or c.settle_after > now:
            return c
        if _orders_in_after_sales().filter(order_id=c.order_id).exists():
            return c
        if c.net_fen > 0:
            ledger.settle_earning(
                owner_of(c.distributor_id),
                c.net_fen,
                key=f"{c.key}:settle",
                actor=SYSTEM,
                source=("distribution.commission", c.pk),
                now=now,
            )
        c.settled_at = now
        _move(c, CommissionStatus.SETTLED, fields=("settled_at",), at=now)
    return c


def settle_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Settle every frozen commission whose window has closed (each in its own transaction)."""
    now = now or timezone.now()
    due = list(
        Commission.objects.filter(status=CommissionStatus.FROZEN, settle_after__lte=now)
        .exclude(order_id__in=_orders_in_after_sales())
        .order_by("settle_after", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for commission_id in due:
        settle_commission(commission_id, now=now)
    return len(due)


# --- withdrawals -------------------------------------------------------------------------------


def distributor_for_customer(customer_id: int) -> Distributor | None:
    return Distributor.objects.select_related("level").filter(customer_id=customer_id).first()


def _openid(customer_id: int) -> str:
    from siyu.customers.queries import wechat_openid

    return wechat_openid(customer_id) or ""


def request_withdrawal(distributor_id: int, amount_fen: int, *, actor: Actor):
    """A distributor asks to be paid `amount_fen` of their settled commission."""
    from siyu.ledger import payouts

    distributor = Distributor.objects.filter(pk=distributor_id).first()
    if distributor is None:
        raise NotFound()
    if not (
        actor.is_system
        or (actor.kind == "customer" and actor.customer_id == distributor.customer_id)
    ):
        raise PermissionDenied()
    adapter = payouts.get_adapter()
    openid = _openid(distributor.customer_id) if adapter.needs_openid else ""
    if adapter.needs_openid and not openid:
        raise ValidationFailed(
            _("Open the shop in WeChat once so we can pay you to your WeChat balance."),
            fields={"amount_fen": _("No WeChat account linked.")},
        )
    return ledger.request_withdrawal(
        owner_of(distributor),
        int(amount_fen),
        actor=actor,
        min_fen=program().min_withdrawal_fen,
        adapter=adapter.name,
        payee_openid=openid,
        owner_label=str(distributor),
    )


# --- read access -------------------------------------------------------------------------------


def visible_distributors(actor: Actor):
    authorize(actor, "distribution.view")
    return Distributor.objects.select_related("level", "customer")


def visible_commissions(actor: Actor):
    authorize(actor, "distribution.view")
    return Commission.objects.select_related("order", "order_line", "distributor")


def visible_applications(actor: Actor):
    authorize(actor, "distribution.view")
    return DistributorApplication.objects.select_related("customer")


# --- following the customer pool ---------------------------------------------------------------


def move_customer(merged_id: int, survivor_id: int) -> None:
    """Two customer records turned out to be one person: referrals, applications, purchases and
    the distributor role move to the survivor (called inside the merge's transaction)."""
    now = timezone.now()
    Commission.objects.filter(buyer_id=merged_id).update(buyer_id=survivor_id)
    LinkClick.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    open_merged = Binding.objects.filter(customer_id=merged_id, ended_at__isnull=True).first()
    survivor_bound = current_binding(survivor_id, now=now) is not None
    if open_merged is not None and (survivor_bound or not open_merged.in_force(now)):
        open_merged.ended_at, open_merged.end_reason = now, "merged"
        open_merged.save(update_fields=["ended_at", "end_reason"])
    elif open_merged is not None:
        Binding.objects.filter(customer_id=survivor_id, ended_at__isnull=True).update(
            ended_at=now, end_reason="merged"
        )
    Binding.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    if DistributorApplication.objects.filter(
        customer_id=survivor_id, status=ApplicationStatus.PENDING
    ).exists():
        DistributorApplication.objects.filter(
            customer_id=merged_id, status=ApplicationStatus.PENDING
        ).update(status=ApplicationStatus.REJECTED, reject_reason="merged", decided_at=now)
    DistributorApplication.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    merged_distributor = Distributor.objects.filter(customer_id=merged_id).first()
    if merged_distributor is None:
        return
    if not Distributor.objects.filter(customer_id=survivor_id).exists():
        Distributor.objects.filter(pk=merged_distributor.pk).update(customer_id=survivor_id)
        return
    # Both records were distributors: one person keeps one shop. The merged one stops earning;
    # its balances stay in its own ledger accounts for an operator to settle with the person.
    Distributor.objects.filter(pk=merged_distributor.pk).update(
        status=DistributorStatus.SUSPENDED, suspended_at=now, note="merged into another customer"
    )
    audit.record(
        Actor.system("distribution"),
        "distribution.duplicate_distributor",
        obj=merged_distributor,
        summary=f"customer {merged_id} merged into {survivor_id}, who is a distributor too",
    )


def forget_customer(customer_id: int) -> None:
    """A PIPL erasure: who referred this person and which links they opened is personal data and
    goes; commission amounts stay for the books. An erased distributor stops selling."""
    now = timezone.now()
    Binding.objects.filter(customer_id=customer_id, ended_at__isnull=True).update(
        ended_at=now, end_reason="erased"
    )
    Binding.objects.filter(customer_id=customer_id).update(click=None)
    LinkClick.objects.filter(customer_id=customer_id).update(customer_id=None, landing="")
    DistributorApplication.objects.filter(customer_id=customer_id).update(motivation="")
    Distributor.objects.filter(customer_id=customer_id).update(
        status=DistributorStatus.SUSPENDED, suspended_at=now, display_name="—", note="erased"
    )
