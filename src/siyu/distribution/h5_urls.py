"""Distribution's storefront pages under /m/distribution/ (styled by the H5 mall)."""

from django.urls import path

from . import h5

app_name = "distribution_h5"

urlpatterns = [
    path("", h5.centre, name="centre"),
    path("apply/", h5.apply, name="apply"),
    path("withdraw/", h5.withdraw, name="withdraw"),
    path("s/<str:code>/", h5.shop, name="shop"),
    path("qr/<str:code>.svg", h5.qr, name="qr"),
]
