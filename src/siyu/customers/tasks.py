"""Background work for the customer pool: re-evaluating rule tags."""

from __future__ import annotations

from django_tasks import task

from siyu.core.schedule import periodic


@periodic("customers.refresh_rule_tags", at="04:00")
@task()
def refresh_rule_tags(tag_ids: list[int] | None = None) -> dict[str, list[int]]:
    """Nightly, after imports, or on demand from the tags page: rule tags follow the data."""
    from . import services

    result = services.refresh_rule_tags(tag_ids)
    return {str(tag_id): list(counts) for tag_id, counts in result.items()}
