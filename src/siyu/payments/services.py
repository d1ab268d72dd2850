"""Payments' business rules: start a payment, apply what the provider says, refund, reconcile.

Everything the provider tells us — a notification, a query answer, a refund response — goes
through the same two functions, `apply_trade_result` and `apply_refund_result`. Each locks its row,
checks the provider's figures against ours, moves the state machine and publishes the domain event
in one transaction; a second copy of the same news finds the state already moved and changes
nothing. See docs/payments.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit, events
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed

from .errors import (
    ORDER_NOT_PAYABLE,
    NothingToRefund,
    NotificationRejected,
    PaymentNotAllowed,
    ProviderError,
    RefundExceedsPayment,
)
from .events import PaymentSucceeded, RefundFailed, RefundSucceeded
from .models import (
    Method,
    NotificationKind,
    NotificationLog,
    NotificationStatusChange,
    Payment,
    PaymentStatusChange,
    Provider,
    Refund,
    RefundOrigin,
    RefundStatusChange,
)
from .providers import PaymentLaunch, PaymentRequest, RefundResult, TradeResult, get_provider
from .providers.base import RefundState, TradeState
from .states import (
    NOTIFICATION_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    NotificationStatus,
    PaymentStatus,
    RefundStatus,
    move_notification,
    move_payment,
    move_refund,
    record_creation,
)

log = logging.getLogger("siyu.payments")

PAYABLE_ORDER_STATUS = "pending_payment"
MAX_BODY_BYTES = 64 * 1024
REFUND_RETRY = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)


def system_actor(label: str = "payments") -> Actor:
    return Actor.system(label)


def _source_label(source: str) -> str:
    """How news reached us, for history notes (written in the language active at the time)."""
    return {
        "notification": _("notification"),
        "query": _("provider query"),
        "refund request": _("refund request"),
    }.get(source, source)


# --- keys ---------------------------------------------------------------------------------------

_REFUND_NO_SAFE = re.compile(r"^[0-9A-Za-z_\-|*@]{1,62}$")


def new_out_trade_no() -> str:
    """P + Shanghai time to the second + 8 random characters: 21 characters, WeChat-safe."""
    stamp = timezone.localtime().strftime("%y%m%d%H%M%S")
    tail = "".join(secrets.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8))
    return f"P{stamp}{tail}"


def out_refund_no_for(refund_key: str) -> str:
    """WeChat Pay's out_refund_no for a refund key: the same key always gives the same number, so
    asking again for a refund the provider already took can never refund twice."""
    if _REFUND_NO_SAFE.match(refund_key):
        return f"R{refund_key}"
    return "RH" + hashlib.sha256(refund_key.encode()).hexdigest()[:40]


# --- outcomes -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What applying provider news did. `status` is a NotificationStatus value."""

    status: str
    reason: str = ""
    message: str = ""
    http_status: int = 204
    payment: Payment | None = None
    refund: Refund | None = None

    @property
    def ok(self) -> bool:
        return self.http_status < 300


def _applied(**kw) -> Outcome:
    return Outcome(NotificationStatus.PROCESSED, **kw)


def _duplicate(message: str = "", **kw) -> Outcome:
    return Outcome(NotificationStatus.DUPLICATE, reason="already_applied", message=message, **kw)


def _ignored(reason: str, message: str = "", **kw) -> Outcome:
    return Outcome(NotificationStatus.IGNORED, reason=reason, message=message, **kw)


def _rejected(reason: str, message: str, http_status: int = 400, **kw) -> Outcome:
    return Outcome(
        NotificationStatus.REJECTED,
        reason=reason,
        message=message,
        http_status=http_status,
        **kw,
    )


# --- starting a payment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    launch: PaymentLaunch
    reused: bool = False


def _authorize_payer(actor: Actor, customer_id: int) -> None:
    if actor.kind == "customer":
        if actor.customer_id != customer_id:
            raise NotFound()  # another shopper's order does not exist for this one
        return
    if actor.is_system:
        return
    authorize(actor, "payments.manage")


