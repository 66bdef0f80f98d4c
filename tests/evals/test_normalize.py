"""Normalizers undo format differences (never content) between gold and predicted values."""

from __future__ import annotations

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.evals.normalize import normalizer


@pytest.mark.parametrize(
    ("kind", "a", "b", "same"),
    [
        ("date", "5/8/14", "2014-05-08", True),
        ("date", "12/31/1999", "1999-12-31", True),
        ("date", "5/8/98", "1998-05-08", True),
        ("date", "May 8, 2014", "2014-05-08", True),
        ("date", "[]/[]/2020", "2020", True),
        ("date", "[]/[]/2020", "2020-01-01", False),
        ("date", "5/8/14", "2014-08-05", False),
        ("date", "perpetual", "Perpetual", True),
        ("duration", "successive 1 year", "P1Y", True),
        ("duration", "12 months", "P1Y", True),
        ("duration", "90 days", "P90D", True),
        ("duration", "60) days", "P60D", True),
        ("duration", "180 days / 6 months", "P180D", True),
        ("duration", "auto P1Y", "1 year", True),
        ("duration", "2 years", "P1Y", False),
        ("duration", "6 months", "P6M", True),
        ("parties", 'Ingram Micro ("Distributor"); NETGEAR, Inc. ("NETGEAR")', "NETGEAR; Ingram Micro", True),
        (
            "parties",
            "Falcon Holdings LLC; Northwind Analytics, Inc.",
            "Northwind Analytics; Falcon Holdings",
            True,
        ),
        ("parties", "A Corp; B Corp", "A Corp", False),
        # CUAD's entries that only define the collective term are not more parties.
        (
            "parties",
            'Hyatt Franchising, L.L.C. ("Hyatt"); Playa Hotels & Resorts, B.V. ("Playa"); '
            'Hyatt and Playa (each a "Party" and collectively as the "Parties")',
            "Hyatt Franchising LLC; Playa Hotels and Resorts B.V.",
            True,
        ),
        (
            "parties",
            'GSI Technology, Inc.; Sony Inc.; individually as a "party"',
            "Sony; GSI Technology",
            True,
        ),
        ("parties", "Glu Mobile, Inc. f/k/a Sorrent, Inc.; Fox Inc.", "Glu Mobile Inc; Fox", True),
        # ...but a third real party is still a difference.
        ("parties", "Alpha Inc.; Beta LLC; Gamma Ltd.", "Alpha; Beta", False),
        ("date", "31/01/2025", "2025-01-31", True),
        ("date", "01/02/2025", "2025-02-01", False),
        ("jurisdiction", "Ontario, Canada", "Ontario", True),
        ("jurisdiction", "New York", "the State of New York", True),
        ("jurisdiction", "New York", "Delaware", False),
        ("jurisdiction", "People's Republic of China", "China", True),
        ("jurisdiction", "PRC", "China", True),
        ("jurisdiction", "Republic of Kazakhstan", "Kazakhstan", True),
        ("jurisdiction", "United States of America", "United States", True),
        ("jurisdiction", "Texas; Singapore; Belgium", "Texas", True),
        ("jurisdiction", "China", "Hong Kong", False),
        ("jurisdiction", "England; Wales", "England and Wales", True),
        ("jurisdiction", "England, United Kingdom; Wales, United Kingdom", "England and Wales", True),
        ("jurisdiction", "England", "England and Wales", False),
        ("duration", "0.5 year", "P6M", True),
        ("duration", "1.5 years", "P18M", True),
        ("net", "annual in advance, Net 30", "P30D", True),
        ("usd", "USD 120,000", "$120,000", True),
        ("title", "DISTRIBUTOR AGREEMENT", "Distributor Agreement", True),
    ],
)
def test_values_compare_equal_exactly_when_they_say_the_same(kind: str, a: str, b: str, same: bool) -> None:
    norm = normalizer(kind)
    assert (norm(a) == norm(b)) is same


def test_an_unknown_normalizer_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="known: date"):
        normalizer("dates")
