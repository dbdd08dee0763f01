"""What happens to every HTTP request around its route: a request id and log context, a metrics
record, the service's error shape for Chalice's own errors and for crashes, gzip for clients
that accept it, and CORS headers. Registered as one Chalice ``http`` middleware."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import observability
from chalicelib.errors import AnswerTooLarge, error_response, json_error
from chalicelib.routes import cors, encoding
from chalicelib.routes.endpoint import json_response
from chalicelib.schema import openapi
from chalicelib.services import protocol_marker

log = logging.getLogger("iceprod_tasks")
http = Blueprint(__name__)


@http.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The API's description (no auth: it holds no data)."""
    return json_response(openapi())


@http.middleware("http")
def around_every_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every request: its id and log context, its metrics record, the answer in our error shape,
    compressed when the client accepts gzip, with CORS headers for an allowed origin; 503 while
    the tables hold another protocol's data (:mod:`chalicelib.services.protocol_marker`)."""
    context = event.context or {}
    request_id = context.get("requestId") or event.headers.get("x-request-id") or uuid.uuid4().hex
    token = observability.start_request(request_id, context.get("resourcePath", "unknown"), event.method)
    response = json_error(500, "internal server error")
    try:
        refused = protocol_marker.refusal()
        response = error_response(refused) if refused else _encoded(event, _shaped(get_response(event)))
    except Exception:
        log.exception("unhandled error on %s %s", event.method, event.path)
    finally:
        observability.end_request(token, response.status_code)
    response.headers.update({"X-Request-Id": request_id, "Vary": "Accept-Encoding"})
    return cors.with_cors(event, response)


def _encoded(event: Request, response: Response) -> Response:
    """The answer gzip-compressed for a client that accepts it; refused (400) when even
    compressed it exceeds what a Lambda may return."""
    if not encoding.wants_gzip(event.headers):
        return response
    try:
        return encoding.compressed(response)
    except AnswerTooLarge as error:
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


def _plain(headers: dict[str, object]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in ("content-type",) and isinstance(v, str)}
