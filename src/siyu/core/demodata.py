"""Demo data orchestration: each app contributes `demo.build(ctx)`, run in `demo_priority` order."""

from __future__ import annotations

import importlib
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .apps import siyu_configs

DEMO_PASSWORD = "siyu-demo-2026"


@dataclass
class DemoContext:
    seed: int = 2026
    customers: int = 3000
    out: object = field(default=sys.stdout)
    now: datetime = field(default_factory=timezone.now)
    shared: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def log(self, message: str) -> None:
        self.out.write(f"  {message}\n")


def build_demo(ctx: DemoContext) -> None:
    for config in sorted(siyu_configs(), key=lambda c: (c.demo_priority, c.label)):
        name = f"{config.name}.demo"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        with transaction.atomic():
            module.build(ctx)
