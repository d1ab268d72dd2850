"""Demo segments: the examples of docs/segments.md, saved brand-wide, plus one store's own.

Runs after the analytics demo has scored the demo customers (demo_priority 95), so score-based
segments have members from the first start.
"""

from __future__ import annotations

from siyu.core.access import Actor, Role
from siyu.core.demodata import DemoContext

from . import services
from .examples import EXAMPLES
from .models import Segment


def build(ctx: DemoContext) -> None:
    if Segment.objects.exists():
        ctx.log("segments: already present, skipped")
        return
    from siyu.staff.models import User

    operator = User.objects.filter(role=Role.OPERATOR).first()
    actor = Actor.for_user(operator) if operator else Actor.system("demo")
    for example in EXAMPLES:
        services.create_segment(
            actor, name=example["name"], rule=example["rule"], description=example["description"]
        )
    manager = User.objects.filter(role=Role.STORE_MANAGER).select_related("store").first()
    if manager:
        services.create_segment(
            Actor.for_user(manager),
            name="本店会员·本月生日",
            description="本店客户中本月过生日、可短信触达的：店长安排生日礼。",
            rule={
                "op": "and",
                "children": [
                    {"field": "birthday_month", "op": "in", "value": [ctx.now.month]},
                    {"field": "contactable", "op": "in", "value": ["sms", "wecom"]},
                ],
            },
        )
    ctx.log(f"segments: {Segment.objects.count()} saved segments")
