"""The eval harness: how good are an agent's proposals, and did a change make them better or worse.

:mod:`.metrics` holds the scoring arithmetic (precision/recall/F1, CUAD span matching, calibration,
bootstrap intervals), pure and checked against hand-computed figures.
"""
