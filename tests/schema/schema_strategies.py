"""Hypothesis strategies for Kitchen field values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st
from schema_models import Color, Step

floats = st.floats(allow_nan=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | floats | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
steps = st.builds(Step, name=st.text(max_size=4), weight=floats)
short_text = st.text(alphabet="abcde \n", max_size=30) | st.text(max_size=12)

FIELDS: dict[str, Any] = {
    "title": st.text(max_size=10),
    "price": floats,
    "amount": st.decimals(allow_nan=False, allow_infinity=False),
    "when": st.none() | st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    "day": st.none() | st.dates(),
    "color": st.sampled_from(Color),
    "big": st.integers(),
    "step": st.none() | steps,
    "data": json_values,
    "status": st.sampled_from(["", "open", "done", "$float"]),
    "votes": st.integers(-(2**40), 2**40),
    "tags": st.sets(st.text(max_size=3), max_size=5),
    "labels": st.frozensets(st.integers(), max_size=5),
    "steps": st.lists(steps, max_size=5),
    "body": short_text,
    "attrs": st.dictionaries(st.text(max_size=4), floats, max_size=4),
}


@st.composite
def kitchen_values(draw: st.DrawFn, fields: list[str] | None = None) -> dict[str, Any]:
    """Draw values for a random subset of fields (GrowCounter ``views`` is drawn by the caller)."""
    names = fields if fields is not None else draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True))
    return {name: draw(FIELDS[name]) for name in names}
