"""Entity classes shared by the schema tests (a plain module: pytest imports it by path)."""

# pydantic copies field defaults per instance, so mutable defaults on Entity fields are safe.
# ruff: noqa: RUF012

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel

from agentcrdt.schema import (
    AddWinsSet,
    Counter,
    Entity,
    GrowCounter,
    LWWSet,
    Map,
    MultiValue,
    Sequence,
    Text,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"
    GREEN = "green"


class Step(BaseModel):
    name: str
    weight: float = 1.0


class Kitchen(Entity):
    """One field of every kind the schema layer supports."""

    title: str = ""
    price: float = 0.0
    amount: Decimal = Decimal("0")
    when: dt.datetime | None = None
    day: dt.date | None = None
    color: Color = Color.RED
    big: int = 0
    step: Step | None = None
    data: Any = None
    status: Annotated[str, MultiValue()] = ""
    votes: Annotated[int, Counter()] = 0
    views: Annotated[int, GrowCounter()] = 0
    tags: Annotated[set[str], AddWinsSet()] = set()
    labels: Annotated[frozenset[int], LWWSet()] = frozenset()
    steps: Annotated[list[Step], Sequence()] = []
    body: Annotated[str, Text()] = ""
    attrs: Annotated[dict[str, float], Map()] = {}
