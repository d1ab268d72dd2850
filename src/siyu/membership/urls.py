from django.urls import path

from . import views

app_name = "membership"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tiers/", views.tiers, name="tiers"),
    path("cards/", views.cards, name="cards"),
    path("cards/<int:card_id>/refund/", views.refund_card, name="refund_card"),
    path("points/", views.points_page, name="points"),
    path("referrals/", views.referrals, name="referrals"),
    path("settings/", views.program_settings, name="settings"),
]
