"""Console context: the navigation the current role may see."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from .access import actor_from_request
from .apps import siyu_configs


def console(request) -> dict:
    if not request.path.startswith("/console"):
        return {}
    actor = actor_from_request(request)
    if actor.kind != "staff":
        return {"actor": actor, "nav_sections": []}
    items = []
    for config in siyu_configs():
        for item in config.nav:
            if not actor.can(item.perm):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            items.append((item, url))
    items.sort(key=lambda pair: (pair[0].order, str(pair[0].label)))
    sections: dict[str, list] = {}
    for item, url in items:
        sections.setdefault(str(item.section), []).append(
            {
                "label": item.label,
                "url": url,
                "icon": item.icon,
                "active": url != "/console/"
                and request.path.startswith(url)
                or request.path == url,
            }
        )
    return {"actor": actor, "nav_sections": list(sections.items())}
