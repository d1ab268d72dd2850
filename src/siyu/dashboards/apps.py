from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class DashboardsConfig(SiyuAppConfig):
    default = True
    name = "siyu.dashboards"
    label = "dashboards"
    verbose_name = _("Dashboards")
    nav = (
        NavItem(
            _("Dashboards"),
            "dashboards:overview",
            "dashboards.view",
            section=_("Analytics"),
            order=580,
        ),
    )
    permissions = {
        # brand figures; store managers see their own store's customers only
        "dashboards.view": {R.OPERATOR, R.ANALYST, R.STORE_MANAGER},
    }

    def ready(self) -> None:
        super().ready()
        from . import cubes  # noqa: F401  (registers the pre-aggregated tables with the index)
