"""Counts in words: singular for exactly one."""

import pytest

from deletion_alarms.words import plural


@pytest.mark.parametrize(("count", "one", "many", "expected"), [
    (0, "file", None, "0 files"), (1, "file", None, "1 file"), (2, "account", None, "2 accounts"),
    (1, "match", "matches", "1 match"), (19, "match", "matches", "19 matches"),
    (1234, "record", None, "1,234 records"), (1, "alarm period", None, "1 alarm period"),
])
def test_plural(count, one, many, expected) -> None:
    assert plural(count, one, many) == expected
