from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("", views.payment_list, name="list"),
    path("<int:payment_id>/", views.payment_detail, name="detail"),
    path("<int:payment_id>/sync/", views.payment_sync, name="sync"),
    path("refunds/", views.refund_list, name="refunds"),
    path("refunds/<int:refund_id>/", views.refund_detail, name="refund_detail"),
    path("refunds/<int:refund_id>/sync/", views.refund_sync, name="refund_sync"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:notification_id>/", views.notification_detail, name="notification"),
]
