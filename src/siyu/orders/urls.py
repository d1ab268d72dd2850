from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/<str:action>/", views.order_action, name="action"),
    path("after-sales/", views.after_sales, name="after_sales"),
    path(
        "after-sales/<int:case_id>/<str:action>/", views.after_sale_action, name="after_sale_action"
    ),
    path("purchase-orders/", views.purchase_orders, name="purchase_orders"),
    path("purchase-orders/export/", views.purchase_orders_export, name="purchase_orders_export"),
    path("purchase-orders/import/", views.purchase_orders_import, name="purchase_orders_import"),
]
