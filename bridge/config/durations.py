"""Durations as an administrator writes them: ``"250ms"``, ``"5s"``, ``"5m"``, ``"1h"``.

A plain number is seconds. Every duration key of the settings uses one of the two
types here, so ``"5 minutes"`` is refused the same way everywhere, naming its key.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> object:
    """Accept ``"5m"``, ``"1.5s"``, ``"250ms"`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "5s" or "5m"')
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f'expected a duration such as "5s" or "5m", got {value!r}')


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
#: A duration where 0 switches the feature off.
OptionalDuration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
