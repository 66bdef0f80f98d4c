"""Value normalization: dates, durations, money, jurisdictions and comparison keys."""

from __future__ import annotations

import pytest

from agentcrdt.llm.offline.normalize import (
    canonical_value,
    find_dates,
    find_durations,
    find_money,
    jurisdiction,
    jurisdictions_agree,
    parse_number,
)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("May 8, 2014", "2014-05-08"),
        ("July 11 , 2006", "2006-07-11"),
        ("the 8th day of May 2014", "2014-05-08"),
        ("this 20t h day of November, 2018", "2018-11-20"),
        ("as of1 August 2019", "2019-08-01"),
        ("Sept. 3, 2020", "2020-09-03"),
        ("2021-03-01", "2021-03-01"),
        ("5/8/14", "2014-05-08"),
        ("29/3/18", "2018-03-29"),  # the first number cannot be a month: day first
    ],
)
def test_dates_to_iso_with_exact_spans(text: str, iso: str) -> None:
    found = find_dates(text)
    assert [f[0] for f in found] == [iso]
    _, start, end = found[0]
    assert find_dates(text[start:end])[0][0] == iso


def test_impossible_dates_are_not_dates() -> None:
    assert find_dates("February 30, 2020 and 13/13/2020") == []


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("thirty (30) days", "P30D"),
        ("two (2) years", "P2Y"),
        ("twelve (12) months", "P12M"),
        ("one (I) year", "P1Y"),
        ("sixty (60) calendar days", "P60D"),
        ("a term of twenty-four months", "P24M"),
        ("90 days", "P90D"),
        ("three (3) year period", "P3Y"),
    ],
)
def test_durations_to_iso_8601(text: str, iso: str) -> None:
    assert [d[0] for d in find_durations(text)] == [iso]


def test_numbers_and_money() -> None:
    assert parse_number("thirty (30)") == 30
    assert parse_number("twenty-four") == 24
    assert parse_number("many") is None
    money = [m[0] for m in find_money("a fee of $1,000,000, then US$ 2.5 million and EUR 300.00")]
    assert money == ["USD 1000000", "USD 2500000", "EUR 300"]


def test_jurisdictions_prefer_the_specific_place() -> None:
    assert [j[0] for j in jurisdiction("the laws of the State of Delaware")] == ["Delaware"]
    assert [j[0] for j in jurisdiction("the laws of the United States and the State of Florida")] == [
        "Florida"
    ]
    assert [j[0] for j in jurisdiction("THE LAWS OF THE STATE OF NEW YORK")] == ["New York"]
    assert [j[0] for j in jurisdiction("the laws of England and Wales")] == ["England and Wales"]
    assert jurisdiction("the laws of Atlantis") == []
    # PDF conversions put several spaces or a line break inside a name.
    assert [j[0] for j in jurisdiction("the  laws  of  the  United  States of America.")] == ["United States"]
    assert [j[0] for j in jurisdiction("the Province  of  British\n Columbia")] == ["British Columbia"]
    # Other names of one jurisdiction; "English" only as a law.
    assert [j[0] for j in jurisdiction("governed by English law")] == ["England"]
    assert jurisdiction("written in the English language") == []
    assert [j[0] for j in jurisdiction("the laws of PRC")] == ["China"]
    assert [j[0] for j in jurisdiction("legislation of the Republic of Kazakhstan")] == ["Kazakhstan"]


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        ("England", "England and Wales", True),
        ("England and Wales", "United Kingdom", True),
        ("United States", "the State of Nevada", True),
        ("Ontario", "Canada", True),
        ("Delaware", "Delaware", True),
        ("New York", "Delaware", False),
        ("England", "Wales", False),
        ("England", "Scotland", False),
        ("Ontario", "England and Wales", False),
        ("Nevada", "Ontario", False),
    ],
)
def test_jurisdictions_agree_across_levels_of_detail_never_across_places(a: str, b: str, agree: bool) -> None:
    assert jurisdictions_agree(a, b) is agree
    assert jurisdictions_agree(b, a) is agree


def test_canonical_values_fold_equivalent_forms() -> None:
    assert canonical_value("P12M") == canonical_value("P1Y")
    assert canonical_value("P2W") == canonical_value("P14D")
    assert canonical_value("USD 1,000,000") == canonical_value("usd 1000000")
    assert canonical_value("the State of Delaware") == canonical_value("Delaware")
    assert canonical_value("P30D") != canonical_value("P60D")
