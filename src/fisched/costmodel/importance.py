"""Feature importance of the pack-sum XGBoost cost model, and selections made from it.

``feature_importance`` trains the model the way MetaSchedule does and reports, per feature:
xgboost's gain, total_gain, weight and cover, the mean |SHAP| contribution per program
(``pred_contribs``, summed over a program's rows), and permutation importance measured on tasks
held out of training (drop in pairwise ranking accuracy when the column is shuffled).

``FeatureSelection`` is a small scikit-learn-style object: settings in ``__init__``, learned
indices in ``fit``, ``transform`` slices rows and refuses rows of another width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FischedError
from .dataset import Dataset, constant_features
from .features import FEATURE_GROUPS, FEATURE_NAMES, N_FEATURES
from .labels import labels_for
from .packsum import PackSumXGB

SCORES = ("gain", "total_gain", "weight", "cover", "shap", "permutation")
SELECTION_FORMAT = "fisched-selection"


def task_split(ds: Dataset, held_out_share: float = 0.2, seed: int = 0):
    """Programs of training tasks and of held-out tasks (whole tasks, never mixed)."""
    rng = np.random.default_rng(seed)
    tasks = np.unique(ds.task_id)
    held = rng.choice(tasks, size=max(1, int(round(held_out_share * len(tasks)))), replace=False)
    mask = np.isin(ds.task_id, held)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def pairwise_accuracy(pred: np.ndarray, latency: np.ndarray, task_id: np.ndarray) -> float:
    """Share of same-task program pairs with different latency that ``pred`` orders correctly
    (higher score = faster; failed programs count as slowest)."""
    right = total = 0
    for t in np.unique(task_id):
        sel = task_id == t
        p, lat = pred[sel], latency[sel]
        with np.errstate(invalid="ignore"):  # inf - inf: two failed programs, masked below
            dl = np.sign(lat[:, None] - lat[None, :])  # +1 where i slower than j
        dp = np.sign(p[None, :] - p[:, None])      # +1 where j scored higher than i
        valid = (dl != 0) & ~(np.isinf(lat[:, None]) & np.isinf(lat[None, :]))
        right += int(np.sum((dl == dp) & valid))
        total += int(np.sum(valid))
    return right / total if total else float("nan")


def fit_model(ds: Dataset, programs: np.ndarray, columns: np.ndarray | None = None,
              labels: str = "stock", init: PackSumXGB | None = None,
              held_out_rounds: float = 0.0, **kw) -> PackSumXGB:
    """Pack-sum XGBoost on ``programs`` of ``ds`` (optionally continuing ``init``).

    ``held_out_rounds``: if > 0, that share of the programs' tasks is first held out to choose
    the number of trees (the round with the lowest loss on them), and the model is then
    trained on all ``programs`` with that many; otherwise boosting stops when the training
    loss does.
    """
    sub = ds.subset(programs)
    y, w = labels_for(sub.latency, sub.task_id, labels)
    rows = sub.features if columns is None else sub.features[:, columns]
    if held_out_rounds > 0 and len(np.unique(sub.task_id)) > 1:
        inner, held = task_split(sub, held_out_rounds, seed=kw.get("seed", 43))

        def pick(idx):  # (rows, row_ptr, labels, weights, groups) of programs ``idx``
            part = sub.subset(idx)
            part_rows = part.features if columns is None else part.features[:, columns]
            return part_rows, part.row_ptr, y[idx], w[idx], part.task_id

        probe = PackSumXGB(**kw).fit(*pick(inner)[:4], init=init, groups=sub.task_id[inner],
                                     eval_set=pick(held))
        start = init.booster_.num_boosted_rounds() if init is not None else 0
        model = PackSumXGB(**{**kw, "max_rounds": max(probe.best_rounds_ - start, 1),
                              "early_stopping_rounds": 1 << 30})
        model.fit(rows, sub.row_ptr, y, w, init=init, groups=sub.task_id)
        model.train_seconds_ += probe.train_seconds_
        return model
    return PackSumXGB(**kw).fit(rows, sub.row_ptr, y, w, init=init, groups=sub.task_id)


BOOSTER_SCORES = ("gain", "total_gain", "weight", "cover")


def booster_scores(booster, kind: str = "total_gain") -> np.ndarray:
    """xgboost's own importance of each of the 164 columns (zero where no split uses it)."""
    scores = booster.get_score(importance_type=kind)
    return np.array([scores.get(f"f{i}", 0.0) for i in range(N_FEATURES)])


