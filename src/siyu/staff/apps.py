from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig


class StaffConfig(SiyuAppConfig):
    default = True
    name = "siyu.staff"
    label = "staff"
    verbose_name = _("Staff and stores")
    demo_priority = 10
    nav = (
        NavItem(_("Staff"), "staff:list", "staff.manage", section=_("Settings"), order=900),
        NavItem(_("Stores"), "staff:stores", "staff.view_stores", section=_("Settings"), order=910),
        NavItem(_("Audit trail"), "core:audit", "audit.view", section=_("Settings"), order=990),
    )
    permissions = {
        "staff.manage": {Role.OPERATOR},
        "staff.view_stores": {Role.OPERATOR, Role.STORE_MANAGER, Role.ANALYST},
    }