def start_payment(
    order_id: int,
    *,
    method: str,
    actor: Actor,
    openid: str = "",
    client_ip: str = "",
    return_url: str = "",
    landing_url: str = "",
    provider_name: str | None = None,
) -> PaymentStart:
    """Open (or reuse) the payment attempt for an order and get what the shopper's client needs.

    A shopper may press "pay" twice or switch from H5 to in-WeChat payment: the open attempt is
    reused when it still fits, otherwise it is closed with the provider before a new one opens, so
    at most one attempt can take money at a time (a late payment to a closed attempt is refunded).

    `return_url` is where the shopper should end up (their order page); `landing_url` is where the
    provider's page sends them back to first (our result page, which waits for confirmation);
    "{out_trade_no}" in it is replaced by the attempt's number.
    """
    from siyu.orders.queries import payable_order

    if method not in Method.values:
        raise ValidationFailed(_("Unknown payment method."), fields={"method": method})
    order = payable_order(order_id)
    _authorize_payer(actor, order.customer_id)
    if order.status != PAYABLE_ORDER_STATUS:
        raise PaymentNotAllowed(_("This order cannot be paid now."))
    amount = order.payable_fen - order.paid_fen
    if amount <= 0:
        raise PaymentNotAllowed(_("Nothing is left to pay on this order."))
    provider_name = provider_name or settings.SIYU_PAYMENT_PROVIDER
    provider = get_provider(provider_name)
    if method in (Method.JSAPI, Method.MINIPROGRAM) and not openid:
        from siyu.customers.queries import wechat_openid

        openid = wechat_openid(order.customer_id) or ""
        if not openid and provider_name != Provider.DEV:
            raise ValidationFailed(
                _("Log in with WeChat to pay inside WeChat."), fields={"openid": _("Required.")}
            )
        openid = openid or f"o-dev-customer-{order.customer_id}"

    now = timezone.now()
    existing = Payment.objects.filter(order_id=order.order_id, status=PaymentStatus.PENDING).first()
    if existing is not None:
        fits = (
            existing.method == method
            and existing.amount_fen == amount
            and existing.provider == provider_name
            and existing.expires_at > now + timedelta(minutes=1)
        )
        if fits:
            request = _payment_request(existing, openid, client_ip, landing_url or return_url)
            if existing.prepay_id or existing.h5_url:
                launch = provider.launch_again(request, existing.prepay_id, existing.h5_url)
            else:
                launch = _create_at_provider(existing, provider, request)
            return PaymentStart(existing, launch, reused=True)
        close_attempt(existing.pk, actor=system_actor(), note=_("replaced by a new attempt"))
        existing.refresh_from_db()
        if existing.is_paid:
            raise PaymentNotAllowed(_("This order has just been paid."))

    expires_at = now + timedelta(minutes=max(1, settings.SIYU_PAYMENT_EXPIRE_MINUTES))
    # The order's own deadline (orders cancels it then): WeChat Pay must not take money after it.
    deadline = getattr(order, "payment_deadline", None)
    if deadline is not None:
        if deadline <= now + timedelta(minutes=1):
            raise PaymentNotAllowed(_("The time to pay for this order is up."))
        expires_at = min(expires_at, deadline)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                out_trade_no=new_out_trade_no(),
                order_id=order.order_id,
                customer_id=order.customer_id,
                provider=provider_name,
                method=method,
                amount_fen=amount,
                description=order.description or order.number,
                return_url=return_url[:500],
                client_ip=client_ip or None,
                expires_at=expires_at,
            )
            record_creation(
                payment,
                table=PAYMENT_TRANSITIONS,
                history=PaymentStatusChange,
                subject_field="payment",
                actor=actor,
                note=_("order %(number)s") % {"number": order.number},
            ).save(force_insert=True)
    except IntegrityError:
        # Another request opened an attempt for this order a moment ago.
        raise Conflict(_("A payment for this order is being started. Please try again."))
    request = _payment_request(payment, openid, client_ip, landing_url or return_url)
    return PaymentStart(payment, _create_at_provider(payment, provider, request))


def _payment_request(payment: Payment, openid: str, client_ip: str, back_url: str):
    return PaymentRequest(
        out_trade_no=payment.out_trade_no,
        description=payment.description,
        amount_fen=payment.amount_fen,
        method=payment.method,
        expires_at=payment.expires_at,
        openid=openid,
        client_ip=client_ip or (payment.client_ip or ""),
        return_url=(back_url or payment.return_url).replace("{out_trade_no}", payment.out_trade_no),
    )


def _create_at_provider(payment: Payment, provider, request: PaymentRequest) -> PaymentLaunch:
    try:
        launch = provider.create_payment(request)
    except ProviderError as exc:
        Payment.objects.filter(pk=payment.pk).update(last_error=str(exc)[:255])
        if not exc.transient:
            # The provider refused the order outright, so no money can arrive for this attempt.
            with transaction.atomic():
                locked = Payment.objects.select_for_update().get(pk=payment.pk)
                if locked.status == PaymentStatus.PENDING:
                    move_payment(
                        locked,
                        PaymentStatus.FAILED,
                        actor=system_actor(),
                        note=_("the provider refused: %(error)s") % {"error": exc},
                    )
        raise
    Payment.objects.filter(pk=payment.pk).update(
        prepay_id=launch.prepay_id[:64], h5_url=launch.h5_url, last_error=""
    )
    payment.prepay_id, payment.h5_url = launch.prepay_id[:64], launch.h5_url
    return launch


# --- applying what the provider says about a payment ----------------------------------------------


