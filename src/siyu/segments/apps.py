from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class SegmentsConfig(SiyuAppConfig):
    default = True
    name = "siyu.segments"
    label = "segments"
    verbose_name = _("Segments")
    demo_priority = 95  # after analytics has scored the demo customers
    nav = (
        NavItem(_("Segments"), "segments:list", "segments.view", section=_("Analytics"), order=590),
    )
    permissions = {
        # saved segments, counts and member previews (within the customers one may see)
        "segments.view": {R.OPERATOR, R.STORE_MANAGER, R.CLERK, R.ANALYST},
        # build and save segments (store managers: for their store; others: brand-wide)
        "segments.edit": {R.OPERATOR, R.STORE_MANAGER, R.ANALYST},
        # freeze the members for a campaign (a materialised snapshot)
        "segments.materialise": {R.OPERATOR, R.STORE_MANAGER},
        # member lists as CSV/XLSX; personal data follows customers.view_pii / customers.export
        "segments.export": {R.OPERATOR, R.STORE_MANAGER, R.ANALYST},
    }
