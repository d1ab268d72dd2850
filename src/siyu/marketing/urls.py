from django.urls import path

from . import views

app_name = "marketing"

urlpatterns = [
    path("", views.coupons, name="coupons"),
    path("coupons/new/", views.coupon_new, name="coupon_new"),
    path("coupons/<int:coupon_id>/", views.coupon, name="coupon"),
    path("coupons/<int:coupon_id>/status/", views.coupon_status, name="coupon_status"),
    path("flash-sales/", views.sales, name="sales"),
    path("flash-sales/new/", views.sale_new, name="sale_new"),
    path("flash-sales/<int:sale_id>/", views.sale, name="sale"),
    path("flash-sales/<int:sale_id>/status/", views.sale_status, name="sale_status"),
]
