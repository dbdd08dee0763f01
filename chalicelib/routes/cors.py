"""CORS for the configured browser origins (``CORS_ALLOW_ORIGINS``): preflights, and the
headers an allowed origin's answers carry."""

from __future__ import annotations

from collections.abc import Callable

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import config, schema


def allowed_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and ("*" in config.CORS_ALLOW_ORIGINS or origin in config.CORS_ALLOW_ORIGINS):
        return origin
    return None


def preflight_view(bp: Blueprint, path: str) -> Callable[..., Response]:
    """A browser's preflight of ``path``: no auth (browsers send none); the methods are the
    path's registered operations."""

    def preflight(**_: str) -> Response:
        headers = {"Allow": ", ".join(["OPTIONS", *(op.method for op in schema.OPERATIONS if op.path == path)])}
        if allowed_origin(bp.current_request) is not None:
            headers.update({
                "Access-Control-Allow-Methods": headers["Allow"],
                "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id",
                "Access-Control-Max-Age": str(config.CORS_MAX_AGE),
            })
        return Response(body="", status_code=204, headers=headers)

    preflight.__name__ = "preflight_" + "".join(c if c.isalnum() else "_" for c in path).strip("_")
    return preflight


def with_cors(request: Request, response: Response) -> Response:
    """``response`` with the CORS headers when the request's origin is allowed."""
    origin = allowed_origin(request)
    if origin is not None:
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Link, Retry-After, X-Request-Id",
            "Vary": f"{response.headers['Vary']}, Origin",
        })
    return response