def reselect(selection: FeatureSelection, rows: np.ndarray, row_ptr: np.ndarray,
             labels: np.ndarray, weights: np.ndarray, groups: np.ndarray,
             **kw) -> FeatureSelection:
    """A new selection with ``selection``'s policy and parameter, fitted on the importance of
    a model trained on these programs over all 164 columns (``kw`` to ``PackSumXGB``: the
    objective and seed of the model the selection is for). Columns constant over the programs
    are left out. ``selection.score`` must be one of xgboost's own scores (``BOOSTER_SCORES``):
    SHAP and permutation importance need held-out tasks this does not split off; others fall
    back to ``total_gain``."""
    if rows.shape[1] != N_FEATURES:
        raise FischedError(f"re-ranking needs all {N_FEATURES} features, got {rows.shape[1]}")
    model = PackSumXGB(**kw).fit(rows, row_ptr, labels, weights, groups=groups)
    score = selection.score if selection.score in BOOSTER_SCORES else "total_gain"
    constant = np.ptp(rows, axis=0) == 0 if len(rows) else None
    return FeatureSelection(selection.policy, selection.param, score).fit(
        booster_scores(model.booster_, score), constant)


def feature_importance(ds: Dataset, seed: int = 0, permutation_repeats: int = 1,
                       labels: str = "stock") -> dict[str, np.ndarray]:
    """Every importance score per feature (arrays of length 164, zero for unused features)."""
    import xgboost as xgb

    train, held = task_split(ds, seed=seed)
    model = fit_model(ds, train, labels=labels)
    booster = model.booster_
    out = {kind: booster_scores(booster, kind) for kind in BOOSTER_SCORES}
    sub = ds.subset(train)
    contribs = booster.predict(xgb.DMatrix(sub.features), pred_contribs=True)[:, :N_FEATURES]
    per_program = np.add.reduceat(contribs, sub.row_ptr[:-1], axis=0)
    out["shap"] = np.abs(per_program).mean(axis=0)
    out["permutation"] = permutation_importance(model, ds.subset(held), out["weight"] > 0, seed,
                                                permutation_repeats)
    return out


def permutation_importance(model: PackSumXGB, held: Dataset, used: np.ndarray, seed: int = 0,
                           repeats: int = 1) -> np.ndarray:
    """Drop in pairwise accuracy on ``held`` when each used column is shuffled across rows
    (zero for unused columns). Negative: the model ranks the held-out tasks better without
    the feature, i.e. its splits on it do not carry over to unseen tasks."""
    base = pairwise_accuracy(model.predict(held.features, held.row_ptr), held.latency,
                             held.task_id)
    rng = np.random.default_rng(seed)
    perm = np.zeros(N_FEATURES)
    for i in np.flatnonzero(used):
        drops = []
        for _ in range(repeats):
            rows = held.features.copy()
            rows[:, i] = rng.permutation(rows[:, i])
            drops.append(base - pairwise_accuracy(model.predict(rows, held.row_ptr),
                                                  held.latency, held.task_id))
        perm[i] = float(np.mean(drops))
    return perm


POLICIES = ("all", "nonconstant", "cumulative", "top-k", "threshold")


@dataclass
class FeatureSelection:
    """Which feature columns the cost model keeps.

    policy: ``all`` | ``nonconstant`` | ``cumulative`` (smallest top set holding ``param`` of
    the total importance) | ``top-k`` (``param`` best) | ``threshold`` (importance coefficient,
    a feature's share of the total, at least ``param``). Constant columns are always dropped
    except by ``all``.
    """

    policy: str = "cumulative"
    param: float = 0.95
    score: str = "total_gain"

    def fit(self, scores: np.ndarray, constant: np.ndarray | None = None) -> FeatureSelection:
        scores = np.clip(np.asarray(scores, float), 0.0, None)
        if len(scores) != N_FEATURES:
            raise FischedError(f"expected {N_FEATURES} scores, got {len(scores)}")
        keep_ok = np.ones(N_FEATURES, bool) if constant is None else ~np.asarray(constant, bool)
        order = [i for i in np.argsort(-scores, kind="stable") if keep_ok[i]]
        if self.policy == "all":
            chosen = list(range(N_FEATURES))
        elif self.policy == "nonconstant":
            chosen = order
        elif self.policy == "top-k":
            chosen = order[:int(self.param)]
        elif self.policy == "cumulative":
            share = np.cumsum(scores[order]) / max(scores[order].sum(), 1e-30)
            chosen = order[:int(np.searchsorted(share, self.param - 1e-12) + 1)]
        elif self.policy == "threshold":
            total = max(scores.sum(), 1e-30)
            chosen = [i for i in order if scores[i] / total >= self.param]
        else:
            raise FischedError(f"unknown selection policy {self.policy!r}")
        if not chosen:
            raise FischedError(f"selection {self.policy}={self.param} keeps no feature")
        self.indices_ = np.array(sorted(chosen), dtype=np.int64)
        self.scores_ = scores[self.indices_]
        return self

    @property
    def names_(self) -> list[str]:
        return [FEATURE_NAMES[i] for i in self.indices_]

    def transform(self, rows: np.ndarray) -> np.ndarray:
        if rows.ndim != 2 or rows.shape[1] != N_FEATURES:
            raise FischedError(f"selection expects rows of {N_FEATURES} features, "
                               f"got shape {rows.shape}")
        return rows[:, self.indices_]

    def save(self, path: str | Path, provenance: dict | None = None) -> None:
        data = {"format": SELECTION_FORMAT, "policy": self.policy, "param": self.param,
                "score": self.score, "n_input": N_FEATURES, "indices": self.indices_.tolist(),
                "names": self.names_, "scores": self.scores_.tolist(),
                "provenance": provenance or {}}
        Path(path).write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> FeatureSelection:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise FischedError(f"cannot read selection {path}: {err}") from None
        if data.get("format") != SELECTION_FORMAT:
            raise FischedError(f"{path} is not a fisched feature selection")
        if data.get("n_input") != N_FEATURES:
            raise FischedError(f"selection {path} was made for {data.get('n_input')} features, "
                               f"this TVM extracts {N_FEATURES}")
        sel = cls(data["policy"], data["param"], data["score"])
        sel.indices_ = np.array(data["indices"], dtype=np.int64)
        sel.scores_ = np.array(data["scores"])
        return sel


