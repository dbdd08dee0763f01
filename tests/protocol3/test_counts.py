"""IceProd 3's count routes: ``GET /task_counts/status`` and the dataset's ``task_counts/status``
and ``name_status``, answered from the stream-kept counters (drained by the real consumer)."""

import pytest

from chalicelib import db
from chalicelib.errors import Invalid
from chalicelib.models import Bookkeeping, Task
from chalicelib.schema import check
from chalicelib.services import tasks
from tests.conftest import new_task, token

DATASET_ROUTE = "/datasets/foo/task_counts/status"
BOTH = ["/task_counts/status", DATASET_ROUTE]
SYSTEM = token(["system"])


def add(status="idle", **fields):
    """A task stored as the service stores one (the creation route is another piece's)."""
    return tasks.create_task(new_task(**{"dataset_id": "foo", "name": "bar", "status": status, **fields}))


def counts(api, path, query=""):
    response = api.get(f"{path}{query}", token=SYSTEM)
    assert response.status_code == 200, response.data
    return response.data


@pytest.mark.parametrize("path", BOTH)
def test_iceprods_own_test_one_idle_and_one_gpu_processing_task(api, drain, path):
    add()
    add("processing", job_index=1, requirements={"gpu": 1})
    drain()
    assert counts(api, path) == {"idle": 1, "processing": 1}
    assert counts(api, path, "?status=complete") == {}
    assert counts(api, path, "?gpu=false") == {"idle": 1}
    assert counts(api, path, "?gpu=true") == {"processing": 1}


def test_no_tasks_is_an_empty_answer(api, drain):
    drain()
    for path in BOTH:
        assert counts(api, path) == {}
        assert counts(api, path, "?gpu=true") == {}
        assert counts(api, path, "?status=idle&gpu=false") == {}
    assert counts(api, "/datasets/foo/task_counts/name_status") == {}


@pytest.mark.parametrize("path", BOTH)
def test_only_non_zero_statuses_in_display_order(api, drain, path):
    for i, status in enumerate(["complete", "failed", "queued", "idle", "queued"]):
        add(status, job_index=i)
    drain()
    answer = counts(api, path)
    assert answer == {"idle": 1, "queued": 2, "failed": 1, "complete": 1}
    assert list(answer) == ["idle", "queued", "failed", "complete"]


def test_a_status_of_another_protocol_left_in_the_data_sorts_last(api, drain):
    add("reset")
    add("complete", job_index=1)
    add("idle", job_index=2)
    drain()
    assert list(counts(api, DATASET_ROUTE)) == ["idle", "complete", "reset"]
    assert list(counts(api, "/datasets/foo/task_counts/name_status")["bar"]) == ["idle", "complete", "reset"]


@pytest.mark.parametrize("path", BOTH)
def test_the_status_filter_counts_the_listed_statuses_in_display_order(api, drain, path):
    for i, status in enumerate(["idle", "idle", "waiting", "queued", "complete"]):
        add(status, job_index=i)
    drain()
    answer = counts(api, path, "?status=complete|idle|processing")
    assert answer == {"idle": 2, "complete": 1}
    assert list(answer) == ["idle", "complete"]
    assert counts(api, path, "?status=waiting|waiting") == {"waiting": 1}
    assert counts(api, path, "?status=") == {"idle": 2, "waiting": 1, "queued": 1, "complete": 1}


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize("status", ["reset", "bogus", "Idle", "idle|", "|idle", "idle||waiting", "idle,waiting"])
def test_an_unknown_status_in_the_filter_is_400(api, path, status):
    response = api.get(f"{path}?status={status}", token=SYSTEM)
    assert response.status_code == 400
    assert response.data == {"code": 400, "error": "Unknown task status"}


GPU_TASKS = [  # (requirements, counted by gpu=true, counted by gpu=false)
    ({}, False, True),
    ({"cpu": 2}, False, True),
    ({"gpu": 0}, False, True),
    ({"gpu": -1}, False, True),
    ({"gpu": 1}, True, False),
    ({"gpu": 3}, True, False),
    ({"gpu": 1.5}, True, False),
    ({"gpu": 0.5}, False, False),  # a quirk kept: between 0 and 1, in neither
    ({"gpu": None}, False, False),  # a quirk kept: null is in neither
    ({"gpu": "1"}, False, False),  # not a number: in neither
    ({"gpu": [1]}, False, False),
]


