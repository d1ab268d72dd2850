"""`siyu demo`: build a believable brand so every console page has something true to show."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from siyu.core.demodata import DemoContext, build_demo


class Command(BaseCommand):
    help = "Create demo stores, staff, products, customers and a year of orders."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        ctx = DemoContext(seed=options["seed"], customers=options["customers"], out=self.stdout)
        build_demo(ctx)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
