"""Score the demo brand once, so the console shows scores, groups and a run from the first start."""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext


def build(ctx: DemoContext) -> None:
    from .services import run_scoring

    run = run_scoring(actor=Actor.system("demo"), trigger="demo")
    ctx.log(f"scored {run.customers} customers ({run.buyers} with purchases) in {run.seconds:.1f}s")
