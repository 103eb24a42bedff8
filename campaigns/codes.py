"""Procedure codes as opaque identifiers: shape check, normalisation, derived category.

The project ships no code list and no descriptors (DOMAIN.md, the CDT rule).
"""

from __future__ import annotations

import re

CODE_SHAPE = re.compile(r"^[A-Z][0-9]{4}[A-Z0-9]*$")
BARE_NUMBER = re.compile(r"^[0-9]{4}$")
DEFAULT_PREFIX = "D"

# (first number, last number, category) over the four digits after the letter; our own names.
CATEGORIES: tuple[tuple[int, int, str], ...] = (
    (0, 999, "Diagnostic"),
    (1000, 1999, "Preventive"),
    (2000, 2999, "Restorative"),
    (3000, 3999, "Endodontics"),
    (4000, 4999, "Periodontics"),
    (5000, 5899, "Removable prosthetics"),
    (5900, 5999, "Maxillofacial"),
    (6000, 6199, "Implants"),
    (6200, 6999, "Fixed prosthetics"),
    (7000, 7999, "Oral surgery"),
    (8000, 8999, "Orthodontics"),
    (9000, 9999, "Adjunctive"),
)


def normalise_code(raw: str | None, prefix: str = DEFAULT_PREFIX) -> str | None:
    """Trim and upper-case; a bare 4-digit number gets `prefix`. None when it has no code shape."""
    if raw is None:
        return None
    code = str(raw).strip().upper()
    if BARE_NUMBER.match(code):
        code = f"{prefix.strip().upper()}{code}"
    return code if CODE_SHAPE.match(code) else None


def category(code: str) -> str:
    """The category derived from the code's four digits (e.g. 'T2391' -> 'Restorative')."""
    number = int(code[1:5])
    for low, high, name in CATEGORIES:
        if low <= number <= high:
            return name
    raise ValueError(f"{code!r} has no category")  # unreachable for a valid shape
