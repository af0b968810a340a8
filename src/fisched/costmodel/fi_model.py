"""``FeatureImportanceModel``: a MetaSchedule cost model on importance-selected features with
reassigned labels, optionally warm-started from a prior dataset.

It is a ``PyCostModel``, so it goes wherever ``XGBModel`` goes (``tune_tasks``, ``tune_relax``,
``fisched tune --cost-model fi``). Like ``XGBModel`` it extracts MetaSchedule's 164 per-store
features, keeps per-task groups of (rows, latency) and trains pack-sum XGBoost; unlike it, it
trains on the selected columns only and on labels from a fisched label strategy.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm_ffi import structural_hash

from ..errors import FischedError
from ..metaschedule.records import mean_seconds
from ..metaschedule.target import host_cpu, host_info
from . import prior_cache as cached_priors
from .dataset import Dataset, host_descriptor, load_dataset, with_host_columns
from .features import N_FEATURES
from .importance import FeatureSelection, fit_model, reselect
from .labels import get_label_fn, labels_for
from .library import default_prior
from .packsum import PackSumXGB

log = logging.getLogger("fisched")


def _latency(result) -> float:
    secs = None if result.error_msg is not None else mean_seconds(result.run_secs)
    return float("inf") if secs is None else secs


_M64 = 2**64


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64s: every input bit reaches every output bit."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def gumbel_noise(keys: list[int], salt: int) -> np.ndarray:
    """Standard Gumbel draws, one per key, each a fixed function of (key, ``salt``): a program
    scored again under the same salt gets the same draw, under another salt a fresh one.
    (Their mean is Euler's gamma; ``FeatureImportanceModel`` subtracts it.)"""
    salt_mix = _mix64(np.array([salt % _M64], dtype=np.uint64))[0]
    z = _mix64(np.array([k % _M64 for k in keys], dtype=np.uint64) ^ salt_mix)
    u = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53  # in (0, 1)
    return -np.log(-np.log(u))


# Chosen by `fisched evaluate` (results/evaluate.md): on tasks held out of training, the
# pairwise objective on stock labels over the cumulative-95% selection, with the tree count
# picked on held-out tasks, ranks and picks better than every squared-error configuration.
DEFAULT_LABELS = "stock"
DEFAULT_OBJECTIVE = "pairwise"
DEFAULT_HELD_OUT_ROUNDS = 0.2
# ``score_map="odds"``: scores are clipped to +-this before exp: e^700 is positive and finite
# in float64, and so are sums of up to ~17,000 of them (populations are at most a few thousand)
MAX_LOG_ODDS = 700.0
# what predict returns of the pairwise margin (``FeatureImportanceModel``'s ``score_map``)
SCORE_MAPS = ("margin", "odds", "softplus")
FEATURE_CACHE_PROGRAMS = 20_000  # ~1-3 KB each (a few stores x 164 float32)
DEFAULTS = Path(__file__).parent.parent / "defaults"
DEFAULT_SELECTION = DEFAULTS / "selection.json"
DEFAULT_PRIOR = DEFAULTS / "prior.npz"


class FeatureCache:
    """MetaSchedule's per-store features of recently seen programs, by the structural hash of
    the scheduled module, so a program scored again is not extracted again.

    The evolutionary search scores its whole population in each of its five generations per
    round, and much of it was scored before: the best measured programs seed every round's
    population afresh, and each generation carries some parents over unmutated. Extraction is
    nearly all of a prediction's cost (results/predict_cost.md), and a model that predicts from
    the first round (one with a prior) pays it from the first round on. ``size`` 0 turns the
    cache off; beyond ``size`` programs the least recently used are dropped.
    """

    def __init__(self, extractor, size: int = FEATURE_CACHE_PROGRAMS,
                 keep_keys: bool = False) -> None:
        self.extractor = extractor
        self.size = size
        self.keep_keys = keep_keys  # hash the programs even without a cache (``last_keys``)
        self.rows: dict[int, np.ndarray] = {}  # least recently used first
        self.hits = 0
        self.misses = 0
        self.last_keys: list[int] = []  # the structural hashes of the last call's candidates

    def __call__(self, context, candidates) -> list[np.ndarray]:
        """One (stores x 164) array per candidate."""
        keys = ([int(structural_hash(c.sch.mod)) for c in candidates]
                if self.size or self.keep_keys else [])
        self.last_keys = keys
        if not self.size:
            return [f.numpy() for f in self.extractor.extract_from(context, candidates)]
        todo = {}  # key -> a candidate with it: each new program is extracted once
        for key, cand in zip(keys, candidates):
            if key in self.rows:
                self.rows[key] = self.rows.pop(key)  # now the most recently used
            else:
                todo.setdefault(key, cand)
        if todo:
            feats = self.extractor.extract_from(context, list(todo.values()))
            for key, f in zip(todo, feats):
                self.rows[key] = f.numpy()
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        out = [self.rows[k] for k in keys]
        for old in list(self.rows)[:max(0, len(self.rows) - self.size)]:
            del self.rows[old]
        return out


@derived_object
class FeatureImportanceModel(ms.cost_model.PyCostModel):
    """Pack-sum XGBoost on selected features with reassigned labels."""

    def __init__(self, selection="default", labels: str = DEFAULT_LABELS, prior="default",
                 seed: int = 0, finetune_rounds: int = 50, objective: str = DEFAULT_OBJECTIVE,
                 prior_held_out_rounds: float = DEFAULT_HELD_OUT_ROUNDS,
                 reselect_every: int = 0, feature_cache: int = FEATURE_CACHE_PROGRAMS,
                 nthread: int = 1, host_features: bool = False, prior_cache="default",
                 explore: float = 0.0, score_map: str = "margin", **kw) -> None:
        """A MetaSchedule cost model; with no arguments, the shipped one (``--cost-model fi``).

        ``selection``: a ``FeatureSelection``, its path, ``"default"`` (the shipped one,
        ``DEFAULT_SELECTION``) or None (all 164 features); ``labels`` and ``objective``
        (``squared``, MetaSchedule's, or ``pairwise``: ranking within each task, packsum.py) as
        ``fisched evaluate`` chose them; ``nthread`` for XGBoost (1 by default: OpenMP spins on
        a busy small machine); ``kw`` goes to ``PackSumXGB``.

        ``prior`` (a dataset, its path, ``"default"``: the shipped one plus what this host's
        local library learned, ``library.default_prior``, or None: none) is
        trained on once, here, with the number of trees chosen on ``prior_held_out_rounds`` of
        its tasks held out (0: until the training loss stops improving; a prior is for tasks
        it has not seen); every later update then boosts at most ``finetune_rounds`` more trees
        on the programs measured in this session, starting from the prior's trees. Without a
        prior each update trains from scratch on what was measured, as ``XGBModel`` does.
        benchmarks/transfer.py measured 25, 100 and 400 rounds ranking alike after a first
        round (16 programs per task are memorised within 25 rounds); 50 leaves room for longer
        sessions at the cost of at most 50 trees.

        ``reselect_every`` (off at 0): each time that many more programs have been measured,
        the features are ranked anew on the prior's programs and the measured ones (all 164
        columns, this model's labels and objective, ``importance.reselect``) and the
        selection's policy (cumulative 95% if there was no selection) picks the columns again;
        if they change, the prior is retrained on them. It costs a 164-column training of the
        prior each time, and its effect on tuning has not been measured yet, hence off.
        ``feature_cache``: programs whose features are kept (``FeatureCache``; 0: none).

        ``host_features``: every program also gets its host's descriptor (vector width, cores,
        ISA features: ``dataset.host_descriptor``) as more columns beside the selected ones:
        the prior's programs their own hosts', those measured here this machine's. The trees
        can then rank a task differently on an AVX-512 host than on an AVX2 one.
        benchmarks/host_transfer.py (results/host_transfer.md) measures it against the
        prior without them; off until a tuning run shows it helps.

        ``explore`` (off at 0): a temperature. Once the model is trained (or has a prior),
        each prediction adds ``explore`` x a centred Gumbel draw (mean 0) to every program's
        score, the draw fixed per program until the next ``update`` (``gumbel_noise``), so
        one search's generations see one consistent ranking and the next search a fresh one.
        The search then measures its top candidates by perturbed score: at 1.0 a program
        comes first about as often as the pairwise model's odds say it is the fastest
        (Gumbel-top-k sampling of a Bradley-Terry model), below 1 more often the argmax. The
        evolutionary search also picks the parents it mutates in proportion to the scores
        (MetaSchedule clips them at 0 first), so the draws spread those picks too. Without
        it a confident prior sends every batch of a task to the same neighbourhood; the stock
        model, untrained in the first round, explores by being random there. Its effect on
        tuning is measured by ``fisched experiment``'s ``fi-prior-explore`` arm; off until
        that shows it helps.

        ``score_map`` (``SCORE_MAPS``): what ``predict`` returns of the model's score.
        ``"margin"`` (the default) the score itself. ``"odds"`` (pairwise objective only):
        ``exp(score)`` instead of the score, the pairwise model's odds that a program beats
        one scored 0 (its
        Bradley-Terry strength, as far as the margins are calibrated: the loss weights pairs
        and training stops early): the same ranking, but positive. MetaSchedule's
        evolutionary search clips scores at 0 (``PredictNormalizedScore``,
        evolutionary_search.cc), keeps its best candidates by score over the generations, and
        draws the parents it mutates in proportion to the scores. That was written for
        ``XGBModel``'s normalised throughputs, which live in [0, 1]; a pairwise margin has an
        arbitrary offset, and in a search it can be below 0 for most of a population or all of
        it. Programs at 0 tie at the bottom and are never parents; a population scored all at
        or below 0 draws every parent from its first program (the best measured one after a
        task's first round), and a search that never scores above 0 measures its candidates
        in the order they were sampled. With odds the parents are drawn in proportion to
        the model's odds. With ``explore`` too, the draw is added before ``exp``: the picks
        are ranked as without odds, and the parents drawn by the perturbed odds (at
        temperature 1 their weights' noise is heavy-tailed: a few draws dominate). Measured
        by ``fisched experiment``'s ``fi-prior-odds`` arm: no better than the margin (results.md,
        "Odds"). ``"softplus"`` (pairwise objective only): ``log(1 + exp(score))``, the
        clip at 0 made strictly increasing: about the score where it is well above 0 (several
        units: at 0 it is 0.69, at 1 1.31, at -1 0.31), about ``exp(score)`` well below, so a
        search with nothing above 0 is still ranked, and its parents drawn almost as with
        odds. Where margins are a few units, programs below 0 keep a real share of the draw;
        and it is not shift-invariant, so how close it is to the clip or to odds depends on
        each task's offset. ``fisched experiment``'s ``fi-prior-softplus`` arm measured it
        for one seed on znver4: its first round picked worse than the margin's, and it
        reached stock's final estimate on one model of three (results.md, "Softplus"); off.

        ``prior_cache``: the folder trained priors are kept in and loaded from
        (``fisched.costmodel.prior_cache``; ``"default"``: its ``default_dir``; None: always
        train), so a model whose prior and settings equal an earlier one's skips the training.
        """
        super().__init__()
        if isinstance(selection, str) and selection == "default":
            selection = DEFAULT_SELECTION if DEFAULT_SELECTION.exists() else None
            if selection is None:
                log.warning("no shipped feature selection; fi uses all 164 features")
        if isinstance(prior, str) and prior == "default":
            prior = default_prior(host_cpu(), DEFAULT_PRIOR)
        self.prior_held_out_rounds = prior_held_out_rounds
        kw["nthread"] = nthread
        sel = selection
        if isinstance(sel, (str, Path)):
            sel = FeatureSelection.load(sel)
        self.selection = sel
        # the host's descriptor, appended to every measured row (None: no host columns)
        self.host_desc = host_descriptor(host_info()) if host_features else None
        self.columns = self._with_host(np.arange(N_FEATURES) if sel is None else sel.indices_)
        self.labels = labels
        get_label_fn(labels)  # fail now on a bad name
        self.explore = float(explore)
        if "odds" in kw:  # it would reach XGBoost, and fail late and unclearly there
            raise FischedError("odds=True is now score_map='odds'")
        self.score_map = score_map
        self.updates = 0  # update calls so far: the exploration draws' salt
        self.features = FeatureCache(ms.feature_extractor.PerStoreFeature(), feature_cache,
                                     keep_keys=self.explore > 0)
        self.groups: dict[str, list] = {}  # task key -> [rows list, latency list]
        self.seed = seed
        self.model_kw = dict(kw, objective=objective)
        self._check_score_map()
        self.finetune_rounds = finetune_rounds
        self.trainings = 0
        self.prior_model = None
        self.prior_programs = 0
        self.prior_cache = (cached_priors.default_dir() if isinstance(prior_cache, str)
                            and prior_cache == "default" else prior_cache)
        self.prior_cached = False  # whether the prior was loaded rather than trained
        self.reselect_every = reselect_every
        self.reselections = 0
        self.reselected_at = 0  # programs measured at the last re-ranking
        prior_ds = load_dataset(prior) if isinstance(prior, (str, Path)) else prior
        # kept only if re-ranking will need it again
        self.prior_ds = None
        if isinstance(prior_ds, Dataset) and prior_ds.n_programs:
            if host_features:
                prior_ds = with_host_columns(prior_ds)[0]
            self.prior_ds = prior_ds if reselect_every else None
            self.prior_model = self._fit_prior(prior_ds)
            self.prior_programs = prior_ds.n_programs
        self.booster = self.prior_model

    def _check_score_map(self) -> None:
        if self.score_map not in SCORE_MAPS:
            raise FischedError(f"score_map {self.score_map!r}: one of {', '.join(SCORE_MAPS)}")
        if self.score_map != "margin" and self.model_kw["objective"] != "pairwise":
            raise FischedError(f"score_map {self.score_map!r} maps a pairwise margin; a "
                               f"{self.model_kw['objective']} objective predicts the label")

    def _with_host(self, columns: np.ndarray) -> np.ndarray:
        """``columns`` of the 164 features, plus the host columns if this model has them."""
        if self.host_desc is None:
            return np.asarray(columns)
        return np.concatenate([columns, N_FEATURES + np.arange(len(self.host_desc))])

    def _with_desc(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` with the host's descriptor appended to each, if this model uses it."""
        if self.host_desc is None:
            return rows
        desc = np.broadcast_to(self.host_desc.astype(rows.dtype), (len(rows), len(self.host_desc)))
        return np.hstack([rows, desc])

    def _fit_prior(self, prior_ds, cache: bool = True):
        """The prior's model on the current columns: from the cache if it holds one trained
        on the same programs the same way, else trained (and then kept there). ``cache``
        False: trained, never kept (a re-ranking's columns would crowd the cache out)."""
        kw = dict(self.model_kw, seed=self.seed)
        key = None
        if cache and self.prior_cache is not None:
            key = cached_priors.prior_key(prior_ds, self.columns, self.labels,
                                          self.prior_held_out_rounds, kw)
            model = cached_priors.load(self.prior_cache, key, **kw)
            self.prior_cached = model is not None
            if model is not None:
                return model
        model = fit_model(prior_ds, np.arange(prior_ds.n_programs), self.columns,
                          self.labels, held_out_rounds=self.prior_held_out_rounds, **kw)
        if key is not None:
            cached_priors.store(self.prior_cache, key, model)
        return model

    def settings(self) -> dict:
        """What this model is (recorded beside experiment results)."""
        return {"columns": len(self.columns), "labels": self.labels,
                "host_features": self.host_desc is not None,
                "objective": self.model_kw["objective"],
                "finetune_rounds": self.finetune_rounds,
                "prior_programs": self.prior_programs,
                "prior_trees": (None if self.prior_model is None else
                                self.prior_model.booster_.num_boosted_rounds()),
                # training it, or loading it where it was cached
                "prior_train_s": getattr(self.prior_model, "train_seconds_", None),
                "prior_cached": self.prior_cached,
                "reselect_every": self.reselect_every, "reselections": self.reselections,
                "explore": self.explore, "score_map": self.score_map,
                "feature_cache": {"programs": self.features.size,
                                  "hits": self.features.hits,
                                  "misses": self.features.misses}}

    # -- training ----------------------------------------------------------------
    def _training_set(self, groups, columns=None):
        """(rows, row_ptr, labels, weights, task of each program) of the measured groups,
        on ``columns`` (default: the selected ones)."""
        columns = self.columns if columns is None else columns
        rows, ptr, ys, ws, gid = [], [0], [], [], []
        fn = get_label_fn(self.labels)
        for g, (prog_rows, lats) in enumerate(groups):
            y, w = fn(np.asarray(lats, float))
            for r in prog_rows:
                rows.append(r[:, columns])
                ptr.append(ptr[-1] + len(r))
            ys.append(y)
            ws.append(w)
            gid.append(np.full(len(y), g))
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
        return (np.concatenate(rows) if rows else np.zeros((0, len(columns))),
                np.asarray(ptr), cat(ys), cat(ws), cat(gid).astype(np.int64))

    def _fit(self, groups, init):
        rows, ptr, y, w, gid = self._training_set(groups)
        if len(y) < 2 or not np.any(w > 0):
            return init
        kw = dict(self.model_kw)
        if init is not None:
            kw["max_rounds"] = self.finetune_rounds
        return PackSumXGB(seed=self.seed, **kw).fit(rows, ptr, y, w, init=init, groups=gid)

    def _reselect(self, measured: int) -> None:
        """Rank all features on the prior's and the ``measured`` programs; switch columns."""
        rows, ptr, y, w, gid = self._training_set(self.groups.values(),
                                                  np.arange(N_FEATURES))
        p = self.prior_ds
        if p is not None:
            py, pw = labels_for(p.latency, p.task_id, self.labels)
            rows = np.concatenate([p.features[:, :N_FEATURES], rows])
            ptr = np.concatenate([p.row_ptr, ptr[1:] + p.row_ptr[-1]])
            y, w = np.concatenate([py, y]), np.concatenate([pw, w])
            gid = np.concatenate([p.task_id, gid + len(p.tasks)])
        if len(y) < 2 or not np.any(w > 0):
            return
        policy = self.selection if self.selection is not None else FeatureSelection()
        new = reselect(policy, rows, ptr, y, w, gid, seed=self.seed, **self.model_kw)
        self.reselections += 1
        self.reselected_at = measured
        if np.array_equal(self._with_host(new.indices_), self.columns):
            return
        log.info("fi cost model: re-ranked features, %d -> %d columns (%d new)",
                 len(self.columns), len(new.indices_),
                 len(np.setdiff1d(new.indices_, self.columns)))
        self.selection, self.columns = new, self._with_host(new.indices_)
        if p is not None:
            self.prior_model = self._fit_prior(p, cache=False)
            self.prior_cached = False
        self.booster = self.prior_model  # the session's trees were on the old columns

    def _train(self) -> None:
        booster = self._fit(self.groups.values(), self.prior_model)
        if booster is not self.booster:
            self.booster = booster
            self.trainings += 1

    # -- PyCostModel interface ---------------------------------------------------
    def update(self, context, candidates, results) -> None:
        if not candidates:
            return
        self.updates += 1
        key = str(structural_hash(context.mod))  # one group per task
        feats = [self._with_desc(f) for f in self.features(context, candidates)]
        group = self.groups.setdefault(key, [[], []])
        group[0].extend(feats)
        group[1].extend(_latency(r) for r in results)
        measured = sum(len(g[1]) for g in self.groups.values())
        if self.reselect_every and measured - self.reselected_at >= self.reselect_every:
            self._reselect(measured)
        self._train()

    def predict(self, context, candidates) -> np.ndarray:
        if self.booster is None:
            return np.random.default_rng(self.seed).uniform(size=len(candidates))
        feats = self.features(context, candidates)
        ptr = np.concatenate([[0], np.cumsum([len(f) for f in feats])])
        # the selected columns first, the host's after: no copy of the 164 for cache hits
        own = self.columns[self.columns < N_FEATURES]
        rows = self._with_desc(np.concatenate(feats)[:, own]) if feats else \
            np.zeros((0, len(self.columns)))
        scores = self.booster.predict(rows, ptr)
        if self.explore > 0:
            salt = self.seed * 1_000_003 + self.updates
            noise = gumbel_noise(self.features.last_keys, salt) - np.euler_gamma
            scores = scores + self.explore * noise
        if self.score_map == "odds":
            # within float64's range: positive, and the search's sums of scores finite
            scores = np.exp(np.clip(np.asarray(scores, np.float64), -MAX_LOG_ODDS,
                                    MAX_LOG_ODDS))
        elif self.score_map == "softplus":  # log(1 + e^x), clipped as odds: above 0
            scores = np.logaddexp(0.0, np.clip(np.asarray(scores, np.float64), -MAX_LOG_ODDS,
                                               None))
        return scores

    def save(self, path: str) -> None:
        """A directory: the boosters (prior and current), the measured groups, settings."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for k, (rows, lats) in enumerate(self.groups.values()):
            width = N_FEATURES + (0 if self.host_desc is None else len(self.host_desc))
            arrays[f"rows{k}"] = np.concatenate(rows) if rows else np.zeros((0, width))
            arrays[f"ptr{k}"] = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
            arrays[f"lat{k}"] = np.asarray(lats, float)
        np.savez_compressed(out / "data.npz", **arrays)
        (out / "settings.json").write_text(json.dumps(
            {"columns": self.columns.tolist(), "labels": self.labels,
             "host_desc": None if self.host_desc is None else self.host_desc.tolist(),
             "objective": self.model_kw["objective"],
             "groups": list(self.groups), "trained": self.booster is not None,
             "prior": self.prior_model is not None, "prior_programs": self.prior_programs,
             "finetune_rounds": self.finetune_rounds,
             "reselect_every": self.reselect_every, "reselections": self.reselections,
             "reselected_at": self.reselected_at, "explore": self.explore,
             "score_map": self.score_map, "updates": self.updates, "seed": self.seed}))
        if self.booster is not None:
            self.booster.booster_.save_model(str(out / "booster.json"))
        if self.prior_model is not None:
            self.prior_model.booster_.save_model(str(out / "prior.json"))

    def load(self, path: str) -> None:
        import xgboost as xgb

        src = Path(path)
        settings = json.loads((src / "settings.json").read_text())
        self.columns = np.asarray(settings["columns"], dtype=np.int64)
        # the measured rows below carry the host they were measured on; new ones this one's
        self.host_desc = (host_descriptor(host_info()) if settings.get("host_desc")
                          else None)
        if self.host_desc is not None and len(settings["host_desc"]) != len(self.host_desc):
            raise FischedError(f"{src} was saved with a host descriptor of "
                               f"{len(settings['host_desc'])} columns, this fisched has "
                               f"{len(self.host_desc)}: tune it again")
        self.labels = settings["labels"]
        self.model_kw["objective"] = settings.get("objective", "squared")
        self.finetune_rounds = settings.get("finetune_rounds", self.finetune_rounds)
        self.prior_programs = settings.get("prior_programs", 0)
        # the prior dataset is not stored: later re-rankings see the measured programs only
        self.reselect_every = settings.get("reselect_every", 0)
        self.reselections = settings.get("reselections", 0)
        self.reselected_at = settings.get("reselected_at", 0)
        # a file from before exploration existed keeps this model's own setting
        self.explore = settings.get("explore", self.explore)
        if "score_map" in settings:
            self.score_map = settings["score_map"]
        elif "odds" in settings:  # a file from before score_map; with neither, the model's own
            self.score_map = "odds" if settings["odds"] else "margin"
        self._check_score_map()
        self.updates = settings.get("updates", 0)
        self.seed = settings.get("seed", self.seed)  # the draws' salt continues
        self.features.keep_keys = self.explore > 0
        with np.load(src / "data.npz") as z:
            self.groups = {}
            for k, key in enumerate(settings["groups"]):
                rows, ptr = z[f"rows{k}"], z[f"ptr{k}"]
                self.groups[key] = [[rows[ptr[i]:ptr[i + 1]] for i in range(len(ptr) - 1)],
                                    z[f"lat{k}"].tolist()]

        def booster(name):
            loaded = xgb.Booster()
            loaded.load_model(str(src / name))
            return PackSumXGB(seed=self.seed, **self.model_kw).with_booster(
                loaded, len(self.columns))

        self.prior_model = booster("prior.json") if settings.get("prior") else None
        self.booster = booster("booster.json") if settings["trained"] else None


def make_fi_model(selection=None, labels: str = DEFAULT_LABELS, prior=None, seed: int = 0,
                  **kw):
    """``FeatureImportanceModel`` with nothing shipped unless asked: no selection (all 164
    features) and no prior by default, for studies that choose each part explicitly (and
    whose priors, one per fold, stay out of the user's prior cache unless ``prior_cache``)."""
    return FeatureImportanceModel(selection=selection, labels=labels, prior=prior, seed=seed,
                                  **{"prior_cache": None, **kw})


def default_fi_model(num_cores: int, seed: int | None, prior="default", reselect_every: int = 0):
    """``--cost-model fi``: ``FeatureImportanceModel()`` (the shipped selection, labels and
    objective), warm-started from the shipped dataset (``prior="default"``), from another
    dataset (a path or ``Dataset``), or cold (``None``)."""
    return FeatureImportanceModel(prior=prior, seed=seed or 0, nthread=num_cores,
                                  reselect_every=reselect_every)
