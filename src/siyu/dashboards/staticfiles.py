"""Serve Plotly's bundled ``plotly.min.js`` as the static file ``plotly/plotly.min.js``.

The script ships inside the ``plotly`` Python package (``plotly/package_data``), so it is pinned
with the other dependencies and never fetched from a CDN. This finder exposes exactly that one file
to ``collectstatic`` and to WhiteNoise (decision 0007).
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

NAME = "plotly/plotly.min.js"


def plotly_script() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs):
        from django.core.checks import Error

        if not plotly_script().exists():
            return [Error(f"plotly.min.js not found at {plotly_script()}", id="dashboards.E001")]
        return []

    def find(self, path, find_all=False, **kwargs):
        find_all = find_all or kwargs.get("all", False)
        if path == NAME and plotly_script().exists():
            return [str(plotly_script())] if find_all else str(plotly_script())
        return [] if find_all else None

    def list(self, ignore_patterns):
        script = plotly_script()
        if script.exists():
            storage = FileSystemStorage(location=str(script.parent))
            storage.prefix = "plotly"
            yield script.name, storage
