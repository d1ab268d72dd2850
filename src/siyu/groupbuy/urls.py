from django.urls import path

from . import views

app_name = "groupbuy"

urlpatterns = [
    path("", views.activities, name="activities"),
    path("new/", views.activity_form, name="activity_new"),
    path("<int:activity_id>/edit/", views.activity_form, name="activity_edit"),
    path("<int:activity_id>/end/", views.end, name="activity_end"),
    path("groups/", views.groups, name="groups"),
    path("groups/<int:group_id>/", views.group, name="group"),
]