def apply_trade_result(result: TradeResult, *, source: str, actor: Actor | None = None) -> Outcome:
    """Bring our payment in line with the provider's trade. Safe to call any number of times."""
    actor = actor or system_actor(f"{source}")
    # No savepoint when nested (the notification's transaction): nothing between here and the
    # caller's transaction catches an error, so a savepoint would only cost two round trips.
    with transaction.atomic(savepoint=False):
        payment = (
            Payment.objects.select_for_update().filter(out_trade_no=result.out_trade_no).first()
        )
        if payment is None:
            log.error(
                "provider reported unknown out_trade_no %s via %s", result.out_trade_no, source
            )
            return _rejected(
                "unknown_order",
                f"no payment with out_trade_no {result.out_trade_no!r}",
                http_status=404,
            )
        if result.is_paid:
            if result.amount_fen != payment.amount_fen or result.currency != payment.currency:
                log.error(
                    "amount mismatch for %s: provider says %s %s, we asked %s %s",
                    payment.out_trade_no,
                    result.amount_fen,
                    result.currency,
                    payment.amount_fen,
                    payment.currency,
                )
                return _rejected(
                    "amount_mismatch",
                    f"amount {result.amount_fen} {result.currency} does not match "
                    f"{payment.amount_fen} {payment.currency}",
                    payment=payment,
                )
            if payment.is_paid:
                if payment.transaction_id and result.transaction_id != payment.transaction_id:
                    log.error(
                        "conflicting transaction ids for %s: %s then %s",
                        payment.out_trade_no,
                        payment.transaction_id,
                        result.transaction_id,
                    )
                    return _rejected(
                        "conflicting_transaction",
                        f"already paid by transaction {payment.transaction_id}",
                        http_status=409,
                        payment=payment,
                    )
                return _duplicate(payment=payment)
            _confirm(payment, result, actor=actor, source=source)
            return _applied(payment=payment)
        if result.state in (TradeState.CLOSED, TradeState.REVOKED):
            if payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
                payment.provider_state = result.state
                move_payment(
                    payment,
                    PaymentStatus.CLOSED,
                    actor=actor,
                    note=_("closed at the provider (%(source)s)")
                    % {"source": _source_label(source)},
                    fields=("provider_state",),
                )
                return _applied(payment=payment)
            if payment.status == PaymentStatus.CLOSED:
                return _duplicate(payment=payment)
            return _ignored("out_of_order", f"trade {result.state} but payment {payment.status}")
        if result.state == TradeState.PAYERROR and payment.status == PaymentStatus.PENDING:
            payment.provider_state = result.state
            move_payment(
                payment,
                PaymentStatus.FAILED,
                actor=actor,
                note=result.state_desc or result.state,
                fields=("provider_state",),
            )
            return _applied(payment=payment)
        if result.state and payment.provider_state != result.state:
            Payment.objects.filter(pk=payment.pk).update(provider_state=result.state)
        return _ignored("not_final", f"trade state {result.state}", payment=payment)


def _confirm(payment: Payment, result: TradeResult, *, actor: Actor, source: str) -> None:
    """Record the money and offer it to the order, inside the caller's transaction.

    orders' in-transaction subscriber to PaymentSucceeded marks the order paid, or raises
    `order_not_payable` (cancelled, timed out, paid by another attempt). Then the savepoint rolls
    the acceptance back, the payment is kept as received for a closed order and refunded.
    """
    before = payment.status
    payment.transaction_id = result.transaction_id[:64]
    payment.paid_at = result.success_time or timezone.now()
    payment.payer_total_fen = result.payer_total_fen
    payment.provider_state = result.state
    money_fields = ("transaction_id", "paid_at", "payer_total_fen", "provider_state")
    note = _("paid; confirmed by %(source)s") % {"source": _source_label(source)}
    try:
        with transaction.atomic():
            payment.applied_to_order = True
            move_payment(
                payment,
                PaymentStatus.SUCCEEDED,
                actor=actor,
                note=note,
                fields=(*money_fields, "applied_to_order"),
            )
            events.publish(
                PaymentSucceeded(
                    order_id=payment.order_id,
                    payment_id=payment.pk,
                    amount_fen=payment.amount_fen,
                    transaction_id=payment.transaction_id,
                )
            )
    except (DomainError, IntegrityError) as exc:
        refused = isinstance(exc, DomainError) and exc.code == ORDER_NOT_PAYABLE
        already_applied = (
            isinstance(exc, IntegrityError)
            and Payment.objects.filter(order_id=payment.order_id, applied_to_order=True)
            .exclude(pk=payment.pk)
            .exists()
        )
        if not (refused or already_applied):
            raise
        payment.status = before
        payment.applied_to_order = False
        why = exc.message if isinstance(exc, DomainError) else _("the order is already paid")
        move_payment(
            payment,
            PaymentStatus.RECEIVED_CLOSED,
            actor=actor,
            note=_("paid, but the order refused it (%(why)s); refunding") % {"why": why},
            fields=money_fields,
        )
        refund = _open_refund(
            payment,
            refund_key=f"unapplied-{payment.out_trade_no}",
            amount_fen=payment.amount_fen,
            origin=RefundOrigin.UNAPPLIED,
            reason="订单已关闭，款项原路退回",
            actor=actor,
        )
        audit.record(
            actor,
            "payments.unapplied_refund",
            obj=payment,
            summary=_("Money for order %(order)s arrived after it closed; refund %(refund)s")
            % {"order": payment.order_id, "refund": refund.out_refund_no},
            data={"amount_fen": payment.amount_fen, "why": str(why)},
        )
        log.warning(
            "payment %s arrived for order %s that cannot take it (%s); refunding %s",
            payment.out_trade_no,
            payment.order_id,
            why,
            refund.out_refund_no,
        )


