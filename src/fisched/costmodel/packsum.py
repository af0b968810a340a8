"""Pack-sum XGBoost, as MetaSchedule's ``XGBModel`` trains it, with pluggable labels and weights.

A program has one feature row per BufferStore; the booster scores rows and a program's score is
the sum of its rows' scores. The objective is the weighted squared error of that sum:
gradient ``w * (sum - y)``, hessian ``w`` on every row of the program. Stock MetaSchedule uses
``y = best / latency`` within the task and ``w = y``; fisched's label strategies change both.

``objective="pairwise"`` replaces the squared error with a ranking loss inside each task (the
evolutionary search only ever compares candidates of one task): for every pair of programs of a
task with labels ``y_i > y_j``, RankNet's ``log(1 + exp(s_j - s_i))`` on their summed scores,
weighted by ``|y_i - y_j| * (w_i + w_j) / 2`` and divided by the task's program count less one
(so a task weighs in proportion to its programs, as with squared error). The label strategy
thereby decides which pairs matter: with ``best / latency`` labels, pairs among slow programs
differ by almost nothing and the loss concentrates on getting the fast end right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FischedError

# MetaSchedule's XGBConfig defaults (max_depth=10, gamma=0.001, min_child_weight=0, eta=0.2).
# base_score 0: a program's score is a sum over its rows, so a per-row offset would only add
# noise proportional to the row count.
STOCK_PARAMS = {"max_depth": 10, "gamma": 0.001, "min_child_weight": 0, "eta": 0.2,
                "base_score": 0.0, "verbosity": 0, "disable_default_eval_metric": 1}


def group_ids(row_ptr: np.ndarray) -> np.ndarray:
    """Program index of every row, from CSR offsets."""
    return np.repeat(np.arange(len(row_ptr) - 1), np.diff(row_ptr))


class SquaredError:
    """Weighted squared error of a program's summed score against its label (MetaSchedule's)."""

    def __init__(self, labels: np.ndarray, weights: np.ndarray, groups=None) -> None:
        self.y, self.w = labels.astype(np.float64), weights.astype(np.float64)

    def grad_hess(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.w * (score - self.y), self.w

    def loss(self, score: np.ndarray) -> float:
        return float(np.sum(self.w * (score - self.y) ** 2))


class PairwiseRank:
    """RankNet loss over the ordered program pairs of each group (task); see module docstring.

    Pairs are precomputed once as index arrays, so a boosting round costs a few vector
    operations over all pairs. A group with more than ``max_pairs`` ordered pairs keeps a
    random sample of them (memory stays bounded on very large tasks).
    """

    def __init__(self, labels: np.ndarray, weights: np.ndarray, groups: np.ndarray | None,
                 max_pairs: int = 200_000, seed: int = 0) -> None:
        if groups is None or len(groups) != len(labels):
            raise FischedError("the pairwise objective needs the task (group) of every program")
        rng = np.random.default_rng(seed)
        better, worse, pair_w = [], [], []
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            y, w = labels[idx], weights[idx]
            i, j = np.nonzero(y[:, None] > y[None, :])
            if len(i) > max_pairs:
                keep = rng.choice(len(i), max_pairs, replace=False)
                i, j = i[keep], j[keep]
            pw = np.abs(y[i] - y[j]) * (w[i] + w[j]) / 2 / (len(idx) - 1)
            better.append(idx[i])
            worse.append(idx[j])
            pair_w.append(pw)
        self.n = len(labels)
        self.i = np.concatenate(better) if better else np.zeros(0, np.int64)
        self.j = np.concatenate(worse) if worse else np.zeros(0, np.int64)
        self.pw = np.concatenate(pair_w) if pair_w else np.zeros(0)

    def grad_hess(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # probability the pair is ordered wrongly: sigmoid(s_j - s_i), overflow-free via tanh
        rho = 0.5 * (1.0 + np.tanh(0.5 * (score[self.j] - score[self.i])))
        g = self.pw * rho
        h = g * (1.0 - rho)
        grad = np.bincount(self.j, g, self.n) - np.bincount(self.i, g, self.n)
        hess = np.bincount(self.i, h, self.n) + np.bincount(self.j, h, self.n)
        return grad, hess

    def loss(self, score: np.ndarray) -> float:
        return float(np.sum(self.pw * np.logaddexp(0.0, score[self.j] - score[self.i])))


OBJECTIVES = {"squared": SquaredError, "pairwise": PairwiseRank}


class _Tracked:
    """Programs whose summed scores are followed tree by tree during boosting."""

    def __init__(self, objective, rows, row_ptr, labels, weights, groups=None, init=None):
        import xgboost as xgb

        self.ids = group_ids(row_ptr)
        self.n = len(row_ptr) - 1
        self.loss_fn = OBJECTIVES[objective](np.asarray(labels), np.asarray(weights), groups)
        self.dmatrix = xgb.DMatrix(rows, label=np.asarray(labels, np.float64)[self.ids])
        self.margin = (init.booster_.predict(self.dmatrix, output_margin=True)
                       if init is not None else np.zeros(len(self.ids)))

    def scores(self, row_pred: np.ndarray) -> np.ndarray:
        return np.bincount(self.ids, weights=row_pred, minlength=self.n)

    def add_tree(self, booster, index: int) -> float:
        """Add tree ``index``'s output (base_score is 0) and return the loss after it."""
        self.margin += booster.predict(self.dmatrix, output_margin=True,
                                       iteration_range=(index, index + 1))
        return self.loss_fn.loss(self.scores(self.margin))


