"""The declaration of a route: :func:`endpoint` registers a view with its access rule and its
description, and turns what the view returns (or raises) into the HTTP answer.

The checks run in IceProd's order: authentication (401), authorization (403), then the
operation's schema (400, or 404 for an id the service cannot have issued), then the view's
lookups (404). Domain errors become ``{"code", "error"}`` answers here, through
:func:`chalicelib.errors.error_response`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import config, schema
from chalicelib.auth import Access, Principal, authenticate, authorize
from chalicelib.errors import AnswerTooLarge, DomainError, error_response
from chalicelib.routes import cors, encoding
from chalicelib.services.pages import PageRequest

View = Callable[..., Any]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass(frozen=True)
class Input(schema.Call):
    """What a view gets: the checked query and body, and how much JSON its answer may hold
    (more for a client that accepts gzip: the Lambda cap then applies to the compressed form)."""

    answer_bytes: int = encoding.MAX_ANSWER_BYTES
    #: Who is calling (for routes whose answer depends on it, as ``GET /datasets``).
    principal: Principal | None = None

    def page(self) -> PageRequest:
        """The paging a listing route was asked for (its ``limit`` and ``cursor``)."""
        return PageRequest(self.query.get("limit"), self.query.get("cursor"), self.answer_bytes)


def endpoint(bp: Blueprint, path: str, method: str, access: Access, status: int = 200, *, summary: str,
             query: dict[str, schema.Schema] | None = None, body_schema: schema.Schema | None = None,
             answer: schema.Schema = schema.EMPTY, path_params: dict[str, schema.Schema] | None = None,
             order: tuple[str, ...] = ("path", "query", "body")) -> Callable[[View], View]:
    """Register ``view(input, **path_params)`` as a route needing ``access``, described once.

    The description (path and query parameters, body, answer) checks each request after its
    auth checks and is published at ``/openapi.json``. Accepts any Content-Type: IceProd's
    clients do not always send one, and the body is parsed from its raw bytes. The first route
    of a path also registers its CORS preflight.
    """
    operation = schema.Operation(method, path, summary, access.value, query or {}, body_schema, answer, status,
                                 path_params or {}, order)

    def decorate(view: View) -> View:
        if not any(op.path == path for op in schema.OPERATIONS):
            bp.route(path, methods=["OPTIONS"], content_types=["*/*"])(cors.preflight_view(bp, path))
        schema.OPERATIONS.append(operation)

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = bp.current_request
            try:
                principal = authenticate(request.headers.get("authorization"))
                authorize(principal, access, params.get("dataset_id"))
                call = operation.accept(params, request.query_params or {}, request.raw_body)
                budget = _answer_budget(request)
                given = Input(call.query, call.body, budget, principal)
                return _answer(request, view(given, **params), status, budget)
            except DomainError as error:
                return error_response(error)

        bp.route(path, methods=[method], content_types=["*/*"])(handler)
        return view

    return decorate


def _answer_budget(request: Request) -> int:
    """The JSON an answer may hold: more for a client that accepts gzip (checked again once
    compressed, by the middleware)."""
    return config.GZIP_MAX_JSON_BYTES if encoding.wants_gzip(request.headers) else encoding.MAX_ANSWER_BYTES


@dataclass
class Paged:
    """A page of a listing: its body, and the cursor of the next page (None: the last)."""

    body: Any
    cursor: str | None


def _answer(request: Request, result: Any, status: int, budget: int) -> Response:
    """The JSON answer; a ``Paged`` one links its next page (RFC 8288). Over ``budget``: 400."""
    if isinstance(result, Response):
        return result
    headers = None
    if isinstance(result, Paged):
        if result.cursor is not None:
            query = {**(request.query_params or {}), "cursor": result.cursor}
            headers = {"Link": f'<?{urlencode(query)}>; rel="next"'}
        result = result.body
    response = json_response(result, status, headers)
    if len(response.body) > budget:
        raise AnswerTooLarge()
    return response


def bulk_answer(outcome: dict[str, Any], job_path: str) -> Any:
    """``{}`` when a bulk change finished in the request; else 202 with its job (RFC 9110)."""
    if "job" not in outcome:
        return {}
    return json_response(outcome, 202, {"Location": f"{job_path}/{outcome['job']}"})
