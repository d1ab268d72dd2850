from django.urls import path

from . import views_h5

app_name = "payments_h5"

urlpatterns = [
    path("notify/<str:provider>/", views_h5.notify, name="notify"),
    path("orders/<int:order_id>/pay/", views_h5.pay, name="pay"),
    path("result/<str:out_trade_no>/", views_h5.result, name="result"),
    path("result/<str:out_trade_no>/status/", views_h5.result_status, name="result_status"),
    path("dev/cashier/", views_h5.dev_cashier, name="dev_cashier"),
]
