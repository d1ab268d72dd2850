"""Core: the base every siyu app builds on (access, events, audit, console shell, API)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    """One console navigation entry; shown only to roles holding `perm`."""

    label: str
    url_name: str
    perm: str
    section: str = ""
    order: int = 100
    icon: str = ""


class SiyuAppConfig(AppConfig):
    """Base AppConfig for siyu apps.

    Declares, per app: console navigation, permissions granted to roles, URL prefixes, and the
    order in which `siyu demo` builds its demo data. Importing `handlers` registers event
    subscribers.
    """

    # Concrete configs set `default = True`; this base must not be picked as an app's config.
    default = False
    default_auto_field = "django.db.models.BigAutoField"
    nav: tuple[NavItem, ...] = ()
    permissions: dict = {}
    console_prefix: str | None = None  # defaults to the label
    h5_prefix: str | None = None  # defaults to the label
    api_prefix: str | None = None  # defaults to the label
    demo_priority: int = 100

    # Hooks other apps' pages call; override in a config to contribute.
    def home_cards(self, actor) -> list[dict]:
        """Overview cards: [{"label", "value", "hint", "url"}]."""
        return []

    def customer_panels(self, actor, customer) -> list[dict]:
        """Panels on the console customer page: [{"title", "template", "context"}]
        (scores from analytics, commissions from distribution, points from membership...)."""
        return []

    def member_panels(self, actor) -> list[dict]:
        """Panels on the shopper's H5 member page (/m/me/), for `actor.customer_id`:
        [{"title", "template", "context", "order", "url"}] (points and tier from membership,
        coupons from promotions, commissions from distribution...). `order` sorts them (default
        100); `url` optionally links the panel's title to a page of its own."""
        return []

    def product_panels(self, actor, product) -> list[dict]:
        """Panels on the H5 product page for `product` (a group buy running for it, a flash
        sale...): [{"template", "context", "order"}]."""
        return []

    def ready(self) -> None:
        from . import access

        if self.label == "core":
            _check_app_configs()

        access.grant(self.permissions)
        for module in ("handlers", "tasks"):
            name = f"{self.name}.{module}"
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise


def _check_app_configs() -> None:
    from django.core.exceptions import ImproperlyConfigured

    for config in apps.get_app_configs():
        if config.name.startswith("siyu.") and not isinstance(config, SiyuAppConfig):
            raise ImproperlyConfigured(
                f"{config.name}: its AppConfig must subclass SiyuAppConfig and set default = True"
            )


def siyu_configs() -> list[SiyuAppConfig]:
    return [c for c in apps.get_app_configs() if isinstance(c, SiyuAppConfig)]


class CoreConfig(SiyuAppConfig):
    default = True
    name = "siyu.core"
    label = "core"
    verbose_name = _("Core")
    demo_priority = 0
    nav = (NavItem(_("Overview"), "core:home", "console.view", section="", order=0),)
    permissions = {
        "console.view": {"operator", "store_manager", "clerk", "analyst"},
        "audit.view": {"operator"},
    }