@dataclass
class PackSumXGB:
    """Train on programs given as stacked rows + offsets; predict one score per program."""

    params: dict = field(default_factory=lambda: dict(STOCK_PARAMS))
    max_rounds: int = 400
    early_stopping_rounds: int = 50
    nthread: int | None = 1  # OpenMP threads spin when cores are busy; 1 is fastest there
    seed: int = 43
    objective: str = "squared"  # or "pairwise" (needs ``groups`` in ``fit``)

    def fit(self, rows: np.ndarray, row_ptr: np.ndarray, labels: np.ndarray,
            weights: np.ndarray, init: PackSumXGB | None = None,
            groups: np.ndarray | None = None, eval_set: tuple | None = None) -> PackSumXGB:
        """Boost until the loss stops improving for ``early_stopping_rounds``.

        The loss watched is the training loss, or with ``eval_set`` (rows, row_ptr, labels,
        weights, groups of other programs, e.g. of tasks held out of training) the loss on
        those, and the trees after its best round are dropped (``best_rounds_``).
        ``groups``: the task of every program (the pairwise objective ranks within a task).
        With ``init``, boosting continues from a copy of that model's trees (fine-tuning a
        prior model on new programs); ``init`` itself is left unchanged.
        """
        import xgboost as xgb

        if self.objective not in OBJECTIVES:
            raise FischedError(f"unknown objective {self.objective!r}: "
                               f"choose from {', '.join(OBJECTIVES)}")
        if init is not None and init.n_features_ != rows.shape[1]:
            raise FischedError(f"cannot continue a model trained on {init.n_features_} features "
                               f"with rows of {rows.shape[1]}")
        train = _Tracked(self.objective, rows, row_ptr, labels, weights, groups, init)
        watched = _Tracked(self.objective, *eval_set, init=init) if eval_set else train
        state = {"best": np.inf, "best_rounds": 0, "since": 0}
        patience = self.early_stopping_rounds

        def objective(pred: np.ndarray, _d) -> tuple[np.ndarray, np.ndarray]:
            # every row of a program gets the program's gradient and hessian (d sum / d row = 1)
            grad, hess = train.loss_fn.grad_hess(train.scores(pred))
            return grad[train.ids], np.maximum(hess, 1e-12)[train.ids]

        class Stop(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                # the newest tree's index is not ``epoch`` when boosting continues ``init``
                rounds = model.num_boosted_rounds()
                loss = watched.add_tree(model, rounds - 1)
                if loss < state["best"] - 1e-12:
                    state["best"], state["best_rounds"], state["since"] = loss, rounds, 0
                else:
                    state["since"] += 1
                return state["since"] >= patience

        params = {**self.params, "seed": self.seed}
        if self.nthread:
            params["nthread"] = self.nthread
        start = time.perf_counter()
        booster = xgb.train(params, train.dmatrix, num_boost_round=self.max_rounds,
                            obj=objective, callbacks=[Stop()],
                            xgb_model=init.booster_.copy() if init is not None else None)
        if eval_set:
            if 0 < state["best_rounds"] < booster.num_boosted_rounds():
                booster = booster[:state["best_rounds"]]
            # the training loss was not followed round by round: one prediction of the kept trees
            # (``init``'s included, as ``booster`` continues them) gives it
            train.margin = booster.predict(train.dmatrix, output_margin=True)
        self.booster_ = booster
        self.best_rounds_ = booster.num_boosted_rounds()
        self.train_seconds_ = time.perf_counter() - start
        # the training loss of the returned trees
        self.final_loss_ = train.loss_fn.loss(train.scores(train.margin))
        self.n_features_ = rows.shape[1]
        return self

    def with_booster(self, booster, n_features: int) -> PackSumXGB:
        """This model with a trained ``booster`` (e.g. loaded from a file) on ``n_features``
        columns. A loaded booster keeps no thread count, so this model's is set on it (else
        OpenMP takes every core, and spins on a busy machine)."""
        if self.nthread:
            booster.set_param({"nthread": self.nthread})
        self.booster_ = booster
        self.n_features_ = n_features
        self.best_rounds_ = booster.num_boosted_rounds()
        return self

    def predict(self, rows: np.ndarray, row_ptr: np.ndarray) -> np.ndarray:
        if rows.shape[1] != self.n_features_:
            raise FischedError(f"model was trained on {self.n_features_} features, "
                               f"got rows with {rows.shape[1]}")
        n = len(row_ptr) - 1
        if len(rows) == 0:
            return np.zeros(n)
        pred = self.booster_.inplace_predict(rows, predict_type="margin")
        return np.bincount(group_ids(row_ptr), weights=pred, minlength=n)
