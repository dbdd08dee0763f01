"""What every route shares: auth, error mapping, JSON answers, and the HTTP middleware.

:func:`endpoint` registers a view on a blueprint with its access rule. The checks run in
IceProd's order: authentication (401), authorization (403), then the view's validation (400)
and lookups (404). Domain errors become ``{"code", "error"}`` answers here and nowhere else;
the middleware gives Chalice's own errors (405, 415, ...) and any unexpected failure the same
shape, and compresses answers for clients that accept gzip (:mod:`chalicelib.routes.encoding`).
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import config, observability, schema
from chalicelib import validation as v
from chalicelib.auth import Access, authenticate, authorize
from chalicelib.errors import DomainError, Invalid, error_response, json_error
from chalicelib.routes import encoding
from chalicelib.services import pages

log = logging.getLogger("iceprod_tasks")
framework = Blueprint(__name__)
View = Callable[..., Any]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def endpoint(bp: Blueprint, path: str, method: str, access: Access, status: int = 200, *, summary: str,
             query: dict[str, schema.Schema] | None = None, body_schema: schema.Schema | None = None,
             answer: schema.Schema = schema.EMPTY,
             path_params: dict[str, schema.Schema] | None = None) -> Callable[[View], View]:
    """Register ``view(request, **path_params)`` as a route needing ``access``, described once.

    The description (query parameters, body, answer) validates each request after its auth
    checks and is published at ``/openapi.json``. Accepts any Content-Type: IceProd's clients do
    not always send one, and the body is parsed from its raw bytes. The first route of a path
    also registers its CORS preflight.
    """
    operation = schema.Operation(method, path, summary, access.value, query or {}, body_schema, answer, status,
                                 path_params or {})

    def decorate(view: View) -> View:
        if not any(op.path == path for op in schema.OPERATIONS):
            bp.route(path, methods=["OPTIONS"], content_types=["*/*"])(_preflight(bp, path))
        schema.OPERATIONS.append(operation)

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = bp.current_request
            try:
                principal = authenticate(request.headers.get("authorization"))
                authorize(principal, access, params.get("dataset_id"))
                operation.validate(request.query_params or {},
                                   body(request, allow_empty=True) if body_schema is not None else None)
                result = view(request, **params)
                response = _answer(request, result, status)
            except DomainError as error:
                return error_response(error)
            return response

        bp.route(path, methods=[method], content_types=["*/*"])(handler)
        return view

    return decorate


@dataclass
class Paged:
    """A page of a listing: its body, and the cursor of the next page (None: the last)."""

    body: Any
    cursor: str | None


def _answer(request: Request, result: Any, status: int) -> Response:
    """The JSON answer; a ``Paged`` one links its next page (RFC 8288). Too large: 400."""
    if isinstance(result, Response):
        return result
    headers = None
    if isinstance(result, Paged):
        if result.cursor is not None:
            query = {**(request.query_params or {}), "cursor": result.cursor}
            headers = {"Link": f'<?{urlencode(query)}>; rel="next"'}
        result = result.body
    response = json_response(result, status, headers)
    pages.check_size(len(response.body))
    return response


def bulk_answer(outcome: dict[str, Any], job_path: str) -> Any:
    """``{}`` when a bulk change finished in the request; else 202 with its job (RFC 9110)."""
    if "job" not in outcome:
        return {}
    return json_response(outcome, 202, {"Location": f"{job_path}/{outcome['job']}"})


def _preflight(bp: Blueprint, path: str) -> View:
    """A browser's CORS preflight: no auth (browsers send none); the CORS headers are added by
    the middleware when the origin is allowed."""

    def preflight(**_: str) -> Response:
        headers = {"Allow": ", ".join(["OPTIONS", *(op.method for op in schema.OPERATIONS if op.path == path)])}
        if _allowed_origin(bp.current_request) is not None:
            headers.update({
                "Access-Control-Allow-Methods": headers["Allow"],
                "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-Id",
                "Access-Control-Max-Age": str(config.CORS_MAX_AGE),
            })
        return Response(body="", status_code=204, headers=headers)

    preflight.__name__ = "preflight_" + "".join(c if c.isalnum() else "_" for c in path).strip("_")
    return preflight


def _allowed_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and ("*" in config.CORS_ALLOW_ORIGINS or origin in config.CORS_ALLOW_ORIGINS):
        return origin
    return None


def _with_cors(request: Request, response: Response) -> Response:
    origin = _allowed_origin(request)
    if origin is not None:
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Link, Retry-After, X-Request-Id",
            "Vary": f"{response.headers['Vary']}, Origin",
        })
    return response


def body(request: Request, allow_empty: bool = False) -> dict[str, Any]:
    """The request's JSON object body, whatever its Content-Type (parsed once per request)."""
    parsed = getattr(request, "_json_object", None)
    if parsed is None:
        parsed = v.parse_json(request.raw_body, allow_empty=True)
        request._json_object = parsed
    if not parsed and not allow_empty and not (request.raw_body or b"").strip():
        raise Invalid("request body must be a JSON object")
    return parsed


@framework.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The API's description (no auth: it holds no data)."""
    return json_response(schema.openapi())


def param(request: Request, name: str) -> str | None:
    """A query parameter (the last one when repeated)."""
    params = request.query_params or {}
    return params.get(name)


@framework.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every request: its log context and metrics record; Chalice's own errors
    (``{"Code", "Message"}``) and crashes in our error shape."""
    context = event.context or {}
    request_id = context.get("requestId") or event.headers.get("x-request-id") or uuid.uuid4().hex
    token = observability.start_request(request_id, context.get("resourcePath", "unknown"), event.method)
    response = json_error(500, "internal server error")
    try:
        response = _encoded(event, get_response)
    except Exception:
        log.exception("unhandled error on %s %s", event.method, event.path)
    finally:
        observability.end_request(token, response.status_code)
    response.headers.update({"X-Request-Id": request_id, "Vary": "Accept-Encoding"})
    return _with_cors(event, response)


def _encoded(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """The answer, gzip-compressed for a client that accepts it; such a client's answer may
    gather more JSON, since the Lambda cap then applies to the compressed form."""
    gzip_ok = encoding.wants_gzip(event.headers)
    with pages.answer_budget(config.GZIP_MAX_JSON_BYTES if gzip_ok else pages.MAX_ANSWER_BYTES):
        response = _shaped(get_response(event))
    if not gzip_ok:
        return response
    try:
        return encoding.compressed(response)
    except pages.AnswerTooLarge as error:
        return error_response(error)


def _shaped(response: Response) -> Response:
    if response.status_code >= 400 and isinstance(response.body, dict) and "Message" in response.body:
        return json_error(response.status_code, str(response.body["Message"]), _plain(response.headers))
    if response.status_code == 500 and not _is_ours(response):
        log.error("internal error answered: %s", str(response.body)[:2000])
        return json_error(500, "internal server error")
    return response


def _is_ours(response: Response) -> bool:
    return isinstance(response.body, str) and response.body.startswith('{"code":')


def _plain(headers: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in ("content-type",) and isinstance(v, str)}