# --- notifications --------------------------------------------------------------------------------


@dataclass
class NotificationAnswer:
    http_status: int
    message: str = ""
    log_id: int | None = None
    outcome: Outcome | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.http_status < 300


def _header(headers, name: str) -> str:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return ""


def receive_notification(
    provider_name: str, headers, body: bytes, *, remote_addr: str | None = None
) -> NotificationAnswer:
    """Handle one notification request from start to answer; every request leaves a log row."""
    actor = system_actor(f"{provider_name} notification")
    serial = _header(headers, "wechatpay-serial")[:64]
    text = body[:MAX_BODY_BYTES].decode("utf-8", "replace")
    with transaction.atomic():
        entry = NotificationLog.objects.create(
            provider=provider_name if provider_name in Provider.values else Provider.WECHAT,
            serial=serial,
            remote_addr=remote_addr or None,
            body=text[:16000],
        )
        record_creation(
            entry,
            table=NOTIFICATION_TRANSITIONS,
            history=NotificationStatusChange,
            subject_field="notification",
            actor=actor,
        ).save(force_insert=True)
    if len(body) > MAX_BODY_BYTES:
        return _finish(entry, _rejected("too_large", "body too large", 413), actor)
    try:
        provider = get_provider(provider_name)
        notification = provider.parse_notification(headers, body)
    except NotificationRejected as exc:
        log.warning("%s notification %s rejected: %s", provider_name, entry.pk, exc.message)
        _note_claims(entry, text)
        return _finish(entry, _rejected(exc.reason, exc.message, exc.status), actor)
    except DomainError as exc:  # provider not configured here
        log.error("%s notification %s: %s", provider_name, entry.pk, exc.message)
        return _finish(entry, _rejected("not_configured", exc.message, 404), actor)

    entry.notification_id = notification.notification_id
    entry.event_type = notification.event_type
    entry.kind = notification.kind
    entry.signed_at = notification.signed_at
    entry.resource = notification.resource
    if notification.trade:
        entry.out_trade_no = notification.trade.out_trade_no[:32]
    if notification.refund:
        entry.out_refund_no = notification.refund.out_refund_no[:64]
        entry.out_trade_no = notification.refund.out_trade_no[:32]
    try:
        with transaction.atomic():
            # The figures are checked before anything is called a duplicate: a copy of a processed
            # notification that claims another amount or order is refused, not acknowledged.
            # Applying twice is prevented by the payment's (refund's) own state under its lock;
            # the unique (provider, notification id) among processed rows backs that up.
            if notification.kind == NotificationKind.PAYMENT:
                outcome = apply_trade_result(notification.trade, source="notification", actor=actor)
            elif notification.kind == NotificationKind.REFUND:
                outcome = apply_refund_result(
                    notification.refund, source="notification", actor=actor
                )
            else:
                outcome = _ignored("unsupported_event", f"event {notification.event_type}")
            # Recorded in the same transaction as the change it caused: processed <=> applied.
            answer = _finish(entry, outcome, actor)
    except IntegrityError as exc:
        entry.status = NotificationStatus.RECEIVED
        already = (
            entry.notification_id
            and NotificationLog.objects.filter(
                provider=entry.provider,
                notification_id=entry.notification_id,
                status=NotificationStatus.PROCESSED,
            ).exists()
        )
        if already:  # a concurrent copy was processed first (unique notification id)
            return _finish(entry, _duplicate("processed concurrently"), actor)
        log.exception("%s notification %s failed", provider_name, entry.pk)
        return _finish(
            entry,
            Outcome(
                NotificationStatus.FAILED,
                reason="error",
                message=f"{type(exc).__name__}: {exc}"[:500],
                http_status=500,
            ),
            actor,
        )
    except Exception as exc:
        log.exception("%s notification %s failed", provider_name, entry.pk)
        entry.status = NotificationStatus.RECEIVED
        return _finish(
            entry,
            Outcome(
                NotificationStatus.FAILED,
                reason="error",
                message=f"{type(exc).__name__}: {exc}"[:500],
                http_status=500,
            ),
            actor,
        )
    if answer.http_status >= 400:
        log.warning(
            "%s notification %s (%s) answered %s: %s",
            provider_name,
            entry.pk,
            entry.notification_id,
            answer.http_status,
            answer.message,
        )
    return answer


