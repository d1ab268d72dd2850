from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("", views.accounts, name="accounts"),
    path("accounts/<int:account_id>/", views.account, name="account"),
    path("entries/<int:entry_id>/", views.entry, name="entry"),
    path("withdrawals/", views.withdrawals, name="withdrawals"),
    path("withdrawals/<int:withdrawal_id>/", views.withdrawal, name="withdrawal"),
    path("withdrawals/<int:withdrawal_id>/approve/", views.approve, name="approve"),
    path("withdrawals/<int:withdrawal_id>/reject/", views.reject, name="reject"),
    path("withdrawals/<int:withdrawal_id>/refresh/", views.refresh, name="refresh"),
    path("clawbacks/", views.clawbacks, name="clawbacks"),
    path("clawbacks/<int:clawback_id>/waive/", views.waive, name="waive"),
    path("clawbacks/<int:clawback_id>/repay/", views.repay, name="repay"),
]
