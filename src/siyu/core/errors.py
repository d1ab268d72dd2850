"""Domain errors: each has a stable code the API and pages turn into one error shape."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A business rule said no. `code` is stable for clients; `fields` names the bad inputs."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.message = str(message or self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = dict(fields or {})
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class NotFound(DomainError):
    """The requested record does not exist or is not visible to you."""

    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    """You are not allowed to do this."""

    code = "permission_denied"
    status = 403


class ValidationFailed(DomainError):
    """Some fields are invalid."""

    code = "validation_error"
    status = 422


class Conflict(DomainError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class InvalidTransition(Conflict):
    """The record cannot move to that state from its current one."""

    code = "invalid_transition"