def _note_claims(entry: NotificationLog, text: str) -> None:
    """For the log: what an unverified body claims to be (never trusted, never applied)."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    if isinstance(data, dict):
        entry.notification_id = str(data.get("id") or "")[:64]
        entry.event_type = str(data.get("event_type") or "")[:40]


def _finish(entry: NotificationLog, outcome: Outcome, actor: Actor) -> NotificationAnswer:
    entry.reason = outcome.reason[:32]
    entry.message = outcome.message
    entry.http_status = outcome.http_status
    entry.decided_at = timezone.now()
    if outcome.payment is not None:
        entry.payment = outcome.payment
    if outcome.refund is not None:
        entry.refund = outcome.refund
        entry.payment_id = outcome.refund.payment_id
    if entry.payment_id is None and entry.out_trade_no:
        entry.payment_id = (
            Payment.objects.filter(out_trade_no=entry.out_trade_no).values_list("pk", flat=True)
        ).first()
    if entry.refund_id is None and entry.out_refund_no:
        entry.refund_id = (
            Refund.objects.filter(out_refund_no=entry.out_refund_no).values_list("pk", flat=True)
        ).first()
    with transaction.atomic(savepoint=False):  # see apply_trade_result
        move_notification(
            entry,
            outcome.status,
            actor=actor,
            note=outcome.reason,
            fields=(
                "notification_id",
                "event_type",
                "kind",
                "signed_at",
                "resource",
                "out_trade_no",
                "out_refund_no",
                "reason",
                "message",
                "http_status",
                "decided_at",
                "payment",
                "refund",
            ),
        )
    return NotificationAnswer(outcome.http_status, outcome.message, entry.pk, outcome)


# --- refunds --------------------------------------------------------------------------------------


def _open_refund(
    payment: Payment,
    *,
    refund_key: str,
    amount_fen: int,
    origin: str,
    reason: str,
    actor: Actor,
) -> Refund:
    """Create the refund row (idempotent by refund_key) and send it to the provider after commit.
    The caller holds the payment's lock."""
    existing = Refund.objects.filter(refund_key=refund_key).first()
    if existing is not None:
        if existing.payment_id != payment.pk or existing.amount_fen != amount_fen:
            raise Conflict(
                _("Refund key %(key)s was already used for a different refund.")
                % {"key": refund_key}
            )
        return existing
    if amount_fen <= 0:
        raise ValidationFailed(_("A refund must be more than zero."))
    committed = (
        payment.refunds.exclude(status=RefundStatus.FAILED).aggregate(s=Sum("amount_fen"))["s"] or 0
    )
    if committed + amount_fen > payment.amount_fen:
        raise RefundExceedsPayment(
            _("Refunds would reach %(total)s fen of a %(paid)s fen payment.")
            % {"total": committed + amount_fen, "paid": payment.amount_fen}
        )
    refund = Refund.objects.create(
        refund_key=refund_key,
        out_refund_no=out_refund_no_for(refund_key),
        payment=payment,
        order_id=payment.order_id,
        origin=origin,
        amount_fen=amount_fen,
        reason=reason[:80],
        next_attempt_at=timezone.now(),
    )
    record_creation(
        refund,
        table=REFUND_TRANSITIONS,
        history=RefundStatusChange,
        subject_field="refund",
        actor=actor,
        note=refund.get_origin_display(),
    ).save(force_insert=True)
    from .tasks import enqueue, submit_refund_task

    transaction.on_commit(lambda: enqueue(submit_refund_task, refund.pk))
    return refund


