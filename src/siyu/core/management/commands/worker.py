"""`siyu worker`: run background tasks and the periodic-job scheduler in one process."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from siyu.core import schedule

log = logging.getLogger("siyu.worker")


class Command(BaseCommand):
    help = "Run the task worker (database queue, or Redis when REDIS_URL is set) and the scheduler."

    def add_arguments(self, parser):
        parser.add_argument("--no-scheduler", action="store_true", help="run tasks only")
        parser.add_argument("--tick", type=float, default=30.0, help="scheduler interval, seconds")
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")

    def handle(self, *args, **options):
        stop = threading.Event()
        if not options["no_scheduler"]:

            def loop():
                while not stop.is_set():
                    try:
                        schedule.tick()
                    except Exception:
                        log.exception("scheduler tick failed")
                    finally:
                        close_old_connections()
                    stop.wait(options["tick"])

            threading.Thread(target=loop, name="siyu-scheduler", daemon=True).start()
        try:
            if settings.REDIS_URL:
                call_command("rqworker", "default", with_scheduler=True, burst=options["batch"])
            else:
                worker_args = ["--queue-name", "*", "--no-reload", "--interval", "1"]
                if options["batch"]:
                    worker_args.append("--batch")
                call_command("db_worker", *worker_args)
        finally:
            stop.set()
