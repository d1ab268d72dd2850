from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/progress/", views.job_progress, name="progress"),
    path("<int:job_id>/report.json", views.job_report_json, name="report_json"),
    path("<int:job_id>/retry/", views.job_retry, name="retry"),
]
