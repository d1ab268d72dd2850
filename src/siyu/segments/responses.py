"""HTTP downloads of a segment export, shared by the console and the API."""

from __future__ import annotations

import tempfile

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from . import services

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(plan: services.ExportPlan, fmt: str, stem: str):
    """CSV streams row by row; XLSX is written to a temporary file first (a zip needs seeking)."""
    filename = f"{stem}-{timezone.localtime():%Y%m%d-%H%M}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(
            services.csv_chunks(plan), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it when sent)
    services.write_export(plan, spool, fmt)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
