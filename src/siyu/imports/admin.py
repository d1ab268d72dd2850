from django.contrib import admin

from .models import ImportJob, RejectedRow


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "preset",
        "status",
        "rows_done",
        "orders_created",
        "rejected_count",
        "created_at",
    )
    list_filter = ("status", "preset")
    readonly_fields = [f.name for f in ImportJob._meta.fields]


@admin.register(RejectedRow)
class RejectedRowAdmin(admin.ModelAdmin):
    list_display = ("job", "line", "reason")
    readonly_fields = ("job", "line", "reason")
