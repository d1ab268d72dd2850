"""Background work of the ledger: payouts, their follow-up, and the nightly self-check."""

from __future__ import annotations

import logging
from datetime import timedelta

from django_tasks import task

from siyu.core.schedule import periodic

log = logging.getLogger(__name__)


@task()
def pay_withdrawal(withdrawal_id: int) -> str:
    from .services import execute_payout

    return execute_payout(withdrawal_id).status


@periodic("ledger.poll_payouts", every=timedelta(minutes=10))
@task()
def poll_payouts() -> int:
    """Follow up payouts still in flight (timeouts, transfers waiting for the payee to confirm)."""
    from .services import refresh_payout, stalled_payouts

    n = 0
    for withdrawal_id in list(stalled_payouts()):
        try:
            refresh_payout(withdrawal_id)
        except Exception:  # one stuck payout must not stop the others
            log.exception("could not refresh payout of withdrawal %s", withdrawal_id)
        n += 1
    return n


@periodic("ledger.check", at="04:30")
@task()
def check_ledger() -> int:
    from .checks import verify

    problems = verify()
    for problem in problems:
        log.error("ledger check: %s", problem)
    return len(problems)
