"""The API role grants what IceProd 3's routes call here: the access records' reads and writes
(``access#<dataset_id>`` in the bookkeeping table) included, and still no count item."""

from typing import Any

import pytest

from tests import test_permissions as iceprod2
from tests.protocol3.test_auth import FILE, ICECUBE, TASK, ip3
from tests.test_permissions import _allows, _listify, _role_statements

recorded = iceprod2.recorded  # the same fixture: DynamoDB requests as IAM sees them
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _dynamodb_statements() -> list[dict[str, Any]]:
    return [s for s in _role_statements("ApiRole") if all(a.startswith("dynamodb:") for a in _listify(s["Action"]))]


@pytest.fixture
def listed(api):
    """d1 and d2 in the dataset index, as the stream function (not the API) writes it."""
    from chalicelib.services import counters

    counters.apply_stream_records([{"eventID": f"e-{d}", "dynamodb": {"NewImage": {
        "status": {"S": "waiting"}, "dataset_id": {"S": d}, "name": {"S": "x"}}}} for d in ("d1", "d2")])


def test_the_api_role_allows_what_the_access_records_need(api, listed, recorded):
    user = ip3([ICECUBE], username="bob")
    ok = [
        api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"}),
        api.put("/datasets/d2/access", {"read_groups": ["users"], "write_groups": []}),
        api.get("/datasets/d1/access"),
    ]
    from chalicelib.services import access

    access.CACHE.clear()  # the user's calls read the records
    ok += [api.get("/datasets/d1/files", token=user), api.post(f"/datasets/d1/files/{TASK}", FILE, token=user)]
    access.CACHE.clear()
    ok.append(api.get("/datasets", token=user))
    assert [r.status_code for r in ok] == [200, 200, 200, 200, 201, 200]
    statements = _dynamodb_statements()
    denied = [c for c in recorded.calls if not any(_allows(s, *c) for s in statements)]
    assert not denied
    used = {(a, r) for a, r, keys in recorded.calls if any(k.startswith("access#") for k in keys)}
    assert used >= {("dynamodb:PutItem", "CountersTable"), ("dynamodb:GetItem", "CountersTable"),
                    ("dynamodb:BatchGetItem", "CountersTable")}


def test_the_api_role_writes_access_records_but_not_counts():
    statements = _dynamodb_statements()
    assert any(_allows(s, "dynamodb:PutItem", "CountersTable", frozenset(["access#d1"])) for s in statements)
    for key in ("all", "ds#d1", "applied#x", "datasets"):
        assert not any(_allows(s, "dynamodb:PutItem", "CountersTable", frozenset([key])) for s in statements)
