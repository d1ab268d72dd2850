from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_new, name="new"),
    path("builder/", views.builder_update, name="builder"),
    path("builder/count/", views.builder_count, name="builder_count"),
    path("<int:segment_id>/", views.segment_detail, name="detail"),
    path("<int:segment_id>/edit/", views.segment_edit, name="edit"),
    path("<int:segment_id>/count/", views.segment_count, name="count"),
    path("<int:segment_id>/members/", views.segment_members, name="members"),
    path("<int:segment_id>/materialise/", views.segment_materialise, name="materialise"),
    path("<int:segment_id>/archive/", views.segment_archive, name="archive"),
    path("<int:segment_id>/export/", views.segment_export, name="export"),
    path("snapshots/<int:snapshot_id>/export/", views.snapshot_export, name="snapshot_export"),
]
