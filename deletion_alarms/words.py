"""Counts in words, as every report and message of the command writes them."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and its noun, singular for exactly 1: "1 match", "19 matches", "0 files"."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"
