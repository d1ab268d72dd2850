"""The three state machines of payments: a payment attempt, a refund, and a received notification.

Each table lists where a status may go next; `siyu.core.states.transition` applies it and writes
the history row. Statuses follow the provider's truth: money that arrived is never "un-arrived",
so a closed attempt can still become paid when WeChat Pay says it was.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.core.access import Actor
from siyu.core.states import transition


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the shopper")
    SUCCEEDED = "succeeded", _("Paid")
    RECEIVED_CLOSED = "received_closed", _("Paid to a closed order (refunding)")
    CLOSED = "closed", _("Closed")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


PAID_STATUSES = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.RECEIVED_CLOSED, PaymentStatus.REFUNDED}
)

PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "": frozenset({PaymentStatus.PENDING}),
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.SUCCEEDED,
            PaymentStatus.RECEIVED_CLOSED,
            PaymentStatus.CLOSED,
            PaymentStatus.FAILED,
        }
    ),
    # WeChat Pay reports PAYERROR for a failed attempt; the shopper may still pay it afterwards.
    PaymentStatus.FAILED: frozenset(
        {PaymentStatus.SUCCEEDED, PaymentStatus.RECEIVED_CLOSED, PaymentStatus.CLOSED}
    ),
    # Closing races with paying: when the provider says the money arrived, it did.
    PaymentStatus.CLOSED: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.RECEIVED_CLOSED}),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.RECEIVED_CLOSED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Not yet accepted by the provider")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Refunded")
    FAILED = "failed", _("Failed")
    ABNORMAL = "abnormal", _("Abnormal (needs manual handling)")


REFUND_OPEN_STATUSES = frozenset(
    {RefundStatus.PENDING, RefundStatus.PROCESSING, RefundStatus.ABNORMAL}
)

REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    "": frozenset({RefundStatus.PENDING}),
    RefundStatus.PENDING: frozenset(
        {
            RefundStatus.PROCESSING,
            RefundStatus.SUCCEEDED,
            RefundStatus.FAILED,
            RefundStatus.ABNORMAL,
        }
    ),
    RefundStatus.PROCESSING: frozenset(
        {RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.ABNORMAL}
    ),
    # ABNORMAL: the shopper's card could not take the money; it is settled by hand in the WeChat Pay
    # merchant platform, after which the provider reports SUCCESS (or CLOSED).
    RefundStatus.ABNORMAL: frozenset(
        {RefundStatus.PROCESSING, RefundStatus.SUCCEEDED, RefundStatus.FAILED}
    ),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}


class NotificationStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    DUPLICATE = "duplicate", _("Duplicate (already applied)")
    IGNORED = "ignored", _("Ignored (nothing to change)")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed (will be retried)")


NOTIFICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    "": frozenset({NotificationStatus.RECEIVED}),
    NotificationStatus.RECEIVED: frozenset(
        {
            NotificationStatus.PROCESSED,
            NotificationStatus.DUPLICATE,
            NotificationStatus.IGNORED,
            NotificationStatus.REJECTED,
            NotificationStatus.FAILED,
        }
    ),
    NotificationStatus.PROCESSED: frozenset(),
    NotificationStatus.DUPLICATE: frozenset(),
    NotificationStatus.IGNORED: frozenset(),
    NotificationStatus.REJECTED: frozenset(),
    NotificationStatus.FAILED: frozenset(),
}


def move_payment(payment, target: str, *, actor: Actor, note: str = "", fields=()):
    from .models import PaymentStatusChange

    return transition(
        payment,
        target,
        table=PAYMENT_TRANSITIONS,
        history=PaymentStatusChange,
        subject_field="payment",
        actor=actor,
        note=note,
        update_fields=("updated_at", *fields),
    )


def move_refund(refund, target: str, *, actor: Actor, note: str = "", fields=()):
    from .models import RefundStatusChange

    return transition(
        refund,
        target,
        table=REFUND_TRANSITIONS,
        history=RefundStatusChange,
        subject_field="refund",
        actor=actor,
        note=note,
        update_fields=("updated_at", *fields),
    )


def move_notification(log, target: str, *, actor: Actor, note: str = "", fields=()):
    from .models import NotificationStatusChange

    return transition(
        log,
        target,
        table=NOTIFICATION_TRANSITIONS,
        history=NotificationStatusChange,
        subject_field="notification",
        actor=actor,
        note=note,
        update_fields=fields,
    )


def record_creation(obj, *, table, history, subject_field: str, actor: Actor, note: str = ""):
    """The first history row of a newly created record ("" → its initial status)."""
    from django.utils import timezone

    from siyu.core.states import check_transition

    check_transition(table, "", obj.status)
    return history(
        **{subject_field: obj},
        from_status="",
        to_status=obj.status,
        actor_kind=actor.kind,
        actor_id=actor.user_id if actor.kind == "staff" else actor.customer_id,
        actor_label=actor.label[:150],
        note=note,
        created_at=timezone.now(),
    )
