"""Turn domain errors raised by console and H5 views into a clear page instead of a 500."""

from __future__ import annotations

from django.shortcuts import render

from .errors import DomainError


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        template = "h5/error.html" if request.path.startswith("/m/") else "console/error.html"
        return render(request, template, {"error": exception}, status=exception.status)