def open_order_refund(
    order_id: int, refund_key: str, amount_fen: int, reason: str = "", *, actor: Actor
) -> Refund:
    """Orders approved a refund (RefundRequested): record it against the payment that paid the
    order. Runs inside orders' transaction, so a refund that cannot be made undoes the approval."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(order_id=order_id, applied_to_order=True)
            .first()
        )
        if payment is None:
            raise NothingToRefund()
        return _open_refund(
            payment,
            refund_key=refund_key,
            amount_fen=amount_fen,
            origin=RefundOrigin.ORDER,
            reason=reason,
            actor=actor,
        )


def submit_refund(refund_id: int) -> Refund:
    """Ask the provider to carry out a pending refund (again, if need be: same out_refund_no)."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = refund.payment
    Refund.objects.filter(pk=refund.pk).update(attempts=refund.attempts + 1)
    try:
        result = get_provider(payment.provider).refund(
            out_trade_no=payment.out_trade_no,
            transaction_id=payment.transaction_id,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            total_fen=payment.amount_fen,
            reason=refund.reason,
        )
    except ProviderError as exc:
        if exc.transient:
            delay = REFUND_RETRY[min(refund.attempts, len(REFUND_RETRY) - 1)]
            Refund.objects.filter(pk=refund.pk).update(
                last_error=str(exc)[:255], next_attempt_at=timezone.now() + delay
            )
            log.warning(
                "refund %s: provider busy (%s); retry in %s", refund.out_refund_no, exc, delay
            )
            from .tasks import enqueue, submit_refund_task

            enqueue(submit_refund_task, refund.pk, delay=delay)
        else:
            _fail_refund(refund.pk, str(exc))
        refund.refresh_from_db()
        return refund
    apply_refund_result(result, source="refund request")
    refund.refresh_from_db()
    return refund


def _fail_refund(refund_id: int, why: str) -> None:
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if RefundStatus.FAILED not in REFUND_TRANSITIONS[refund.status]:
            return
        refund.last_error = why[:255]
        move_refund(
            refund,
            RefundStatus.FAILED,
            actor=system_actor(),
            note=_("the provider refused: %(why)s") % {"why": why},
            fields=("last_error",),
        )
        if refund.origin == RefundOrigin.ORDER:
            events.publish(RefundFailed(refund.order_id, refund.refund_key, why[:200]))
        log.error("refund %s failed: %s", refund.out_refund_no, why)


_REFUND_TARGET = {
    RefundState.SUCCESS: RefundStatus.SUCCEEDED,
    RefundState.CLOSED: RefundStatus.FAILED,
    RefundState.PROCESSING: RefundStatus.PROCESSING,
    RefundState.ABNORMAL: RefundStatus.ABNORMAL,
}


def apply_refund_result(
    result: RefundResult, *, source: str, actor: Actor | None = None
) -> Outcome:
    """Bring our refund in line with the provider's. Safe to call any number of times; news that
    arrives out of order (CLOSED after SUCCESS) changes nothing."""
    actor = actor or system_actor(source)
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update()
            .select_related("payment")
            .filter(out_refund_no=result.out_refund_no)
            .first()
        )
        if refund is None:
            log.error(
                "provider reported unknown out_refund_no %s via %s", result.out_refund_no, source
            )
            return _rejected(
                "unknown_refund",
                f"no refund with out_refund_no {result.out_refund_no!r}",
                http_status=404,
            )
        if result.out_trade_no and result.out_trade_no != refund.payment.out_trade_no:
            return _rejected(
                "trade_mismatch",
                f"refund belongs to {refund.payment.out_trade_no}, not {result.out_trade_no}",
                refund=refund,
            )
        if result.amount_fen is not None and result.amount_fen != refund.amount_fen:
            log.error(
                "refund amount mismatch for %s: provider %s, ours %s",
                refund.out_refund_no,
                result.amount_fen,
                refund.amount_fen,
            )
            return _rejected(
                "amount_mismatch",
                f"refund amount {result.amount_fen} does not match {refund.amount_fen}",
                refund=refund,
            )
        target = _REFUND_TARGET.get(result.status)
        if target is None:
            return _ignored("unknown_status", f"refund status {result.status!r}", refund=refund)
        if refund.status == target:
            return _duplicate(refund=refund)
        if target not in REFUND_TRANSITIONS[refund.status]:
            log.warning(
                "out-of-order refund news for %s: %s while %s; ignored",
                refund.out_refund_no,
                result.status,
                refund.status,
            )
            return _ignored(
                "out_of_order", f"refund is {refund.status}; {result.status} ignored", refund=refund
            )
        refund.provider_status = result.status
        refund.refund_id = result.refund_id[:64] or refund.refund_id
        refund.user_received_account = result.user_received_account or refund.user_received_account
        fields = ["provider_status", "refund_id", "user_received_account"]
        if target == RefundStatus.SUCCEEDED:
            refund.succeeded_at = result.success_time or timezone.now()
            fields.append("succeeded_at")
        move_refund(
            refund,
            target,
            actor=actor,
            note=_("%(status)s via %(source)s")
            % {"status": result.status, "source": _source_label(source)},
            fields=tuple(fields),
        )
        if target == RefundStatus.SUCCEEDED:
            payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
            payment.refunded_fen += refund.amount_fen
            if payment.refunded_fen == payment.amount_fen and payment.status in (
                PaymentStatus.SUCCEEDED,
                PaymentStatus.RECEIVED_CLOSED,
            ):
                move_payment(
                    payment,
                    PaymentStatus.REFUNDED,
                    actor=actor,
                    note=refund.out_refund_no,
                    fields=("refunded_fen",),
                )
            else:
                payment.save(update_fields=["refunded_fen", "updated_at"])
            if refund.origin == RefundOrigin.ORDER:
                events.publish(
                    RefundSucceeded(refund.order_id, refund.refund_key, refund.amount_fen)
                )
        elif target == RefundStatus.FAILED and refund.origin == RefundOrigin.ORDER:
            events.publish(RefundFailed(refund.order_id, refund.refund_key, result.status))
        return _applied(refund=refund)


