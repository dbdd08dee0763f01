"""Domain errors, and the one place that turns them into HTTP answers.

Services raise these (never Chalice errors, never status codes); the route decorator in
:mod:`chalicelib.routes.endpoint` and the HTTP middleware call :func:`error_response`.
"""

from __future__ import annotations

import json

from chalice import Response


class DomainError(Exception):
    """Base of every error a request may cause; its message is shown to the client."""


class Invalid(DomainError):
    """The request is malformed or breaks a rule (400)."""


class AnswerTooLarge(Invalid):
    """The complete answer would not fit what the function may return (400: page it)."""

    def __init__(self) -> None:
        super().__init__(
            "the answer exceeds the 6 MB a Lambda may return: page through it with ?limit=N "
            'and follow the Link: <...>; rel="next" header'
        )


class Unauthenticated(DomainError):
    """No, malformed, expired or badly signed credentials (401)."""


class Forbidden(DomainError):
    """Valid credentials without the right to this route or dataset (403)."""


class NotFound(DomainError):
    """The task, route or resource does not exist (404)."""


class TooLarge(DomainError):
    """The request body is larger than the service accepts (413)."""


class Unavailable(DomainError):
    """The database is throttling or unreachable after retries (503)."""


class Contended(Unavailable):
    """A task changed under every attempt of a read-modify-write (503: retry shortly)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"too many concurrent changes to task {task_id}, retry")


_STATUS = {
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    TooLarge: 413,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error (500 for a bare ``DomainError``)."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def json_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """The service's only error shape: ``{"code": <status>, "error": "<reason>"}``."""
    return Response(
        body=json.dumps({"code": status, "error": reason}),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: DomainError) -> Response:
    """The HTTP answer for a domain error."""
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    return json_error(status, str(error) or "error", headers)