def fit_selection(ds: Dataset, programs: np.ndarray | None = None,
                  policy: str = "cumulative", param: float = 0.95) -> FeatureSelection:
    """A selection fitted on ``programs`` of ``ds`` only (default: all): ``policy`` over the
    total gain of a stock-objective model trained on them, constant columns dropped. What the
    shipped selection is (``fisched importance --select cumulative:0.95``), for a study that
    must not let the tasks it scores into the selection."""
    programs = np.arange(ds.n_programs) if programs is None else np.asarray(programs)
    model = fit_model(ds, programs, np.arange(N_FEATURES), "stock")
    constant = np.zeros(N_FEATURES, bool)
    constant[constant_features(ds.subset(programs))[0]] = True
    return FeatureSelection(policy, param).fit(booster_scores(model.booster_), constant)


def parse_selection(spec: str, by: str = "total_gain") -> FeatureSelection:
    """``policy:param`` as the CLI takes it (``cumulative:0.95``, ``top-k:40``, ``all``)."""
    policy, _, param = spec.partition(":")
    if policy not in POLICIES:
        raise FischedError(f"bad selection {spec!r}: the policy is one of {', '.join(POLICIES)}")
    try:
        return FeatureSelection(policy, float(param or 0), by)
    except ValueError:
        raise FischedError(f"bad selection {spec!r}: expected POLICY[:NUMBER]") from None


def write_importance(ds: Dataset, out: str | Path, select: str = "cumulative:0.95",
                     by: str = "total_gain", labels: str = "stock", seed: int = 0,
                     source: str = "", provenance: dict | None = None) -> dict:
    """Rank the features of ``ds`` (``feature_importance``) and write ``importance.json``,
    ``importance.txt`` (a line per feature, every score as a share of its total) and the
    selection ``select`` by ``by`` (``selection.json``) into ``out``; returns the table, the
    text lines and the fitted selection (``fisched importance`` prints and plots them)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sel = parse_selection(select, by)
    scores = feature_importance(ds, seed=seed, labels=labels)
    table = importance_table(scores, by=by)
    (out / "importance.json").write_text(json.dumps(
        {"dataset": source, "by": by, "labels": labels, "features": table,
         "provenance": provenance or {}}, indent=2))
    lines = [f"{'rank':>4}  {'feature':<36} {'group':<16} " + " ".join(f"{k:>11}" for k in SCORES)]
    lines += [f"{r['rank']:>4}  {r['name']:<36} {r['group']:<16} "
              + " ".join(f"{r[k + '_share']:>11.4f}" for k in SCORES) for r in table]
    (out / "importance.txt").write_text("\n".join(lines) + "\n")
    constant = np.zeros(N_FEATURES, bool)
    constant[constant_features(ds)[0]] = True
    sel.fit(scores[by], constant).save(out / "selection.json", provenance)
    return {"table": table, "lines": lines, "selection": sel}


def importance_table(scores: dict[str, np.ndarray], by: str = "total_gain") -> list[dict]:
    """Rows sorted by ``by``, each with every score normalized to a share of its total."""
    order = np.argsort(-scores[by], kind="stable")
    totals = {k: max(float(np.clip(v, 0, None).sum()), 1e-30) for k, v in scores.items()}
    return [{"rank": r + 1, "index": int(i), "name": FEATURE_NAMES[i],
             "group": FEATURE_GROUPS[i],
             **{k: float(v[i]) for k, v in scores.items()},
             **{f"{k}_share": max(float(v[i]), 0.0) / totals[k] for k, v in scores.items()}}
            for r, i in enumerate(order)]