# --- asking the provider (reconciliation and the console's "query provider now") -----------------


def _staff_check(actor: Actor) -> None:
    if not actor.is_system:
        authorize(actor, "payments.manage")


def sync_payment(payment_id: int, *, actor: Actor, now=None) -> Outcome:
    """Ask the provider about a payment and apply the answer through the notification code path.
    An unpaid attempt past its expiry is closed with the provider."""
    _staff_check(actor)
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound()
    provider = get_provider(payment.provider)
    now = now or timezone.now()
    try:
        result = provider.query_payment(payment.out_trade_no)
    except ProviderError as exc:
        Payment.objects.filter(pk=payment.pk).update(last_synced_at=now, last_error=str(exc)[:255])
        raise
    Payment.objects.filter(pk=payment.pk).update(last_synced_at=now, last_error="")
    if result is None:
        outcome = _ignored("not_found", "the provider has no such trade", payment=payment)
        grace = timedelta(minutes=settings.SIYU_PAYMENT_RECONCILE_AFTER_MINUTES)
        if payment.status == PaymentStatus.PENDING and payment.created_at < now - grace:
            # The prepay call never reached the provider: nothing can be paid on this attempt.
            outcome = _close_locally(
                payment.pk, actor=actor, note=_("unknown to the provider"), state="NOT_FOUND"
            )
    else:
        outcome = apply_trade_result(result, source="query", actor=actor)
        payment.refresh_from_db()
        expired = payment.expires_at < now - timedelta(minutes=1)
        if (
            payment.status == PaymentStatus.PENDING
            and result.state in (TradeState.NOTPAY, TradeState.USERPAYING)
            and expired
        ):
            outcome = close_attempt(payment.pk, actor=actor, note=_("expired unpaid"))
    if actor.is_staff:
        audit.record(
            actor,
            "payments.queried",
            obj=payment,
            summary=f"{payment.out_trade_no}: {outcome.status} {outcome.reason}".strip(),
        )
    return outcome


def _close_locally(payment_id: int, *, actor: Actor, note: str, state: str = "") -> Outcome:
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.FAILED):
            return _ignored("not_open", payment=payment)
        if state:
            payment.provider_state = state
        move_payment(
            payment, PaymentStatus.CLOSED, actor=actor, note=note, fields=("provider_state",)
        )
        return _applied(payment=payment)


