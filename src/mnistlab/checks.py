"""What values read from settings, requests and saved files must be: TOML and JSON give ints or floats
for numbers, and Python counts True and False as ints, so a bare ``isinstance`` would take a boolean
for a number."""

from __future__ import annotations


def is_number(value: object) -> bool:
    """An int or a float, not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole_number(value: object) -> bool:
    """An int, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)
