"""Cost models by name. Each factory returns an object MetaSchedule accepts as its cost model."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import FischedError


def _xgb(num_cores: int, seed: int | None):
    from tvm.s_tir import meta_schedule as ms

    # The same construction tune_tasks uses for cost_model="xgb".
    return ms.cost_model.XGBModel(num_tuning_cores=num_cores, tree_method="auto")


def _random(num_cores: int, seed: int | None):
    from tvm.s_tir import meta_schedule as ms

    return ms.cost_model.RandomModel(seed=seed)


def _fi(num_cores: int, seed: int | None):
    from .fi_model import default_fi_model

    return default_fi_model(num_cores, seed)


COST_MODELS: dict[str, Callable] = {"xgb": _xgb, "random": _random, "fi": _fi}
"""Name -> factory(num_cores, seed). ``xgb`` is stock MetaSchedule's XGBModel; ``fi`` is
fisched's FeatureImportanceModel with the shipped selection."""


def make_cost_model(name: str, num_cores: int, seed: int | None = None):
    if name not in COST_MODELS:
        raise FischedError(f"unknown cost model {name!r}: choose from {', '.join(COST_MODELS)}")
    return COST_MODELS[name](num_cores, seed)