def close_attempt(payment_id: int, *, actor: Actor, note: str = "") -> Outcome:
    """Close an unpaid attempt with the provider, then here. If it turns out to be paid, the
    payment is applied instead (and refunded if the order no longer takes it)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status not in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        return _ignored("not_open", payment=payment)
    provider = get_provider(payment.provider)
    try:
        provider.close_payment(payment.out_trade_no)
    except ProviderError as exc:
        if exc.provider_code == "ORDERPAID":
            result = provider.query_payment(payment.out_trade_no)
            if result is not None:
                return apply_trade_result(result, source="query", actor=actor)
            raise
        if not (exc.http_status == 404 or exc.provider_code in ("ORDER_NOT_EXIST", "ORDER_CLOSED")):
            Payment.objects.filter(pk=payment.pk).update(last_error=str(exc)[:255])
            raise
    return _close_locally(payment.pk, actor=actor, note=note or _("closed"), state="CLOSED")


def close_payments_for_order(order_id: int, *, actor: Actor) -> int:
    """The order was cancelled: close its open attempts so the shopper can no longer pay them."""
    closed = 0
    for payment_id in Payment.objects.filter(
        order_id=order_id, status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED]
    ).values_list("pk", flat=True):
        try:
            close_attempt(payment_id, actor=actor, note=_("order cancelled"))
            closed += 1
        except ProviderError as exc:
            log.warning("could not close payment %s of order %s: %s", payment_id, order_id, exc)
    return closed


def sync_refund(refund_id: int, *, actor: Actor) -> Refund:
    """Send a refund the provider has not accepted yet, or ask how an accepted one is going."""
    _staff_check(actor)
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None:
        raise NotFound()
    if refund.status == RefundStatus.PENDING:
        refund = submit_refund(refund.pk)
    else:
        now = timezone.now()
        try:
            result = get_provider(refund.payment.provider).query_refund(refund.out_refund_no)
        except ProviderError as exc:
            Refund.objects.filter(pk=refund.pk).update(
                last_synced_at=now, last_error=str(exc)[:255]
            )
            raise
        Refund.objects.filter(pk=refund.pk).update(last_synced_at=now)
        if result is not None:
            apply_refund_result(result, source="query", actor=actor)
        refund.refresh_from_db()
    if actor.is_staff:
        audit.record(
            actor,
            "payments.refund_queried",
            obj=refund,
            summary=f"{refund.out_refund_no}: {refund.status}",
        )
    return refund


@dataclass
class ReconcileReport:
    payments_checked: int = 0
    payments_changed: int = 0
    refunds_submitted: int = 0
    refunds_checked: int = 0
    errors: int = 0
    deliveries_restarted: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def reconcile(*, now=None, limit: int = 200) -> ReconcileReport:
    """Ask the provider about whatever it has not told us about (notifications get lost; WeChat
    Pay stops retrying after about 24 hours) and apply the answers through the same code path."""
    now = now or timezone.now()
    actor = system_actor("reconciliation")
    report = ReconcileReport()
    cutoff = now - timedelta(minutes=settings.SIYU_PAYMENT_RECONCILE_AFTER_MINUTES)
    not_recently_asked = Q(last_synced_at__isnull=True) | Q(last_synced_at__lte=cutoff)
    pending = (
        Payment.objects.filter(status=PaymentStatus.PENDING, created_at__lte=cutoff)
        .filter(not_recently_asked)
        .order_by(F("last_synced_at").asc(nulls_first=True), "id")
        .values_list("pk", flat=True)[:limit]
    )
    for payment_id in list(pending):
        report.payments_checked += 1
        try:
            outcome = sync_payment(payment_id, actor=actor, now=now)
        except DomainError as exc:
            report.errors += 1
            log.warning("reconciliation: payment %s: %s", payment_id, exc)
            continue
        if outcome.status == NotificationStatus.PROCESSED:
            report.payments_changed += 1

    # A minute's grace: a refund just opened is being sent by its own task right now.
    due = Refund.objects.filter(
        status=RefundStatus.PENDING, next_attempt_at__lte=now - timedelta(minutes=1)
    )
    for refund_id in list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]):
        report.refunds_submitted += 1
        try:
            submit_refund(refund_id)
        except DomainError as exc:
            report.errors += 1
            log.warning("reconciliation: refund %s: %s", refund_id, exc)

    open_refunds = (
        Refund.objects.filter(
            status__in=[RefundStatus.PROCESSING, RefundStatus.ABNORMAL], updated_at__lte=cutoff
        )
        .filter(not_recently_asked)
        .order_by(F("last_synced_at").asc(nulls_first=True), "id")
        .values_list("pk", flat=True)[:limit]
    )
    for refund_id in list(open_refunds):
        report.refunds_checked += 1
        try:
            sync_refund(refund_id, actor=actor)
        except DomainError as exc:
            report.errors += 1
            log.warning("reconciliation: refund %s: %s", refund_id, exc)

    if settings.SIYU_DEV_PAY_ALLOWED:
        from . import devpay

        report.deliveries_restarted = devpay.sweep(now)
    if report.payments_checked or report.refunds_submitted or report.refunds_checked:
        log.info("payment reconciliation: %s", report.as_dict())
    return report


def prune_notification_log(*, now=None) -> int:
    """Forget notifications that changed nothing once they are old (floods of forged requests must
    not grow the table for ever); processed ones stay as the evidence behind each payment."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SIYU_PAYMENT_NOTIFICATION_LOG_DAYS)
    old = NotificationLog.objects.filter(received_at__lt=cutoff).exclude(
        status=NotificationStatus.PROCESSED
    )
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:5000])
        if not ids:
            return deleted
        _total, per_model = NotificationLog.objects.filter(pk__in=ids).delete()  # history cascades
        deleted += per_model.get(NotificationLog._meta.label, 0)


# --- reading, for the console, API and the mall ---------------------------------------------------


def payments_for_order(order_id: int, *, actor: Actor):
    """A shopper sees their own order's payments; staff need payments.view."""
    from siyu.orders.queries import payable_order

    if actor.kind == "customer":
        if payable_order(order_id).customer_id != actor.customer_id:
            raise NotFound()
    elif not actor.is_system:
        authorize(actor, "payments.view")
    return Payment.objects.filter(order_id=order_id).order_by("-created_at", "-id")


def payment_for_result_page(out_trade_no: str) -> Payment:
    payment = Payment.objects.filter(out_trade_no=out_trade_no).first()
    if payment is None:
        raise NotFound()
    return payment


def visible_payments(actor: Actor):
    authorize(actor, "payments.view")
    return Payment.objects.select_related("order")


def visible_refunds(actor: Actor):
    authorize(actor, "payments.view")
    return Refund.objects.select_related("order", "payment")


def require_view(actor: Actor) -> None:
    if not actor.can("payments.view"):
        raise PermissionDenied()
