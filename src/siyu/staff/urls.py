from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "staff"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("account/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("", views.staff_list, name="list"),
    path("stores/", views.store_list, name="stores"),
]