@pytest.mark.parametrize("path", BOTH)
def test_the_gpu_filter_splits_tasks_by_requirements_gpu(api, drain, path):
    for i, (requirements, _, _) in enumerate(GPU_TASKS):
        add(job_index=i, requirements=requirements)
    drain()
    assert counts(api, path) == {"idle": len(GPU_TASKS)}
    assert counts(api, path, "?gpu=true") == {"idle": sum(gpu for _, gpu, _ in GPU_TASKS)}
    assert counts(api, path, "?gpu=false") == {"idle": sum(cpu for _, _, cpu in GPU_TASKS)}


@pytest.mark.parametrize("word,value", [(w, True) for w in ["y", "yes", "t", "true", "on", "1", "TRUE", "True",
                                                            "Yes", "oN", "T", "Y"]]
                         + [(w, False) for w in ["n", "no", "f", "false", "off", "0", "FALSE", "False", "No",
                                                 "OFF", "F", "N"]])
def test_gpu_reads_iceprods_boolean_words_in_any_case(api, drain, word, value):
    add()
    add("processing", job_index=1, requirements={"gpu": 2})
    drain()
    assert counts(api, "/task_counts/status", f"?gpu={word}") == ({"processing": 1} if value else {"idle": 1})


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize("word", ["", "maybe", "2", "-1", "truee", "yess", "null"])
def test_gpu_that_is_not_a_boolean_is_400_with_a_reason(api, path, word):
    response = api.get(f"{path}?gpu={word}", token=SYSTEM)
    assert response.status_code == 400  # IceProd answers 500 here; 400 says why
    assert response.data["error"] == ('Bad argument "gpu": must be a boolean (true: y|yes|t|true|on|1, '
                                      'false: n|no|f|false|off|0, in any letter case)')


@pytest.mark.parametrize("name,text", [("status", "idle\n"), ("status", "idle|waiting\n"), ("gpu", "true\n"),
                                       ("gpu", "0\n")])
def test_a_final_newline_is_no_part_of_a_filters_form(name, text):
    from chalicelib.routes.iceprod3.counts import QUERY

    check(QUERY[name], text.rstrip("\n"))
    with pytest.raises(Invalid):  # Python's ``$`` would match before it
        check(QUERY[name], text)


@pytest.mark.parametrize("path", BOTH)
def test_status_and_gpu_filters_together(api, drain, path):
    add()
    add(job_index=1, requirements={"gpu": 1})
    add("waiting", job_index=2, requirements={"gpu": 1})
    add("waiting", job_index=3)
    add("queued", job_index=4, requirements={"gpu": 1})
    drain()
    assert counts(api, path, "?status=idle|waiting&gpu=True") == {"idle": 1, "waiting": 1}
    assert counts(api, path, "?status=idle|waiting&gpu=False") == {"idle": 1, "waiting": 1}
    assert counts(api, path, "?status=queued&gpu=false") == {}
    assert counts(api, path, "?status=queued&gpu=true") == {"queued": 1}


def test_a_change_of_requirements_gpu_moves_a_task_between_the_filters(api, drain):
    task_id = add(requirements={"gpu": 0})
    drain()
    assert counts(api, DATASET_ROUTE, "?gpu=false") == {"idle": 1}
    tasks.patch_task(task_id, {"requirements": {"gpu": 2}})
    drain()
    assert counts(api, DATASET_ROUTE, "?gpu=false") == {}
    assert counts(api, DATASET_ROUTE, "?gpu=true") == {"idle": 1}
    tasks.patch_task(task_id, {"requirements": {"gpu": None}, "status": "waiting"})
    drain()
    assert counts(api, DATASET_ROUTE, "?gpu=true") == {}
    assert counts(api, DATASET_ROUTE, "?gpu=false") == {}
    assert counts(api, DATASET_ROUTE) == {"waiting": 1}
    tasks.patch_task(task_id, {"requirements": {}})
    drain()
    assert counts(api, "/task_counts/status", "?gpu=false") == {"waiting": 1}


def test_the_dataset_routes_count_only_their_dataset(api, drain):
    add()
    add(dataset_id="other", requirements={"gpu": 1})
    add("complete", dataset_id="other", job_index=1)
    drain()
    assert counts(api, DATASET_ROUTE) == {"idle": 1}
    assert counts(api, "/datasets/other/task_counts/status", "?gpu=true") == {"idle": 1}
    assert counts(api, "/datasets/none/task_counts/status") == {}
    assert counts(api, "/task_counts/status") == {"idle": 2, "complete": 1}
    assert counts(api, "/task_counts/status", "?gpu=false") == {"idle": 1, "complete": 1}


