"""The API role under protocol 3: every request of protocol 3's own routes is allowed, and every
grant on a protocol-3-only table is used (the protocol 2 suite's tour checks the others)."""

from __future__ import annotations

from chalicelib.ids import new_id
from tests.test_permissions import PROTOCOL3_TABLES, api_statements, denied_requests, recorded, tables_of, unused_grants

__all__ = ["recorded"]  # the fixture, used by name


def _tour(api) -> None:
    """Every task stats route, each answering success."""
    task_id = new_id()
    sid = api.post(f"/tasks/{task_id}/task_stats", {"dataset_id": "d1"}).data["result"]
    ok = [
        api.get(f"/datasets/d1/tasks/{task_id}/task_stats"),
        api.get(f"/datasets/d1/tasks/{task_id}/task_stats?last=true"),
        api.get(f"/datasets/d1/tasks/{task_id}/task_stats/{sid}"),
        api.client.http.request("GET", "/datasets/d1/bulk/task_stats",
                                headers={"Authorization": f"Bearer {api.token}"}),
    ]
    assert [r.status_code for r in ok] == [200] * len(ok)


def test_the_api_role_allows_protocol_3_requests_and_grants_nothing_unused(api, recorded):
    _tour(api)
    statements = api_statements()
    assert not denied_requests(statements, recorded)
    only_protocol3 = [s for s in statements if tables_of(s) <= PROTOCOL3_TABLES]
    assert only_protocol3
    assert not unused_grants(only_protocol3, recorded)
