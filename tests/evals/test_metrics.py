"""Scoring arithmetic against numbers worked out by hand (in the comments)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcrdt.evals.metrics import (
    PRF,
    bootstrap,
    calibration,
    match_sets,
    multilabel,
    normalize_answer,
    paired_bootstrap,
    span_prf,
    token_jaccard,
)


def test_multilabel_per_label_micro_and_macro() -> None:
    gold = {"d1": {"a", "b"}, "d2": {"b"}, "d3": set()}
    pred = {"d1": {"a"}, "d2": {"b", "c"}, "d3": {"c"}}
    s = multilabel(gold, pred)
    # a: d1 right. b: d1 missed, d2 right. c: predicted twice, never gold.
    assert s.per_label == {"a": PRF(1, 0, 0), "b": PRF(1, 0, 1), "c": PRF(0, 2, 0)}
    assert s.micro == PRF(2, 2, 1)
    assert (s.micro.precision, s.micro.recall) == (0.5, 2 / 3)
    assert s.micro.f1 == pytest.approx(4 / 7)  # 2·(1/2)·(2/3) / (1/2 + 2/3)
    assert s.macro_precision == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3
    assert s.macro_recall == pytest.approx(1 / 2)  # (1 + 1/2 + 0) / 3: c's recall is 0 (zero_division=0)
    assert s.macro_f1 == pytest.approx(5 / 9)  # (1 + 2/3 + 0) / 3


def test_rate_conventions_for_empty_counts() -> None:
    assert (PRF().precision, PRF().recall, PRF().f1) == (1.0, 1.0, 1.0)  # nothing to find, nothing said
    assert (PRF(fn=2).precision, PRF(fn=2).recall, PRF(fn=2).f1) == (0.0, 0.0, 0.0)  # abstained
    assert (PRF(fp=1).precision, PRF(fp=1).recall) == (0.0, 0.0)
    assert match_sets({("d1", "d2"), ("d1", "d3")}, {("d1", "d2"), ("d2", "d3")}) == PRF(1, 1, 1)


def test_spans_match_by_normalized_token_jaccard_as_in_cuad() -> None:
    assert normalize_answer("The  Company, shall PAY!") == "company shall pay"
    assert token_jaccard("The Company shall pay", "company shall pay the fee") == 0.75  # 3 of 4 tokens
    assert token_jaccard("thirty days", "ninety days") == pytest.approx(1 / 3)
    gold = ["The Company shall pay", "thirty days"]
    pred = ["company shall pay the fee", "ninety days", "unrelated"]
    assert span_prf(gold, pred) == PRF(1, 2, 1)  # one right, two wrong, "thirty days" missed
    assert span_prf(gold, []) == PRF(0, 0, 2) and span_prf([], []) == PRF()


def test_calibration_precision_at_thresholds_and_ece() -> None:
    scored = [(0.95, True), (0.85, True), (0.75, False), (0.65, True), (0.3, False)]
    c = calibration(scored, thresholds=(0.0, 0.7, 0.9))
    assert c.at == {0.0: (0.6, 5), 0.7: (pytest.approx(2 / 3), 3), 0.9: (1.0, 1)}
    # One proposal per bin: (|1-.95| + |1-.85| + |0-.75| + |1-.65| + |0-.3|) / 5 = 1.6 / 5
    assert c.ece == pytest.approx(0.32)
    perfect = calibration([(1.0, True), (0.0, False)])
    assert perfect.ece == 0.0 and perfect.at[0.9] == (1.0, 1)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibration([(1.5, True)])


def test_bootstrap_is_seeded_and_brackets_the_statistic() -> None:
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    constant = bootstrap([1.0, 1.0, 1.0], mean)
    assert (constant.value, constant.low, constant.high) == (1.0, 1.0, 1.0)
    rng = random.Random(7)
    sample = [float(rng.random() < 0.7) for _ in range(200)]
    a, b = bootstrap(sample, mean, seed=3), bootstrap(sample, mean, seed=3)
    assert a == b and a.low < a.value < a.high and a.high - a.low < 0.2
    better = paired_bootstrap([0.0] * 20, [1.0] * 20, mean)
    assert better.value == 1.0 and better.excludes_zero()
    same = paired_bootstrap(sample, sample, mean)
    assert same.value == 0.0 and not same.excludes_zero()
    with pytest.raises(ValueError, match="same cases"):
        paired_bootstrap([1.0], [1.0, 0.0], mean)


@given(st.lists(st.tuples(st.sets(st.sampled_from("abcd")), st.sets(st.sampled_from("abcd"))), max_size=8))
def test_micro_counts_add_up_to_set_matching_per_case(cases: list[tuple[set[str], set[str]]]) -> None:
    gold = {i: g for i, (g, _) in enumerate(cases)}
    pred = {i: p for i, (_, p) in enumerate(cases)}
    total = sum((match_sets(g, p) for g, p in cases), PRF())
    assert multilabel(gold, pred).micro == total
    for s in multilabel(gold, pred).per_label.values():
        assert 0 <= s.precision <= 1 and 0 <= s.recall <= 1 and 0 <= s.f1 <= 1