def test_name_status_orders_names_by_task_index_and_statuses_for_display(api, drain):
    add(name="sim", task_index=1, status="complete")
    add(name="sim", task_index=1, job_index=1, status="idle")
    add(name="sim", task_index=1, job_index=2, status="processing", requirements={"gpu": 1})
    add(name="gen", task_index=0)
    add(name="gen", task_index=0, job_index=1, dataset_id="other")
    drain()
    answer = counts(api, "/datasets/foo/task_counts/name_status")
    assert answer == {"gen": {"idle": 1}, "sim": {"idle": 1, "processing": 1, "complete": 1}}
    assert list(answer) == ["gen", "sim"]
    assert list(answer["sim"]) == ["idle", "processing", "complete"]


def test_iceprods_own_name_status_test(api, drain):
    add()
    drain()
    assert counts(api, "/datasets/foo/task_counts/name_status") == {"bar": {"idle": 1}}


def test_who_may_read_the_counts(api):
    user = token(["user"], {"foo": "read"})
    anonymous = (401, 403)  # which of the two is the auth piece's choice (IceProd says 403)
    assert api.get("/task_counts/status", token=None).status_code in anonymous
    assert api.get("/task_counts/status", token=user).status_code == 403
    assert api.get("/task_counts/status").status_code == 200  # admin
    assert api.get("/task_counts/status", token=SYSTEM).status_code == 200
    for route in (DATASET_ROUTE, "/datasets/foo/task_counts/name_status"):
        assert api.get(route, token=user).status_code == 200
        assert api.get(route, token=token(["user"], {"foo": "write"})).status_code == 200
        assert api.get(route, token=token(["user"], {"bar": "read"})).status_code == 403
        assert api.get(route, token=None).status_code in anonymous


def test_auth_is_checked_before_the_filters(api):
    assert api.get("/task_counts/status?gpu=maybe", token=token(["user"])).status_code == 403
    assert api.get(f"{DATASET_ROUTE}?status=bogus", token=token(["user"], {"bar": "read"})).status_code == 403


@pytest.fixture
def requests_sent(monkeypatch):
    """Every DynamoDB operation sent to the tasks and bookkeeping tables."""
    sent = []
    for model in (Task, Bookkeeping):
        connection = db.table(model).connection
        real = connection.dispatch

        def spy(operation, kwargs, real=real, name=model.__name__):
            sent.append((name, operation))
            return real(operation, kwargs)

        monkeypatch.setattr(connection, "dispatch", spy)
    return sent


@pytest.mark.parametrize("path", BOTH)
def test_a_count_reads_one_counter_item_never_the_tasks(api, drain, requests_sent, path):
    for i in range(30):
        add(job_index=i, requirements={"gpu": i % 2})
    drain()
    api.get("/openapi.json")  # the process's first request checks the tables' protocol marker once
    requests_sent.clear()
    assert counts(api, path, "?status=idle|waiting&gpu=true") == {"idle": 15}
    assert requests_sent == [("Bookkeeping", "GetItem")]


def test_name_status_reads_one_query_of_the_counters(api, drain, requests_sent):
    for i in range(30):
        add(job_index=i, name=f"n{i % 3}", task_index=i % 3)
    drain()
    api.get("/openapi.json")
    requests_sent.clear()
    assert list(counts(api, "/datasets/foo/task_counts/name_status")) == ["n0", "n1", "n2"]
    assert requests_sent == [("Bookkeeping", "Query")]


def test_the_published_document_describes_the_filters(api):
    document = api.get("/openapi.json").data
    for path in ["/task_counts/status", "/datasets/{dataset_id}/task_counts/status"]:
        declared = document["paths"][path]["get"]["parameters"]
        parameters = {p["name"]: p["schema"] for p in declared if p["in"] == "query"}
        assert set(parameters) == {"status", "gpu"}
        assert "errorMessage" not in parameters["gpu"] and "x-parse" not in parameters["gpu"]
    assert "parameters" in document["paths"]["/datasets/{dataset_id}/task_counts/name_status"]["get"]
