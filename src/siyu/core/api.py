"""The typed JSON API under /api/v1/: one NinjaAPI, one router per app, one error shape.

Every error body is `{"error": {"code": ..., "message": ..., "fields": {...}}}`.
Apps expose `router` in `siyu.<app>.api`; it is mounted at `/api/v1/<app>/` automatically.
"""

from __future__ import annotations

import importlib
import logging

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from .access import Actor, actor_from_request
from .errors import DomainError

log = logging.getLogger(__name__)


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, str] = {}


class ErrorBody(Schema):
    error: ErrorDetail


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` with a token issued in the console (staff.ApiToken)."""

    def authenticate(self, request: HttpRequest, token: str):
        from siyu.staff.services import user_for_api_token

        return user_for_api_token(token)


def _error(api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str, fields=None):
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "fields": fields or {}}},
        status=status,
    )


def _validation_fields(errors: list[dict]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        # payload wrappers like "payload" are not field names the client sent
        if len(loc) > 1 and loc[0] in ("payload", "data", "filters"):
            loc = loc[1:]
        fields[".".join(loc) or "__all__"] = err.get("msg", "invalid")
    return fields


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="siyu API",
        version="1",
        description=(
            "Private-domain commerce API. Authenticate with a staff session (console) or "
            "`Authorization: Bearer <token>` (tokens are issued under Console → Account)."
        ),
        urls_namespace="api",
        auth=[TokenAuth(), SessionAuth()],
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    @api.exception_handler(DomainError)
    def domain_error(request, exc: DomainError):
        return _error(api, request, exc.status, exc.code, exc.message, exc.fields)

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        return _error(
            api,
            request,
            422,
            "validation_error",
            _("Some fields are invalid."),
            _validation_fields(exc.errors),
        )

    @api.exception_handler(AuthenticationError)
    def auth_error(request, exc):
        return _error(api, request, 401, "unauthenticated", _("Log in or send a valid API token."))

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        return _error(api, request, exc.status_code, f"http_{exc.status_code}", str(exc.message))

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return _error(api, request, 404, "not_found", _("Not found."))

    @api.exception_handler(DjangoPermissionDenied)
    def forbidden(request, exc):
        return _error(api, request, 403, "permission_denied", _("You are not allowed to do this."))

    for config in apps.get_app_configs():
        if not config.name.startswith("siyu."):
            continue
        module_name = f"{config.name}.api"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        router = getattr(module, "router", None)
        if router is not None:
            api.add_router(f"/{config.api_prefix or config.label}/", router)
    return api


def actor(request: HttpRequest) -> Actor:
    """The actor of an API request (token user or session user)."""
    return actor_from_request(request)
