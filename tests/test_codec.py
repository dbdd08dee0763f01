"""JSON <-> DynamoDB values: types survive the round trip, DynamoDB's limits are 400s."""

import math

import pytest

from chalicelib import codec
from chalicelib.errors import Invalid


@pytest.mark.parametrize(
    "value",
    [
        3, 0, -7, 10**37, 2.0, 0.0, 2.5, -1e-5, 1e20, "text", "", True, False, None,
        [], {}, [1, 2.0, "x", None, [3.0]], {"a": {"b": {"c": 1.0}}}, {"x/y~z": 4.0},
    ],
)
def test_values_round_trip_with_their_json_types(value):
    doc = {"k": value}
    back = codec.decode_item(codec.encode_item(doc))
    assert back == doc
    assert repr(back) == repr(doc)  # 2.0 stays 2.0, 3 stays 3


def test_schema_float_fields_are_floats_even_when_stored_integral():
    doc = codec.decode_item(codec.encode_item({"walltime": 3, "requirements": {"memory": 2, "cpu": 2}}))
    assert repr(doc["walltime"]) == "3.0"
    assert repr(doc["requirements"]["memory"]) == "2.0"
    assert repr(doc["requirements"]["cpu"]) == "2"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**40 + 1, 1e-200, 1e200])
def test_numbers_dynamodb_cannot_hold_are_invalid(bad):
    with pytest.raises(Invalid):
        codec.encode_item({"k": bad})


def test_empty_keys_and_deep_nesting_are_invalid():
    with pytest.raises(Invalid):
        codec.encode_item({"k": {"": 1}})
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(Invalid):
        codec.encode_item({"k": deep})


def test_typeless_empty_map_from_dynamodb_local_streams_decodes_as_empty_map():
    assert codec.decode({}) == {}
    assert codec.decode({"M": {"a": {}}}) == {"a": {}}


def test_item_size_grows_with_content():
    small = codec.item_size(codec.encode_item({"a": "x"}))
    large = codec.item_size(codec.encode_item({"a": "x" * 1000}))
    assert large - small >= 999


@pytest.mark.parametrize("value", [10**38 - 1, -(10**38 - 1), 10**38, 10**125, 1.0000001e-129, 9.99e124,
                                   1e-130, 9.9e125, -1e-130, 0.0, -0.0, 0, 7, -3.25])
def test_numbers_near_dynamodb_s_limits_are_held_exactly_as_before(value):
    """Inside the limits the text is what the exact (Decimal) check let through: ``str`` of an
    int, ``repr`` of a float; it reads back with its type and sign."""
    assert codec.encode_item({"k": value})["k"] == {"N": str(value) if isinstance(value, int) else repr(value)}
    back = codec.decode_item(codec.encode_item({"k": value}))["k"]
    assert back == value and type(back) is type(value) and math.copysign(1, back) == math.copysign(1, value)


@pytest.mark.parametrize("bad", [10**126, 1e-131, -1e126, 1.2e126, 10**38 + 1])
def test_numbers_just_past_dynamodb_s_limits_are_invalid(bad):
    with pytest.raises(Invalid):
        codec.encode_item({"k": bad})
