"""The one error shape of the HTTP API: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from django.http import JsonResponse

from ..exceptions import DuplicateItem, InvalidTransition, TaskQueueError


class ApiError(Exception):
    """Raised anywhere in a request; the view wrapper turns it into a JSON response."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @classmethod
    def from_taskqueue_error(cls, exc: TaskQueueError) -> ApiError:
        """400 for bad input (409 for a transition that does not apply or a unique key that
        is held), with the error's
        own stable ``code``, so clients can branch on it without parsing the message."""
        status = 409 if isinstance(exc, (InvalidTransition, DuplicateItem)) else 400
        return cls(status, exc.code, str(exc))

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {"error": {"code": self.code, "message": self.message}}, status=self.status
        )
        for name, value in self.headers.items():
            response[name] = value
        return response
