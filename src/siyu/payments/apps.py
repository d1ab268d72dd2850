from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class PaymentsConfig(SiyuAppConfig):
    default = True
    name = "siyu.payments"
    label = "payments"
    verbose_name = _("Payments")
    demo_priority = 45  # after orders: demo payments are made for the demo's paid orders
    nav = (
        NavItem(_("Payments"), "payments:list", "payments.view", section=_("Commerce"), order=35),
    )
    permissions = {
        "payments.view": {R.OPERATOR, R.ANALYST},
        "payments.manage": {R.OPERATOR},
    }

    def ready(self) -> None:
        super().ready()
        from . import checks  # noqa: F401  (registers the configuration checks)

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("payments.view"):
            return []
        from django.conf import settings
        from django.db.models import Count, Sum
        from django.urls import reverse
        from django.utils import timezone

        from siyu.core.money import format_fen

        from .models import Payment, Refund
        from .states import PAID_STATUSES, PaymentStatus, RefundStatus

        now = timezone.now()
        start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        today = Payment.objects.filter(paid_at__gte=start, status__in=PAID_STATUSES).aggregate(
            n=Count("id"), total=Sum("amount_fen")
        )
        stale = Payment.objects.filter(
            status=PaymentStatus.PENDING,
            created_at__lt=now - timedelta(minutes=settings.SIYU_PAYMENT_RECONCILE_AFTER_MINUTES),
        ).count()
        attention = Refund.objects.filter(
            status__in=[RefundStatus.ABNORMAL, RefundStatus.FAILED]
        ).count()
        url = reverse("payments:list")
        cards = [
            {
                "label": _("Collected today"),
                "value": format_fen(today["total"] or 0),
                "hint": _("%(n)s payments") % {"n": today["n"]},
                "url": f"{url}?status=succeeded",
            },
            {
                "label": _("Payments awaiting confirmation"),
                "value": stale,
                "hint": _("pending longer than %(m)s minutes")
                % {"m": settings.SIYU_PAYMENT_RECONCILE_AFTER_MINUTES},
                "url": f"{url}?status=pending",
            },
        ]
        if attention:
            cards.append(
                {
                    "label": _("Refunds needing attention"),
                    "value": attention,
                    "hint": _("failed or abnormal"),
                    "url": reverse("payments:refunds") + "?status=abnormal",
                }
            )
        return cards
