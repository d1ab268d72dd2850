from django.utils.translation import gettext_lazy as _

from siyu.core.apps import SiyuAppConfig


class MallConfig(SiyuAppConfig):
    """The H5 mall (微商城) shoppers use on their phones, mounted at /m/."""

    default = True
    name = "siyu.mall"
    label = "mall"
    verbose_name = _("H5 mall")
    h5_prefix = ""
    demo_priority = 90

    def ready(self) -> None:
        super().ready()
        from . import checks  # noqa: F401  (registers the configuration checks)
