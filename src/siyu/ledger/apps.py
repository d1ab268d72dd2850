from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class LedgerConfig(SiyuAppConfig):
    """The double-entry ledger every commission and payout is written to."""

    default = True
    name = "siyu.ledger"
    label = "ledger"
    verbose_name = _("Ledger")
    demo_priority = 55
    nav = (
        NavItem(
            _("Withdrawals"),
            "ledger:withdrawals",
            "ledger.view",
            section=_("Distribution"),
            order=56,
        ),
        NavItem(_("Ledger"), "ledger:accounts", "ledger.view", section=_("Distribution"), order=58),
    )
    permissions = {
        "ledger.view": {R.OPERATOR, R.ANALYST},
        "ledger.approve_withdrawal": {R.OPERATOR},
        "ledger.manage_clawbacks": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("ledger.view"):
            return []
        from django.urls import reverse

        from .models import Withdrawal, WithdrawalStatus

        waiting = Withdrawal.objects.filter(status=WithdrawalStatus.REQUESTED).count()
        return [
            {
                "label": _("Withdrawals to review"),
                "value": waiting,
                "url": reverse("ledger:withdrawals") + "?status=requested",
            }
        ]
