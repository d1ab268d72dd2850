"""Root URLs: the console, the H5 storefront, the API and the admin, assembled from the apps.

Each app may provide `urls.py` (console, under /console/<prefix>/) and `h5_urls.py` (storefront,
under /m/<prefix>/); routers in `api.py` mount under /api/v1/<prefix>/.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from siyu.core.api import build_api
from siyu.core.apps import siyu_configs


def _optional(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None


api = build_api()

urlpatterns = [
    path("", RedirectView.as_view(url="/console/", permanent=False)),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("console/", include("siyu.core.urls")),
]

for config in siyu_configs():
    if config.label == "core":
        continue
    console = _optional(f"{config.name}.urls")
    if console is not None:
        prefix = config.console_prefix if config.console_prefix is not None else config.label
        urlpatterns.append(path(f"console/{prefix}/" if prefix else "console/", include(console)))
    h5 = _optional(f"{config.name}.h5_urls")
    if h5 is not None:
        prefix = config.h5_prefix if config.h5_prefix is not None else config.label
        urlpatterns.append(path(f"m/{prefix}/" if prefix else "m/", include(h5)))

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
