"""The one DynamoDB marshaller every store writes with: what it stores reads back as written."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from mgn_pipeline.shared.aws.dynamodb import attribute_value, string_attribute


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        42,
        "READY_FOR_CUTOVER",
        "",
        ["a", 1, False],
        {"approver": "arn:aws:iam::1:role/x", "n": 3},
    ],
)
def test_values_read_back_as_written(value: Any) -> None:
    read = TypeDeserializer().deserialize(attribute_value(value))
    assert read == value if not isinstance(value, list) else list(read) == value


def test_a_bool_is_not_stored_as_a_number() -> None:
    assert attribute_value(True) == {"BOOL": True}


def test_none_inside_a_map_is_left_out_rather_than_stored_as_null() -> None:
    assert attribute_value({"comment": None, "time": "t"}) == {"M": {"time": {"S": "t"}}}


def test_a_value_dynamodb_cannot_hold_as_is_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        attribute_value(0.5)


def test_string_attribute_reads_strings_only() -> None:
    item = {"status": {"S": "OPENING"}, "attempt": {"N": "2"}}
    assert string_attribute(item, "status") == "OPENING"
    assert string_attribute(item, "attempt") is None
    assert string_attribute(item, "missing") is None
