"""`siyu serve`: migrate, load demo data on first start, then run web server and worker together.

Ctrl-C stops both. In development the web server is Django's; with SIYU_ENV=production it is
gunicorn with several workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the console, API, H5 mall and background worker together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=settings.SIYU_BIND)
        parser.add_argument("--no-demo", action="store_true", help="do not load demo data")
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3"))
        )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        from siyu.staff.models import User

        first_start = not User.objects.exists()
        if first_start and not options["no_demo"]:
            self.stdout.write("First start: loading demo data (a minute or so)...")
            call_command("demo")
        bind = options["bind"]
        python = sys.executable
        siyu_cmd = [python, "-m", "siyu.cli"]
        if settings.PRODUCTION:
            web = [
                python,
                "-m",
                "gunicorn",
                "siyu.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(options["workers"]),
                "--access-logfile",
                "-",
            ]
        else:
            web = [*siyu_cmd, "runserver", "--noreload", bind]
        procs = [
            subprocess.Popen(web),
            subprocess.Popen([*siyu_cmd, "worker"]),
        ]
        self.stdout.write(self.style.SUCCESS(f"\nsiyu is running at http://{bind}/"))
        self.stdout.write(f"  console:  http://{bind}/console/")
        self.stdout.write(f"  H5 mall:  http://{bind}/m/")
        self.stdout.write(f"  API docs: http://{bind}/api/v1/docs")
        if first_start and not options["no_demo"] or User.objects.filter(username="demo").exists():
            from siyu.core.demodata import DEMO_PASSWORD

            self.stdout.write(
                f"  demo login: demo / {DEMO_PASSWORD}  (also clerk1, manager1, analyst)"
            )
        self.stdout.write("Press Ctrl-C to stop.\n")

        def stop(*_):
            for p in procs:
                if p.poll() is None:
                    p.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
