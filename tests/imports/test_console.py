"""The console upload: permission, validation, background run, progress, report and download."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from siyu.core.access import Role
from siyu.imports.models import ImportJob
from siyu.orders.models import Order

from .exports import TMALL_HEADER, csv_bytes, tmall_row

pytestmark = pytest.mark.django_db


_capture = None


@pytest.fixture(autouse=True)
def _capture_on_commit(django_capture_on_commit_callbacks):
    """Requests commit before their on-commit hooks (the task enqueue) run; tests run inside one
    transaction, so run the hooks a request would have run."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    yield
    _capture = None


def _upload(
    client, content: bytes, name="ExportOrderList.csv", preset="tmall", headers=None, **extra
):
    with _capture(execute=True):
        return client.post(
            reverse("imports:list"),
            {"preset": preset, "file": SimpleUploadedFile(name, content), **extra},
            headers=headers or {},
        )


def _export() -> bytes:
    return csv_bytes(TMALL_HEADER, [tmall_row("1001"), tmall_row("")], encoding="gbk")


@pytest.mark.parametrize(
    "role, status",
    [
        (Role.OWNER, 200),
        (Role.OPERATOR, 200),
        (Role.STORE_MANAGER, 403),
        (Role.CLERK, 403),
        (Role.ANALYST, 403),
    ],
)
def test_only_operators_and_owners_import(make_staff, client, role, status):
    client.force_login(make_staff(role))
    assert client.get(reverse("imports:list")).status_code == status
    response = _upload(client, _export())
    assert response.status_code == (302 if status == 200 else 403)
    assert ImportJob.objects.count() == (1 if status == 200 else 0)


def test_navigation_shows_imports_to_operators_only(make_staff, client):
    client.force_login(make_staff(Role.OPERATOR))
    assert reverse("imports:list").encode() in client.get("/console/").content
    client.force_login(make_staff(Role.CLERK))
    assert reverse("imports:list").encode() not in client.get("/console/").content


def test_upload_runs_in_the_background_then_shows_the_report(operator, client, run_tasks):
    client.force_login(operator)
    response = _upload(client, _export(), headers={"Accept-Language": "en"})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("imports:detail", args=[job.pk])
    assert job.status == "queued" and job.created_by == operator and job.file
    page = client.get(reverse("imports:detail", args=[job.pk]), headers={"Accept-Language": "en"})
    assert b'data-testid="import-progress"' in page.content
    assert b'hx-trigger="every 1s"' in page.content

    run_tasks()

    job.refresh_from_db()
    assert job.status == "done"
    assert (job.rows_total, job.rows_done, job.orders_created, job.rejected_count) == (2, 2, 1, 1)
    assert not job.file  # the clear-text export is not kept once imported
    fragment = client.get(
        reverse("imports:progress", args=[job.pk]), headers={"HX-Request": "true"}
    )
    assert fragment["HX-Refresh"] == "true"
    page = client.get(
        reverse("imports:detail", args=[job.pk]), headers={"Accept-Language": "en"}
    ).content.decode()
    assert 'data-testid="sum-created">1<' in page
    assert "missing order id (订单编号)" in page
    download = client.get(reverse("imports:report_json", args=[job.pk]))
    assert download["Content-Disposition"] == f'attachment; filename="import-{job.pk}-report.json"'
    report = json.loads(b"".join(download.streaming_content))
    assert report == {
        "rows": 2,
        "orders_created": 1,
        "orders_updated": 0,
        "duplicates": 0,
        "rejected": [{"line": 3, "reason": "missing order id (订单编号)"}],
        "customers_created": 1,
        "customers_matched": 0,
    }
    assert Order.objects.count() == 1


def test_rejection_reasons_are_in_the_uploaders_language(operator, client, run_tasks):
    client.force_login(operator)
    _upload(client, _export(), headers={"Accept-Language": "zh-CN"})
    run_tasks()
    reason = ImportJob.objects.get().rejected_rows.get().reason
    assert reason == "缺少订单号（订单编号）"


def test_an_unreadable_upload_fails_with_its_reason_and_can_be_retried(operator, client, run_tasks):
    client.force_login(operator)
    _upload(client, csv_bytes(["单号", "金额"], [["1", "2"]]))
    run_tasks()
    job = ImportJob.objects.get()
    assert job.status == "failed" and job.file
    page = client.get(reverse("imports:detail", args=[job.pk]), headers={"Accept-Language": "en"})
    assert b'data-testid="import-error"' in page.content
    assert "订单编号".encode() in page.content
    with _capture(execute=False):
        client.post(reverse("imports:retry", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "queued" and job.error == ""
    assert list(job.history.values_list("to_status", flat=True)) == ["running", "failed", "queued"]


@pytest.mark.parametrize(
    "name, preset, extra, field",
    [
        ("orders.pdf", "tmall", {}, "file"),
        ("orders.csv", "generic", {}, "mapping"),
        ("orders.csv", "generic", {"mapping": "[columns"}, "mapping"),
        ("orders.csv", "amazon", {}, "preset"),
    ],
)
def test_upload_form_names_the_problem(operator, client, name, preset, extra, field):
    client.force_login(operator)
    response = _upload(client, _export(), name=name, preset=preset, **extra)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert ImportJob.objects.count() == 0
