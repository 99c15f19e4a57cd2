"""How far a model's confidence can be trusted: calibration error, accuracy at a share of answers kept, and
the threshold below which an answer should be `unsure`. NumPy only: `evaluate`, the export's calibration and
the benchmarks all measure with these same functions.
"""

from __future__ import annotations

import numpy as np

COVERAGES = (1.0, 0.98, 0.95, 0.90)  # shares of answers kept (the most confident first) that evaluate reports


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, 10) scores."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """A model's probabilities at temperature T: softmax(log p / T), which is softmax(logits / T)."""
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature).astype(np.float32)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """The gap between confidence and accuracy, weighted over 15 equal-width confidence bins (Guo et al.
    2017): 0 when "90 % sure" is right 90 % of the time."""
    conf = np.asarray(confidences, np.float64)
    right = np.asarray(correct, bool)
    if not len(conf):
        return 0.0
    which = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += abs(float(right[inside].mean()) - float(conf[inside].mean())) * float(inside.mean())
    return total


def risk_coverage(confidences: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Answers sorted from most to least confident: (coverage, accuracy of the answers kept, the confidence
    of the last one kept), one point per answer."""
    conf = np.asarray(confidences, np.float64)
    order = np.argsort(-conf, kind="stable")
    right = np.asarray(correct, bool)[order]
    kept = np.arange(1, len(conf) + 1)
    return kept / max(len(conf), 1), np.cumsum(right) / kept, conf[order]


def accuracy_at_coverage(confidences: np.ndarray, correct: np.ndarray,
                         coverages: tuple[float, ...] = COVERAGES) -> dict[float, float]:
    """Accuracy of the most confident *c* share of answers, for each c (1.0: every answer)."""
    cov, acc, _ = risk_coverage(confidences, correct)
    if not len(cov):
        return {c: 0.0 for c in coverages}
    return {c: float(acc[max(0, int(np.ceil(c * len(cov))) - 1)]) for c in coverages}


def threshold_for(confidences: np.ndarray, correct: np.ndarray, target: float = 0.99) -> float:
    """The lowest confidence threshold at which the answers kept (confidence >= threshold) are right at least
    *target* of the time: the most answers for that accuracy. 1.0 if no threshold reaches it."""
    cov, acc, conf = risk_coverage(confidences, correct)
    # a threshold keeps every answer of its confidence: only the last of a run of equal confidences counts
    last = np.r_[conf[1:] < conf[:-1], True] if len(conf) else np.zeros(0, bool)
    good = np.flatnonzero((acc >= target) & last)
    return float(conf[good[-1]]) if len(good) else 1.0
