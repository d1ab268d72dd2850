"""Membership's storefront pages under /m/membership/ (styled by the H5 mall)."""

from django.urls import path

from . import h5

app_name = "membership_h5"

urlpatterns = [
    path("", h5.centre, name="centre"),
    path("points/", h5.points_history, name="points"),
    path("withdraw/", h5.withdraw, name="withdraw"),
    path("reminder/dismiss/", h5.dismiss_reminder, name="dismiss_reminder"),
    path("i/<str:code>/", h5.invite, name="invite"),
]
