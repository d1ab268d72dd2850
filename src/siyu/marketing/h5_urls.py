"""Marketing's storefront pages under /m/marketing/ (styled by the H5 mall)."""

from django.urls import path

from . import h5

app_name = "marketing_h5"

urlpatterns = [
    path("", h5.centre, name="centre"),
    path("claim/<int:coupon_id>/", h5.claim, name="claim"),
    path("s/<str:code>/", h5.share, name="share"),
    path("mine/", h5.mine, name="mine"),
    path("flash/", h5.flash_page, name="flash"),
    path("flash/<int:item_id>/buy/", h5.flash_buy, name="flash_buy"),
]
