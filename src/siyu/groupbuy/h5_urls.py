"""Group buying's storefront pages under /m/groupbuy/ (styled by the H5 mall)."""

from django.urls import path

from . import h5

app_name = "groupbuy_h5"

urlpatterns = [
    path("", h5.activities, name="activities"),
    path("mine/", h5.mine, name="mine"),
    path("a/<int:activity_id>/", h5.activity, name="activity"),
    path("a/<int:activity_id>/open/", h5.open_group, name="open"),
    path("g/<str:code>/", h5.group, name="group"),
    path("g/<str:code>/join/", h5.join_group, name="join"),
    path("g/<str:code>/poster/", h5.poster, name="poster"),
    path("g/<str:code>/qr.svg", h5.qr, name="qr"),
    path("m/<int:member_id>/leave/", h5.leave_group, name="leave"),
]
