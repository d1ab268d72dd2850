from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from unfold.admin import ModelAdmin

from .models import ApiToken, Store, User


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    list_display = ("username", "display_name", "role", "store", "is_active")
    list_filter = ("role", "store", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("siyu", {"fields": ("role", "store", "display_name", "wecom_userid")}),
    )


@admin.register(Store)
class StoreAdmin(ModelAdmin):
    list_display = ("code", "name", "city", "is_active")
    search_fields = ("code", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hash", "prefix")
