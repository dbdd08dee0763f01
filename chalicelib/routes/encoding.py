"""gzip answers for clients that accept them, in the form a Lambda behind API Gateway returns.

The 6 MB Lambda cap applies to what the function returns, so compressing in the function, not
in API Gateway, is what lets an answer hold more: on IceProd-like tasks (random hex ids, a few
hundred bytes each) gzip gives 5.5x and, base64 included, 4.2x more tasks per answer. A Lambda
returns bytes base64-encoded with ``isBase64Encoded``; API Gateway decodes them only when the
request's first Accept type is one of the API's binary media types, so the template declares
``*/*`` (IceProd's clients, python-requests, send ``Accept: */*``). A request without an Accept
header is answered uncompressed: nothing documents that it would match. The same declaration makes
API Gateway hand request bodies over base64-encoded, which Chalice decodes; ``make run``'s
gateway does the same, so every local test takes that path.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from typing import Any

from chalice import Response

from chalicelib import config
from chalicelib.errors import AnswerTooLarge

#: A synchronous Lambda answer is at most 6 MB; leave room for headers and the envelope.
MAX_ANSWER_BYTES = 5_500_000
#: zlib's default: on task listings 5.5x at ~100 MB/s here; level 1 gives 4.7x at ~225 MB/s.
LEVEL = 6


class CompressedResponse(Response):
    """An answer whose body is already base64 text of gzip bytes."""

    def to_dict(self, binary_types: list[str] | None = None) -> dict[str, Any]:
        answer = super().to_dict(None)
        answer["isBase64Encoded"] = True
        return answer


def wants_gzip(headers: Mapping[str, str]) -> bool:
    """Whether to compress the answer to a request with these (case-insensitive) headers."""
    return "accept" in headers and accepts_gzip(headers.get("accept-encoding"))


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header (RFC 9110 12.5.3) allows gzip: named, as ``x-gzip``
    or through ``*``, without ``q=0``."""
    weights: dict[str, float] = {}
    for part in (header or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        weights[coding.lower()] = _weight(params)
    for coding in ("gzip", "x-gzip", "*"):
        if coding in weights:
            return weights[coding] > 0
    return False


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0  # an unreadable weight does not grant anything
    return 1.0


def compressed(response: Response) -> Response:
    """``response`` gzip-compressed if it is long enough; ``AnswerTooLarge`` if even compressed it
    exceeds what a Lambda may return."""
    body = response.body.encode() if isinstance(response.body, str) else response.body
    if not isinstance(body, bytes) or len(body) < config.GZIP_MIN_BYTES:
        return response
    encoded = base64.b64encode(gzip.compress(body, LEVEL, mtime=0)).decode("ascii")
    if len(encoded) > MAX_ANSWER_BYTES:
        raise AnswerTooLarge()
    return CompressedResponse(body=encoded, status_code=response.status_code,
                              headers={**response.headers, "Content-Encoding": "gzip"})
