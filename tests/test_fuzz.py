"""schemathesis against the served /openapi.json, every operation, on a real server process.

Bounded examples keep it fast. Checks: no 5xx, status codes, content types and bodies as the
document says (errors included: ``{"code", "error"}``).
"""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

import app  # noqa: F401  (registers every operation)
from chalicelib.schema import openapi
from tests.engines import LiveServer

EXAMPLES = 12


@pytest.fixture(scope="module")
def live_module(backend, tmp_path_factory):
    server = LiveServer(backend, tmp_path_factory.mktemp("fuzz"))
    yield server
    server.stop()


# The document the app builds; the first test checks the server serves exactly this one.
schema = schemathesis.openapi.from_dict(openapi())
REQUESTS = {"sent": 0}


def test_the_server_serves_the_document_without_auth(live_module):
    served = requests.get(f"{live_module.url}/openapi.json")
    assert served.status_code == 200 and served.json() == openapi()
    assert len(served.json()["paths"]) >= 19


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, live_module):
    REQUESTS["sent"] += 1
    case.call_and_validate(base_url=live_module.url, headers={"Authorization": f"Bearer {live_module.token}"})


def test_fuzzing_sent_requests():
    """Reported in the closing note; fails if the fuzzing above ran nothing."""
    print(f"\nfuzzed requests: {REQUESTS['sent']}")
    assert REQUESTS["sent"] > 0
