from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class CatalogConfig(SiyuAppConfig):
    default = True
    name = "siyu.catalog"
    label = "catalog"
    verbose_name = _("Catalogue")
    demo_priority = 30
    nav = (
        NavItem(_("Products"), "catalog:products", "catalog.view", section=_("Commerce"), order=20),
        NavItem(_("Stock"), "catalog:stock", "catalog.view", section=_("Commerce"), order=22),
        NavItem(
            _("Categories and brands"),
            "catalog:categories",
            "catalog.edit",
            section=_("Commerce"),
            order=24,
        ),
        NavItem(
            _("Suppliers"),
            "catalog:suppliers",
            "catalog.suppliers",
            section=_("Commerce"),
            order=26,
        ),
        NavItem(
            _("Stock locations"),
            "catalog:locations",
            "catalog.edit",
            section=_("Settings"),
            order=920,
        ),
    )
    permissions = {
        "catalog.view": {R.OPERATOR, R.STORE_MANAGER, R.CLERK, R.ANALYST},
        # product, SKU, price, category, brand and location changes
        "catalog.edit": {R.OPERATOR},
        # stock adjustments (store managers at their own store only)
        "catalog.stock": {R.OPERATOR, R.STORE_MANAGER},
        "catalog.suppliers": {R.OPERATOR},
        # purchase costs and margins
        "catalog.view_cost": {R.OPERATOR, R.ANALYST},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("catalog.view"):
            return []
        from django.urls import reverse

        from .models import Product, ProductStatus
        from .services import low_stock_skus

        on_shelf = Product.objects.filter(status=ProductStatus.ON_SHELF).count()
        low = len(low_stock_skus(limit=100))
        return [
            {
                "label": _("Products on shelf"),
                "value": on_shelf,
                "hint": _("%(n)s SKUs low on stock") % {"n": low},
                "url": _url(reverse, "catalog:products"),
            }
        ]


def _url(reverse, name: str) -> str:
    from django.urls import NoReverseMatch

    try:
        return reverse(name)
    except NoReverseMatch:
        return ""
