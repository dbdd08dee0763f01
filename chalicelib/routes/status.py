"""The operators' status page (``GET /status``) and the listing it reads (``GET /datasets``).

The page is one HTML answer with its styles and script inlined (no build step, nothing fetched
at run time): it holds no data, so it needs no token. The browser keeps the operator's token in
session storage and calls the API itself, with URLs relative to the page's own location, so it
works under API Gateway's stage prefix (``/api/status`` calls ``/api/datasets``) as under
``make run``. The protocol's statuses, in display order, are injected into the page, so a second
protocol changes no script.

``Content-Security-Policy`` allows exactly the inlined script and style (by hash) and requests to
this origin only; ``form-action 'none'`` keeps the token form from ever being submitted into a
URL, even if the script failed to load.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib import protocol
from chalicelib import schema as s
from chalicelib.auth import Access, readable
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import datasets

bp = Blueprint(__name__)
PAGE_DIR = Path(__file__).resolve().parent.parent / "statuspage"
#: The page's scripts, in the order they run (the logic first: the page uses it).
SCRIPTS = ("logic.js", "page.js")


@endpoint(bp, "/datasets", "GET", Access.OWN,
          summary="The datasets this token may read, each with its task counts by status (an extension)",
          answer={"type": "object", "additionalProperties": s.COUNTS})
def list_datasets(call):
    """Admin and system tokens get every dataset; a user token only those it may read."""
    principal = call.principal
    return datasets.readable_datasets(lambda dataset_ids: readable(principal, dataset_ids))


@bp.route("/status", methods=["GET"])
def status_page() -> Response:
    """The page (no auth: it holds no data)."""
    html, policy = _page()
    return Response(body=html, status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })


@functools.cache
def _page() -> tuple[str, str]:
    """The page with its style, scripts and settings inlined, and the policy that allows them.

    Built on the first request, not at import: a Lambda serving only the API never reads it.
    """
    style = (PAGE_DIR / "style.css").read_text()
    script = "\n".join((PAGE_DIR / name).read_text() for name in SCRIPTS)
    # This deployment's statuses; "<" escaped so the JSON can never close its <script> element.
    settings = json.dumps({"statuses": list(protocol.CURRENT.statuses)}).replace("<", "\\u003c")
    html = ((PAGE_DIR / "index.html").read_text()
            .replace("/*STYLE*/", style).replace("/*SCRIPT*/", script).replace("/*SETTINGS*/", settings))
    policy = "; ".join([
        "default-src 'none'",
        f"script-src '{_hash(script)}'",
        f"style-src '{_hash(style)}'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])
    return html, policy


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
