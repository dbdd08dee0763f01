"""Dataset file routes."""

import pytest

FILE = {"filename": "gsiftp://data/x.i3", "movement": "input"}


def test_add_file_by_job_index_and_name(api, create):
    task_id = create(name="sim", job_index=4)
    response = api.post("/datasets/d1/files", {**FILE, "job_index": 4, "task_name": "sim"})
    assert response.status_code == 201 and response.data == {"result": task_id}
    files = api.get("/datasets/d1/files").data["files"]
    assert files == [{"remote": "gsiftp://data/x.i3", "local": "", "type": "permanent", "movement": "input",
                      "transfer": True, "compression": False}]
    assert api.get(f"/datasets/d1/files/{task_id}").data["files"] == files


def test_add_file_without_matching_task_is_400(api, create):
    create(name="sim", job_index=4)
    assert api.post("/datasets/d1/files", {**FILE, "job_index": 5, "task_name": "sim"}).status_code == 400
    assert api.post("/datasets/d2/files", {**FILE, "job_index": 4, "task_name": "sim"}).status_code == 400


@pytest.mark.parametrize("extra", [{"movement": "sideways"}, {"compression": "zip"}, {"transfer": 1},
                                   {"local": 3}, {"filename": ""}, {"job_index": "4"}, {"task_name": None}])
def test_add_file_bad_body_is_400(api, create, extra):
    create(name="sim", job_index=4)
    body = {**FILE, "job_index": 4, "task_name": "sim", **extra}
    assert api.post("/datasets/d1/files", body).status_code == 400
    assert api.get("/datasets/d1/files").data == {"files": []}


def test_per_task_files_add_list_delete_in_order(api):
    task_id = "e" * 32
    for i, comp in enumerate(["gz", True, "none"]):
        body = {**FILE, "filename": f"f{i}", "local": f"l{i}", "transfer": "maybe", "compression": comp}
        response = api.post(f"/datasets/d1/files/{task_id}", body)
        assert response.status_code == 201 and response.data == {}
    files = api.get(f"/datasets/d1/files/{task_id}").data["files"]
    assert [f["remote"] for f in files] == ["f0", "f1", "f2"]
    assert files[0]["compression"] == "gz" and files[1]["compression"] is True and files[0]["transfer"] == "maybe"
    other = "f" * 32
    api.post(f"/datasets/d1/files/{other}", FILE)
    assert api.delete(f"/datasets/d1/files/{task_id}").data == {}
    assert api.get(f"/datasets/d1/files/{task_id}").data == {"files": []}
    assert len(api.get("/datasets/d1/files").data["files"]) == 1


def test_unknown_task_lists_no_files_and_delete_is_ok(api):
    assert api.get("/datasets/d1/files/" + "a" * 32).data == {"files": []}
    assert api.delete("/datasets/d1/files/" + "a" * 32).status_code == 200


def test_malformed_task_id_in_file_routes_is_400(api):
    assert api.get("/datasets/d1/files/x%23y").status_code == 400
    assert api.post("/datasets/d1/files/short", FILE).status_code == 400
    assert api.delete("/datasets/d1/files/short").status_code == 400
