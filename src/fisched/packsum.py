"""Pack-sum XGBoost, as MetaSchedule's ``XGBModel`` trains it, with pluggable labels and weights.

A program has one feature row per BufferStore; the booster scores rows and a program's score is
the sum of its rows' scores. The objective is the weighted squared error of that sum:
gradient ``w * (sum - y)``, hessian ``w`` on every row of the program. Stock MetaSchedule uses
``y = best / latency`` within the task and ``w = y``; fisched's label strategies change both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

# MetaSchedule's XGBConfig defaults (max_depth=10, gamma=0.001, min_child_weight=0, eta=0.2).
# base_score 0: a program's score is a sum over its rows, so a per-row offset would only add
# noise proportional to the row count.
STOCK_PARAMS = {"max_depth": 10, "gamma": 0.001, "min_child_weight": 0, "eta": 0.2,
                "base_score": 0.0, "verbosity": 0, "disable_default_eval_metric": 1}


def group_ids(row_ptr: np.ndarray) -> np.ndarray:
    """Program index of every row, from CSR offsets."""
    return np.repeat(np.arange(len(row_ptr) - 1), np.diff(row_ptr))


@dataclass
class PackSumXGB:
    """Train on programs given as stacked rows + offsets; predict one score per program."""

    params: dict = field(default_factory=lambda: dict(STOCK_PARAMS))
    max_rounds: int = 400
    early_stopping_rounds: int = 50
    nthread: int | None = 1  # OpenMP threads spin when cores are busy; 1 is fastest there
    seed: int = 43

    def fit(self, rows: np.ndarray, row_ptr: np.ndarray, labels: np.ndarray,
            weights: np.ndarray, init: PackSumXGB | None = None) -> PackSumXGB:
        """Boost until the weighted training loss stops improving for ``early_stopping_rounds``.

        With ``init``, boosting continues from a copy of that model's trees (fine-tuning a
        prior model on new programs); ``init`` itself is left unchanged.
        """
        import xgboost as xgb

        ids = group_ids(row_ptr)
        n = len(row_ptr) - 1
        y_row = labels[ids].astype(np.float64)
        w_row = weights[ids].astype(np.float64)
        dtrain = xgb.DMatrix(rows, label=y_row)
        if init is not None and init.n_features_ != rows.shape[1]:
            from .errors import FischedError

            raise FischedError(f"cannot continue a model trained on {init.n_features_} features "
                               f"with rows of {rows.shape[1]}")
        start_margin = (init.booster_.predict(dtrain, output_margin=True) if init is not None
                        else np.zeros(len(ids)))
        state = {"best": np.inf, "since": 0, "margin": start_margin}
        patience = self.early_stopping_rounds

        def objective(pred: np.ndarray, _d) -> tuple[np.ndarray, np.ndarray]:
            summed = np.bincount(ids, weights=pred, minlength=n)[ids]
            return w_row * (summed - y_row), np.maximum(w_row, 1e-12)

        class Stop(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                # add only the newest tree's output (base_score is 0), not all trees again;
                # its index is not ``epoch`` when boosting continues an ``init`` model
                newest = model.num_boosted_rounds() - 1
                state["margin"] += model.predict(dtrain, output_margin=True,
                                                 iteration_range=(newest, newest + 1))
                pred = np.bincount(ids, weights=state["margin"], minlength=n)
                loss = state["last"] = float(np.sum(weights * (pred - labels) ** 2))
                if loss < state["best"] - 1e-12:
                    state["best"], state["since"] = loss, 0
                else:
                    state["since"] += 1
                return state["since"] >= patience

        params = {**self.params, "seed": self.seed}
        if self.nthread:
            params["nthread"] = self.nthread
        start = time.perf_counter()
        self.booster_ = xgb.train(params, dtrain, num_boost_round=self.max_rounds, obj=objective,
                                  callbacks=[Stop()],
                                  xgb_model=init.booster_.copy() if init is not None else None)
        self.train_seconds_ = time.perf_counter() - start
        self.final_loss_ = state.get("last")  # the tracked loss of the returned trees
        self.n_features_ = rows.shape[1]
        return self

    def predict(self, rows: np.ndarray, row_ptr: np.ndarray) -> np.ndarray:
        if rows.shape[1] != self.n_features_:
            from .errors import FischedError

            raise FischedError(f"model was trained on {self.n_features_} features, "
                               f"got rows with {rows.shape[1]}")
        n = len(row_ptr) - 1
        if len(rows) == 0:
            return np.zeros(n)
        pred = self.booster_.inplace_predict(rows, predict_type="margin")
        return np.bincount(group_ids(row_ptr), weights=pred, minlength=n)
