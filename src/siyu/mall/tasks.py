"""Background jobs of the H5 mall."""

from __future__ import annotations

import logging

from django_tasks import task

from siyu.core.schedule import periodic

log = logging.getLogger(__name__)


@periodic("mall.purge_login_codes", at="03:30")
@task()
def purge_login_codes() -> dict:
    """Login codes and throttle counters matter for a day; keep the tables small."""
    from .login import purge_expired

    codes, windows = purge_expired()
    log.info("purged %d login codes and %d throttle windows", codes, windows)
    return {"codes": codes, "windows": windows}
