from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.dashboard, {"page": "overview"}, name="overview"),
    path("<slug:page>/", views.dashboard, name="page"),
]
