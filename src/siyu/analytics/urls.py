from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("runs/", views.runs, name="runs"),
    path("runs/run/", views.run_now, name="run_now"),
    path("runs/history.csv", views.runs_csv, name="runs_csv"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
]
