"""Membership's periodic jobs: points expiry, tier evaluation, card reminders and monthly card
coupons. Each is idempotent (keys and unique rows), so a retried or doubled run changes nothing."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from siyu.core.schedule import periodic


@periodic("membership.expire_points", every=timedelta(days=1), at="00:15")
@task()
def expire_points() -> int:
    from .services.points import expire_due

    total = 0
    while True:
        n = expire_due(limit=1000)
        total += n
        if n == 0:
            return total


@periodic("membership.evaluate_tiers", every=timedelta(days=1), at="03:30")
@task()
def evaluate_tiers() -> dict:
    from .services.tiers import evaluate_all

    return evaluate_all()


@periodic("membership.card_reminders", every=timedelta(days=1), at="09:00")
@task()
def card_reminders() -> int:
    from .services.cards import remind_due

    return remind_due()


@periodic("membership.card_coupons", every=timedelta(days=1), at="08:00")
@task()
def card_coupons() -> int:
    from .services.cards import grant_monthly_coupons

    return grant_monthly_coupons()


@periodic("membership.deliver_cards", every=timedelta(minutes=10))
@task()
def deliver_cards() -> int:
    """Safety net: a card-only order whose after-commit delivery did not run is delivered here."""
    from .services.cards import deliver_pending

    return deliver_pending()
