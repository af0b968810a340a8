"""Label reassignment: per-task measured latencies -> (training labels, sample weights).

Measured programs are badly skewed: most are far slower than their task's best, so the stock
label ``best / latency`` piles up near 0, and weighting each sample by that same label makes the
slow majority nearly invisible to the loss. Every strategy here is a pure function of one task's
latencies (``inf`` = failed build or run; failed programs always get label 0).

| name     | label                                   | weight    | effect on the histogram            |
|----------|-----------------------------------------|-----------|------------------------------------|
| stock    | best / latency                          | the label | MetaSchedule's: mass near 0        |
| rank     | percentile rank (best 1, slowest 0)     | 1         | flat by construction               |
| power    | (best / latency) ** 0.5                 | 1         | stretches the low end up           |
| log      | 1 + log10(best / latency) / 2, clip 0   | 1         | spreads two decades evenly         |
| quantile | latency quantile bin (10 bins) in 0..1  | 1         | flat, coarse; robust to outliers   |
| rank-w   | percentile rank                         | 0.5+label | flat labels, fast programs count 2x |
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import FischedError

LabelFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _throughput(lat: np.ndarray) -> np.ndarray:
    ok = np.isfinite(lat)
    out = np.zeros(len(lat))
    if ok.any():
        out[ok] = lat[ok].min() / lat[ok]
    return out


def relabel_stock(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = _throughput(lat)
    return y, y.copy()


def _rank(lat: np.ndarray) -> np.ndarray:
    ok = np.isfinite(lat)
    y = np.zeros(len(lat))
    n = int(ok.sum())
    if n == 1:
        y[ok] = 1.0
    elif n > 1:  # rank = programs strictly faster, so ties share a label and the best get 1
        rank = np.searchsorted(np.sort(lat[ok]), lat[ok], "left")
        y[ok] = 1.0 - rank / (n - 1)
    return y


def relabel_rank(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _rank(lat), np.ones(len(lat))


def relabel_rank_weighted(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = _rank(lat)
    return y, 0.5 + y


def relabel_power(lat: np.ndarray, power: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    return _throughput(lat) ** power, np.ones(len(lat))


def relabel_log(lat: np.ndarray, decades: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    t = _throughput(lat)
    y = np.zeros(len(lat))
    ok = t > 0
    y[ok] = np.clip(1.0 + np.log10(t[ok]) / decades, 0.0, 1.0)
    return y, np.ones(len(lat))


def relabel_quantile(lat: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(lat)
    y = np.zeros(len(lat))
    if ok.sum() > 1:
        edges = np.quantile(lat[ok], np.linspace(0, 1, bins + 1)[1:-1])
        y[ok] = 1.0 - np.searchsorted(edges, lat[ok], side="left") / (bins - 1)
    elif ok.any():
        y[ok] = 1.0
    return y, np.ones(len(lat))


LABELS: dict[str, LabelFn] = {"stock": relabel_stock, "rank": relabel_rank,
                              "power": relabel_power, "log": relabel_log,
                              "quantile": relabel_quantile, "rank-w": relabel_rank_weighted}


def get_label_fn(name: str) -> LabelFn:
    if name not in LABELS:
        raise FischedError(f"unknown label strategy {name!r}: choose from {', '.join(LABELS)}")
    return LABELS[name]


def labels_for(latency: np.ndarray, task_id: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Apply a strategy task by task over a whole dataset."""
    fn = get_label_fn(name)
    y, w = np.zeros(len(latency)), np.zeros(len(latency))
    for t in np.unique(task_id):
        sel = task_id == t
        y[sel], w[sel] = fn(latency[sel])
    return y, w
