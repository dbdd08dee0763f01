"""``make run``: serve the API locally, on the configured DynamoDB or an embedded one.

Order matters: the endpoint and the secret are settled before the app (and its models) are
imported, because the models read the endpoint once.
"""

from __future__ import annotations

import logging
import signal
import sys

from chalicelib import config
from devserver.secrets import ensure_jwt_secret


def main() -> None:
    logging.basicConfig(level=config.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    embedded = None
    if config.dynamodb_endpoint() is None:
        from devserver.embedded import EmbeddedDynamoDB

        embedded = EmbeddedDynamoDB().start()
        config.use_endpoint(embedded.url)
        print(f"Embedded DynamoDB (moto server) on {embedded.url}", flush=True)
    else:
        print(f"DynamoDB at {config.dynamodb_endpoint()}", flush=True)
    secret_source = ensure_jwt_secret()

    from app import app
    from chalicelib.auth import make_token
    from chalicelib.models import create_tables
    from chalicelib.services import protocol_marker
    from devserver import background
    from devserver.server import make_server

    create_tables()
    refused = protocol_marker.refusal()
    if refused:
        print(f"Refusing to start: {refused}", file=sys.stderr, flush=True)
        if embedded is not None:
            embedded.stop()
        sys.exit(2)
    workers = background.start()
    server = make_server(app, config.HOST, config.PORT)
    if config.JWT_SECRET:
        print(f"Admin token ({secret_source}):\n{make_token(['admin'])}", flush=True)
    print(f"Status page: http://{config.HOST}:{server.server_address[1]}/status (paste the token)", flush=True)
    print(f"Serving on http://{config.HOST}:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        background.stop(workers)
        server.server_close()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
