from django.urls import path

from . import views

app_name = "distribution"

urlpatterns = [
    path("", views.distributors, name="distributors"),
    path("<int:distributor_id>/", views.distributor, name="distributor"),
    path("<int:distributor_id>/level/", views.change_level, name="change_level"),
    path("<int:distributor_id>/status/", views.change_status, name="change_status"),
    path("applications/", views.applications, name="applications"),
    path("applications/<int:application_id>/approve/", views.approve, name="approve"),
    path("applications/<int:application_id>/reject/", views.reject, name="reject"),
    path("commissions/", views.commissions, name="commissions"),
    path("commissions/<int:commission_id>/", views.commission, name="commission"),
    path("levels/", views.levels, name="levels"),
    path("rates/<int:rate_id>/delete/", views.delete_rate, name="delete_rate"),
    path("settings/", views.program_settings, name="settings"),
    path("invitations/", views.invitations, name="invitations"),
]
