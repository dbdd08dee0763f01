"""Chalice's local API Gateway, made to behave like the deployed one where it differs.

* API Gateway percent-decodes path parameters once; ``chalice local`` passes them encoded
  (``step%201`` for ``step 1``). We decode them here, where the difference is, not in routes
  (which would decode twice on AWS).
* An unknown route answers our JSON 404, as the template's gateway responses do on AWS
  (``chalice local`` answers 403 "Missing Authentication Token").
* The deployed API declares every media type binary (``*/*``, for gzip answers), so API Gateway
  hands every request body over base64-encoded; ``chalice local`` passes raw bytes.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

from chalice.local import ForbiddenError, LocalGateway


class ApiGateway(LocalGateway):
    """The local gateway of ``make run`` and of the tests' ``chalice.test.Client``."""

    #: The route template of the request being served (for make run's console line).
    route: str | None = None

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> dict:
        event = super()._generate_lambda_event(method, path, headers, body)
        self.route = event["requestContext"]["resourcePath"]
        event["pathParameters"] = {k: unquote(v) for k, v in (event["pathParameters"] or {}).items()}
        if body:
            event.update(body=base64.b64encode(body).decode("ascii"), isBase64Encoded=True)
        return event

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> dict:
        try:
            return super().handle_request(method, path, headers, body)
        except ForbiddenError:
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {},
                "body": json.dumps({"code": 404, "error": f"no route {method} {path.split('?')[0]}"}),
            }
