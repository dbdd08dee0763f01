"""The services' pure rules as tables: requirement raises, claim matching, failure reasons,
stream deltas. (The same rules are exercised through HTTP elsewhere.)"""

import pytest

from chalicelib.models import bookkeeping
from chalicelib.services import claims, counters, lifecycle, requirements


@pytest.mark.parametrize(("resources", "current", "raised"), [
    ({"cpu": 2}, {}, {"cpu": 2}),                      # 1.1 < 2 <= 20, 2 >= 1.1 x default 1
    ({"cpu": 1.05}, {}, {}),                           # not above 1.1
    ({"cpu": 21}, {}, {}),                             # above 20: ignored
    ({"cpu": 2}, {"cpu": 2}, {}),                      # 2 < 1.1 x 2
    ({"cpu": 4}, {"cpu": 3}, {"cpu": 4}),              # current + 1
    ({"memory": 4}, {"memory": 2.0}, {"memory": 6.0}),  # used x 1.5
    ({"memory": 0.4}, {}, {}),                         # below 0.5: ignored
    ({"memory": 1}, {"memory": 8.0}, {}),              # never lowered
    ({"time": 2}, {"time": None}, {"time": 3.0}),      # null counts as the default
    ({"gpu": 4}, {"gpu": 1}, {}),                      # gpu never changes
    ({"disk": True}, {}, {}),                          # a bool is not a number
])
def test_a_failure_raises_the_requirements_it_outgrew(resources, current, raised):
    assert requirements.raise_from_usage(resources)(current) == raised


@pytest.mark.parametrize(("body", "current", "raised"), [
    ({"memory": 4.0}, {"memory": 2.0}, {"memory": 4.0}),
    ({"memory": 4.0}, {"memory": 8.0}, {}),
    ({"os": ["RHEL_9"]}, {"os": ["RHEL_7"]}, {"os": ["RHEL_9"]}),
    ({"site": "x"}, {"site": "x"}, {}),
    ({"cpu": 2}, {}, {"cpu": 2}),
])
def test_bulk_requirements_raise_numbers_and_replace_os_and_site(body, current, raised):
    assert requirements.raise_to(body)(current) == raised


def _condition_text(condition):
    names, values = {}, {}
    return condition.serialize(names, values), names, values


@pytest.mark.parametrize(("key", "offer", "expected"), [
    # absent or null, or a number no larger than the offer
    ("memory", 4, "((attribute_not_exists (#0.#1) OR attribute_type (#0.#1, :0)) OR "
                  "(attribute_type (#0.#1, :1) AND #0.#1 <= :2))"),
    # a gpu offer needs a task gpu between 1 and the offer
    ("gpu", 2, "(attribute_type (#0.#1, :0) AND #0.#1 BETWEEN :1 AND :2)"),
    # absent or null, equal, or a list holding the offer
    ("os", "RHEL_9", "((attribute_not_exists (#0.#1) OR attribute_type (#0.#1, :0)) OR "
                     "(#0.#1 = :1 OR (attribute_type (#0.#1, :2) AND contains (#0.#1, :3))))"),
])
def test_each_offered_requirement_becomes_its_condition(key, offer, expected):
    text, names, _ = _condition_text(claims.requirement_matches(key, offer))
    assert text == expected and names == {"requirements": "#0", key: "#1"}


def test_a_fractional_gpu_offer_matches_nothing():
    with pytest.raises(claims.NotFound):
        claims.requirement_matches("gpu", 0.5)


def test_query_params_are_equality_filters_and_requirements_site_may_be_listed():
    text, names, _ = _condition_text(claims.match_condition({}, {"dataset_id": "d1", "requirements.site": "x"}))
    assert text == "(#0 = :0 AND (#1.#2 = :1 OR (attribute_type (#1.#2, :2) AND contains (#1.#2, :3))))"
    assert names == {"dataset_id": "#0", "requirements": "#1", "site": "#2"}
    assert claims.match_condition({}, {}) is None


@pytest.mark.parametrize(("reason", "kind"), [
    ("failed to download input file", "download_failure"),
    ("upload of output file failed", "upload_failure"),
    ("Resource overuse for memory: 3.2 GB", "memory_overuse"),
    ("walltime exceeded", "time_overuse"),
    ("pilot got SIGTERM", "sigterm"),
    ("job was evicted", "killed"),
    ("module IceTray exit code 1", "module_failure"),
    ("something odd", "other"),
    (None, "other"),
])
def test_failure_reasons_are_classified(reason, kind):
    assert lifecycle.classify_reason(reason) == kind


def _image(status, dataset="d1", name="sim", index=0):
    return {"status": {"S": status}, "dataset_id": {"S": dataset}, "name": {"S": name}, "task_index": {"N": str(index)}}


def _cpu(counts):
    """``counts`` of tasks without a gpu requirement: each status's total and its ``#cpu`` class."""
    return {**counts, **{f"{s}#cpu": n for s, n in counts.items()}}


@pytest.mark.parametrize(("old", "new", "expected"), [
    (None, _image("waiting"), _cpu({"waiting": 1})),                # created
    (_image("waiting"), None, _cpu({"waiting": -1})),               # deleted
    (_image("waiting"), _image("queued"), _cpu({"waiting": -1, "queued": 1})),
    (_image("queued"), _image("queued"), {}),                       # no count changes
    (_image("bogus"), _image("queued"), _cpu({"queued": 1})),       # unknown statuses are not counted
])
def test_stream_deltas_of_the_all_tasks_counter(old, new, expected):
    changes = counters.deltas(old, new)
    total = changes.get(bookkeeping.ALL_COUNTS)
    got = {k: v for k, v in total.counts.items() if v} if total else {}
    assert got == expected


def test_a_dataset_move_counts_out_of_one_and_into_the_other():
    changes = counters.deltas(_image("queued", "d1"), _image("queued", "d2"))
    assert bookkeeping.ALL_COUNTS not in changes
    assert dict(changes[bookkeeping.dataset_counts("d1")].counts) == _cpu({"queued": -1})
    assert dict(changes[bookkeeping.dataset_counts("d2")].counts) == _cpu({"queued": 1})
