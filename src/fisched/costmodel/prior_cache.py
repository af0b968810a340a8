"""Trained fi priors kept on disk, so that a tune whose prior did not change starts at once.

``FeatureImportanceModel`` trains its prior (pack-sum XGBoost on tens of thousands of programs)
when it is made, before the first candidate is measured. The trained booster depends only on
the prior's programs and on how it is trained, so it is stored under a key made of both
(``prior_key``), and a later model with the same prior loads it instead of training it again:
a resumed tune, one after a tune with ``--no-learn`` or an interrupted one, several models made
in one Python session. A finished tune learns (``fisched.costmodel.library.learn``), which
changes the host's local prior, so the tune after it trains afresh (and keeps that).

The folder (``default_dir``: ``$XDG_CACHE_HOME/fisched/priors``, else ``~/.cache/...``) keeps
the ``ENTRIES`` most recently used boosters. An entry is two files, each written under a
unique temporary name and renamed into place (the booster first, then its metadata, which a
reader looks for first), so processes may store and load at once; an entry that vanishes or
cannot be read counts as a miss, and a cache that cannot be written costs only a training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .library import cache_root
from .packsum import PackSumXGB

log = logging.getLogger("fisched")

ENTRIES = 8  # boosters kept: a few hosts' or settings' priors, a few MB each
FORMAT = 1  # bump when what an entry holds changes
# the code a trained prior depends on beyond its settings: labels, objectives, tree count
TRAINING_CODE = ("packsum.py", "labels.py", "importance.py")


def default_dir() -> Path:
    return cache_root() / "priors"


def prior_key(ds: Dataset, columns: np.ndarray, labels: str, held_out_rounds: float,
              model_kw: dict) -> str:
    """A digest of everything the trained prior depends on: the programs' rows, offsets,
    measurements and tasks, the columns trained on, the label strategy, the share of tasks held
    out to pick the tree count, every setting of the booster (``PackSumXGB(**model_kw)``'s,
    thread count included: xgboost's sums may round differently with another), the source
    of fisched's training code (``TRAINING_CODE``) and the xgboost version."""
    import xgboost

    h = hashlib.blake2b(digest_size=20)
    for array in (ds.features, ds.row_ptr, ds.run_secs, ds.run_ptr, ds.task_id,
                  np.asarray(columns)):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype}{array.shape}".encode())
        h.update(memoryview(array).cast("B"))
    for name in TRAINING_CODE:
        h.update((Path(__file__).parent / name).read_bytes())
    h.update(json.dumps({"format": FORMAT, "labels": labels, "held_out": held_out_rounds,
                         "model": dataclasses.asdict(PackSumXGB(**model_kw)),
                         "xgboost": xgboost.__version__}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def load(folder: str | Path, key: str, **model_kw) -> PackSumXGB | None:
    """The stored prior of ``key`` as a ``PackSumXGB(**model_kw)`` (None: not stored)."""
    import xgboost as xgb

    meta_path, booster_path = _paths(Path(folder), key)
    start = time.perf_counter()
    try:
        meta = json.loads(meta_path.read_text())
        booster = xgb.Booster()
        booster.load_model(str(booster_path))
    except (OSError, ValueError):  # xgboost's errors are ValueErrors
        return None
    for path in (meta_path, booster_path):
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:  # a read-only cache serves all the same
            pass
    model = PackSumXGB(**model_kw).with_booster(booster, meta["n_features"])
    model.final_loss_ = meta.get("final_loss")
    model.train_seconds_ = time.perf_counter() - start  # what getting it cost this time
    return model


def store(folder: str | Path, key: str, model: PackSumXGB, entries: int = ENTRIES) -> None:
    """Keep ``model`` under ``key``; drop the least recently used entries beyond ``entries``
    (and files of entries left half-written)."""
    folder = Path(folder)
    meta_path, booster_path = _paths(folder, key)
    meta = {"n_features": model.n_features_, "final_loss": model.final_loss_,
            "trained_s": model.train_seconds_, "trees": model.booster_.num_boosted_rounds()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(booster_path, bytes(model.booster_.save_raw("ubj")))
        _write(meta_path, json.dumps(meta).encode())
    except (OSError, ValueError) as e:
        log.warning("could not keep the trained fi prior in %s: %s", folder, e)
        return
    _evict(folder, entries)


def _write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary file of a name no other writer has."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _evict(folder: Path, entries: int) -> None:
    """Keep the ``entries`` entries used last. Boosters without metadata and temporary files
    are removed once an hour old (their writer died; a younger one may be mid-write). Files
    others remove meanwhile are skipped."""
    def mtime(path: Path) -> float | None:
        try:
            return path.stat().st_mtime
        except OSError:
            return None

    metas = sorted(((t, p.stem) for p in folder.glob("*.json") if (t := mtime(p)) is not None),
                   reverse=True)
    evicted = {stem for _, stem in metas[entries:]}
    listed = {stem for _, stem in metas}
    hour_ago = time.time() - 3600
    for path in folder.iterdir():
        orphan = path.name.startswith(".") or (path.suffix == ".ubj" and path.stem not in listed)
        if path.stem in evicted or (orphan and (mtime(path) or hour_ago) < hour_ago):
            path.unlink(missing_ok=True)


def _paths(folder: Path, key: str) -> tuple[Path, Path]:
    """(metadata, booster) files of an entry."""
    return folder / f"{key}.json", folder / f"{key}.ubj"
