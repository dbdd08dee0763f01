"""The schema checker: the one shape check of every request, its messages and order of checks."""

import re

import pytest

from chalicelib import schema
from chalicelib.errors import Invalid, NotFound


def message(sub, value):
    with pytest.raises(Invalid) as raised:
        schema.check(sub, value)
    return str(raised.value)


@pytest.mark.parametrize(("sub", "value", "expected"), [
    ({"type": "integer"}, True, "body must be of type integer"),
    ({"type": "integer"}, 1.0, "body must be of type integer"),
    ({"type": "number"}, False, "body must be of type number"),
    ({"type": "string", "maxLength": 3}, "abcd", "body must hold 0 to 3 characters"),
    ({"type": "string", "minLength": 2}, "a", "body must hold at least 2 characters"),
    ({"type": "string", "maxBytes": 4}, "ééé", "body must be at most 4 bytes in UTF-8"),
    ({"type": "array", "minItems": 1}, [], "body must hold at least 1 items"),
    ({"type": "object", "required": ["a", "b"]}, {"b": 1}, "body is missing required key 'a'"),
    ({"type": "object", "additionalProperties": False}, {"x": 1}, "body has unknown key 'x'"),
    ({"enum": ["a"]}, "b", "body must be one of a"),
])
def test_failures_name_the_place_and_the_rule(sub, value, expected):
    assert message(sub, value) == expected


def test_error_messages_replace_one_keyword_or_the_whole_schema():
    per_keyword = {"type": "object", "required": ["dataset_id"],
                   "errorMessage": {"required": "missing key: {key}"}}
    assert message(per_keyword, {}) == "missing key: dataset_id"
    whole = {"type": "string", "pattern": "^x$", "errorMessage": "task {value!r} not found"}
    assert message(whole, "y") == "task 'y' not found"


def test_checks_run_in_the_declared_order():
    """IceProd 3 checks each required key for presence, then type, in order: allOf says so."""
    ordered = {"allOf": [
        {"required": ["a"], "properties": {"a": {"type": "string", "errorMessage": {"type": "a: type"}}},
         "errorMessage": {"required": "a: missing"}},
        {"required": ["b"], "errorMessage": {"required": "b: missing"}},
    ]}
    assert message(ordered, {"a": 1}) == "a: type"
    assert message(ordered, {"a": "x"}) == "b: missing"
    assert message(ordered, {}) == "a: missing"


def test_a_schema_keyword_the_checker_does_not_implement_is_refused_at_registration():
    with pytest.raises(ValueError, match="uniqueItems"):
        schema.Operation("POST", "/x", "x", "system", body={"type": "array", "uniqueItems": True})
    with pytest.raises(ValueError, match="format"):
        schema.Operation("GET", "/x", "x", "system", query={"q": {"type": "string", "format": "date"}})


def test_a_type_or_pattern_the_checker_cannot_use_is_refused_at_registration():
    """Not at the first request, as a 500."""
    with pytest.raises(ValueError, match="unknown types"):
        schema.Operation("POST", "/x", "x", "system", body={"type": ["string", "bogus"]})
    with pytest.raises(re.error):
        schema.Operation("POST", "/x", "x", "system", body={"properties": {"a": {"pattern": "(unclosed"}}})


def test_query_text_becomes_typed_values_with_defaults():
    op = schema.Operation("GET", "/tasks", "x", "system",
                          query={"status": schema.STATUS_LIST, "sort": schema.SORT_LIST, **schema.PAGE_PARAMS})
    call = op.accept({}, {"status": "queued|waiting|queued", "sort": "priority=-1|name", "limit": "x"}, None)
    assert call.query == {"status": ["queued", "waiting"], "sort": [("priority", -1), ("name", 1)], "limit": None}
    assert op.accept({}, {}, None).query == {"status": [], "sort": []}


def test_a_path_id_the_service_cannot_have_issued_is_not_found():
    op = schema.Operation("GET", "/tasks/{task_id}", "x", "system")
    with pytest.raises(NotFound, match="not found"):
        op.accept({"task_id": "nope"}, {}, None)
    dataset = schema.Operation("GET", "/datasets/{dataset_id}/tasks", "x", "read")
    with pytest.raises(Invalid):
        dataset.accept({"dataset_id": "d" * 257}, {}, None)


def test_reserved_keys_come_from_the_internal_attribute_names():
    from chalicelib.models.tasks import INTERNAL

    for name in INTERNAL:
        with pytest.raises(Invalid):
            schema.check(schema.NEW_TASK["propertyNames"], name)
    schema.check(schema.NEW_TASK["propertyNames"], "my_key")


def test_new_task_requires_the_service_s_required_keys():
    from chalicelib.services.tasks import REQUIRED

    assert schema.NEW_TASK["required"] == list(REQUIRED)


def test_the_published_document_has_no_private_keywords():
    import json

    import app  # noqa: F401  (registers the routes)

    text = json.dumps(schema.openapi())
    assert "x-parse" not in text and "x-status" not in text and "errorMessage" not in text
    assert "maxBytes" not in text


def test_nested_failures_name_their_place_as_deep_as_they_are():
    """The first pass builds no place names; the failure is named by a second one."""
    nested = {"type": "object", "properties": {"a": {"type": "array", "items": {
        "type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "additionalProperties": {"type": "integer"}}}}}
    assert message(nested, {"a": [{"ok": 1}, {"ok": 1, "no": "x"}]}) == "body.a[1].no must be of type integer"
    assert message(nested, {"a": [{"ok": 1}, {"ok": 1, "NO": 1}]}) == "body.a[1] key 'NO' is not of the expected form"


def test_a_refused_key_name_stays_refused_after_others_passed():
    """Names that passed ``propertyNames`` are remembered; refused ones never are."""
    names = {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}
    schema.check(names, {"good": 1, "fine": 2})
    for _ in range(2):
        assert message(names, {"good": 1, "Bad": 2}) == "body key 'Bad' is not of the expected form"
    schema.check(names, {"good": 1})
