"""fisched: MetaSchedule tuning with a feature-importance XGBoost cost model.

Imports are lazy so that MetaSchedule's builder workers, which import this package to find
fisched's build function, do not pay for the frontends or the cost models.
"""

__version__ = "0.1.0"

_LAZY = {
    "FischedError": "fisched.errors",
    "load_model": "fisched.models.frontend",
    "Model": "fisched.models.frontend",
    "make_target": "fisched.metaschedule.target",
    "tune": "fisched.tuning.tune",
    "compile_model": "fisched.tuning.compile",
    "time_against_reference": "fisched.tuning.measure",
    "FeatureImportanceModel": "fisched.costmodel.fi_model",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fisched' has no attribute {name!r}")
