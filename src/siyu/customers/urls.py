from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("bulk-tag/", views.bulk_tag, name="bulk_tag"),
    path("new/", views.customer_new, name="new"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/tags/", views.customer_tags, name="customer_tags"),
    path("<int:pk>/consent/", views.customer_consent, name="consent"),
    path("<int:pk>/owner/", views.customer_owner, name="owner"),
    path("<int:pk>/personal-data.json", views.customer_export_json, name="export_json"),
    path("<int:pk>/erase/", views.customer_erase, name="erase"),
    path("merge/", views.merge, name="merge"),
    path("merge-suggestions/", views.suggestions, name="suggestions"),
    path(
        "merge-suggestions/<int:pk>/dismiss/", views.suggestion_dismiss, name="suggestion_dismiss"
    ),
    path("hand-over/", views.handover, name="handover"),
    path("tags/", views.tags, name="tags"),
    path("tags/<int:tag_id>/delete/", views.tag_delete, name="tag_delete"),
    path("tags/refresh/", views.rules_refresh, name="rules_refresh"),
]
