"""FeatureImportanceModel inside a real MetaSchedule search; save/load; warm start."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fisched.costmodel.features import N_FEATURES
from fisched.costmodel.importance import FeatureSelection


@pytest.fixture(scope="module")
def fi_run(tmp_path_factory, target):
    from test_tune import _matmul_task

    from fisched.costmodel.fi_model import make_fi_model
    from fisched.metaschedule.records import open_database
    from fisched.tuning.tune import run_search

    tmp = tmp_path_factory.mktemp("fi")
    scores = np.zeros(N_FEATURES)
    scores[[1, 2, 16, 38, 57, 61, 147, 163]] = np.arange(8, 0, -1)
    selection = FeatureSelection("top-k", 6).fit(scores)
    model = make_fi_model(selection=selection, labels="rank", seed=0)
    task = _matmul_task()
    database = open_database(tmp)
    run_search([task], tmp, database, target, max_trials=8, per_iter=4,
               strategy="evolutionary", cost_model=model, seed=0, callbacks=[])
    return tmp, model, task, database, selection


def _candidates(database, task, target):
    from fisched.costmodel.dataset import replay
    from fisched.metaschedule.build import tune_context

    context = tune_context(task.mod, target)
    return context, [replay(r) for r in database.get_all_tuning_records()]


def _spearman(a, b):
    """Rank correlation; tied values share their mean rank."""
    def ranks(x):
        _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
        return mean_rank[inverse]
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


@pytest.mark.slow
def test_model_trains_inside_the_search(fi_run):
    _, model, *_ = fi_run
    assert model.trainings >= 1  # update() after each measured batch trained it
    assert sum(len(g[1]) for g in model.groups.values()) == 8
    assert model.columns.tolist() == [1, 2, 16, 38, 57, 61]


def test_save_load_round_trip(fi_run, tmp_path, target):
    from fisched.costmodel.fi_model import make_fi_model

    _, model, task, database, selection = fi_run
    context, cands = _candidates(database, task, target)
    before = model.predict(context, cands)
    assert len(before) == len(cands) and np.all(np.isfinite(before))
    model.save(str(tmp_path / "m"))
    fresh = make_fi_model(selection=None, labels="stock", seed=5)
    fresh.load(str(tmp_path / "m"))
    np.testing.assert_allclose(fresh.predict(context, cands), before, rtol=1e-6)
    assert fresh.labels == "rank" and fresh.columns.tolist() == selection.indices_.tolist()
    assert sum(len(g[1]) for g in fresh.groups.values()) == 8  # the measured data is kept


def test_feature_cache_extracts_each_program_once(fi_run, target):
    from tvm.s_tir import meta_schedule as ms

    from fisched.costmodel.fi_model import FeatureCache

    _, _, task, database, _ = fi_run
    context, cands = _candidates(database, task, target)
    extractor = ms.feature_extractor.PerStoreFeature()
    plain = FeatureCache(extractor, size=0)(context, cands)
    cache = FeatureCache(extractor, size=5)
    got = cache(context, cands + cands[:2])  # a program twice in one call is extracted once
    assert (cache.misses, cache.hits, len(cache.rows)) == (8, 2, 5)
    for a, b in zip(got, plain + plain[:2]):
        np.testing.assert_array_equal(a, b)
    again = _candidates(database, task, target)[1]  # the same programs, new Schedule objects
    got = cache(context, again[-5:])  # the 5 used last were kept
    assert (cache.misses, cache.hits) == (8, 7)
    for a, b in zip(got, plain[-5:]):
        np.testing.assert_array_equal(a, b)
    cache(context, again[:1])  # dropped as the least recently used
    assert (cache.misses, cache.hits) == (9, 7)


def test_gumbel_noise_is_fixed_per_program_and_salt_and_samples_by_the_odds():
    """The draws are a function of (program, salt); and perturbing scores with them picks each
    program as first about as often as the pairwise (Bradley-Terry) odds say: scores 0 and
    log 3 put the second first three times in four."""
    from fisched.costmodel.fi_model import gumbel_noise

    keys = [5, -7, 2**63 + 11, 5]  # structural hashes may be negative or above 2**63
    a = gumbel_noise(keys, salt=1)
    np.testing.assert_array_equal(a, gumbel_noise(keys, salt=1))
    assert a[0] == a[3] and len(np.unique(a)) == 3
    assert not np.any(a == gumbel_noise(keys, salt=2))
    many = gumbel_noise(list(range(20_000)), salt=3)
    assert abs(many.mean() - np.euler_gamma) < 0.05  # the standard Gumbel's mean
    scores = np.array([0.0, np.log(3.0)])
    wins = sum(int(np.argmax(scores + gumbel_noise([101, 202], salt))) for salt in range(4000))
    assert 0.70 < wins / 4000 < 0.80


def _planted_prior(workdir, selection, target):
    """The search's programs as a prior dataset, their latencies planted as a function of the
    selected features, so checks do not hang on timings from a busy machine (and a schedule
    found twice gets one latency)."""
    from fisched.costmodel.dataset import build_dataset

    prior = build_dataset([workdir], progress=False, target=target)  # a plain MetaSchedule workdir
    signal = prior.pack_sum()[:, selection.indices_] @ np.linspace(1.0, 2.0, 6)
    planted = 1e-3 * (1 + np.searchsorted(np.unique(signal), signal))
    assert len(np.unique(planted)) > 1
    return dataclasses.replace(prior, run_secs=planted, run_ptr=np.arange(prior.n_programs + 1))


def test_warm_start_from_prior_dataset(fi_run, target, tmp_path):
    from fisched.costmodel.fi_model import make_fi_model

    tmp, _, task, database, selection = fi_run
    prior = _planted_prior(tmp, selection, target)
    cold = make_fi_model(selection=selection, seed=0)
    warm = make_fi_model(selection=selection, prior=prior, seed=0, finetune_rounds=7)
    assert cold.booster is None and warm.booster is warm.prior_model is not None
    info = warm.settings()
    assert info["objective"] == "pairwise" and info["prior_programs"] == 8
    assert info["prior_trees"] == warm.prior_model.booster_.num_boosted_rounds() > 0
    context, cands = _candidates(database, task, target)
    pred = warm.predict(context, cands)
    # trained on these very programs, the warm model puts the fastest first and orders the rest
    # broadly by latency (the default pairwise loss on best/latency labels spends little on
    # ordering the slow ones, so two neighbours may swap: CI once saw places 3 and 4 swapped)
    assert int(np.argmax(pred)) == int(np.argmin(prior.latency))
    assert _spearman(pred, -prior.latency) > 0.5

    # a measured batch fine-tunes a copy of the prior: at most 7 more trees, prior untouched
    prior_trees = warm.prior_model.booster_.num_boosted_rounds()
    from tvm.s_tir import meta_schedule as ms

    results = [ms.runner.RunnerResult(r.run_secs, None)
               for r in database.get_all_tuning_records()]
    warm.update(context, cands, results)
    assert warm.booster is not warm.prior_model and warm.trainings == 1
    assert warm.prior_model.booster_.num_boosted_rounds() == prior_trees
    assert prior_trees < warm.booster.booster_.num_boosted_rounds() <= prior_trees + 7
    np.testing.assert_allclose(warm.prior_model.predict(
        *_rows(warm, context, cands)), pred, rtol=1e-6)

    warm.save(str(tmp_path / "w"))
    fresh = make_fi_model(selection=selection, seed=0)
    fresh.load(str(tmp_path / "w"))
    np.testing.assert_allclose(fresh.predict(context, cands), warm.predict(context, cands),
                               rtol=1e-6)
    assert fresh.prior_model is not None and fresh.finetune_rounds == 7
    fresh.update(context, cands, results)  # continues from the loaded prior, not from scratch
    assert fresh.booster.booster_.num_boosted_rounds() <= prior_trees + 7


def test_explore_perturbs_each_search_consistently_and_the_next_one_afresh(fi_run, target,
                                                                          tmp_path):
    """With ``explore`` the model's scores are the plain model's plus temperature x a centred
    Gumbel draw per program; the same within a search (no update between), fresh after an
    update; the temperature and the draws survive save/load, with or without the feature
    cache. Without it the scores are the plain model's."""
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    from fisched.costmodel.fi_model import gumbel_noise, make_fi_model

    tmp, _, task, database, selection = fi_run
    prior = _planted_prior(tmp, selection, target)
    plain = make_fi_model(selection=selection, prior=prior, seed=4)
    explored = make_fi_model(selection=selection, prior=prior, seed=4, explore=2.0)
    assert explored.settings()["explore"] == 2.0 and plain.settings()["explore"] == 0.0
    context, cands = _candidates(database, task, target)
    keys = [int(structural_hash(c.sch.mod)) for c in cands]
    base = plain.predict(context, cands)
    first = explored.predict(context, cands)
    draw = lambda salt: 2.0 * (gumbel_noise(keys, salt) - np.euler_gamma)  # noqa: E731
    np.testing.assert_allclose(first, base + draw(4 * 1_000_003), rtol=1e-9)
    np.testing.assert_array_equal(explored.predict(context, cands), first)
    results = [ms.runner.RunnerResult(r.run_secs, None)
               for r in database.get_all_tuning_records()]
    for model in (plain, explored):
        model.update(context, cands[:4], results[:4])
    after = explored.predict(context, cands)
    np.testing.assert_allclose(after, plain.predict(context, cands) + draw(4 * 1_000_003 + 1),
                               rtol=1e-9)
    assert not np.allclose(after - plain.predict(context, cands), first - base)
    explored.save(str(tmp_path / "e"))
    fresh = make_fi_model(selection=selection, seed=9, feature_cache=0)  # seed: the saved one
    fresh.load(str(tmp_path / "e"))
    np.testing.assert_allclose(fresh.predict(context, cands), after, rtol=1e-6)
    # the experiment's arm is fi-prior with the exploration temperature, the others without;
    # fi-prior-odds and -softplus are fi-prior with their score maps, not exploring
    from fisched.study.experiment import EXPLORE, make_arm_model

    arms = {arm: make_arm_model(arm, 1, 0, prior_ds=prior) for arm in
            ("fi-prior", "fi-prior-explore", "fi-prior-odds", "fi-prior-softplus")}
    assert arms["fi-prior-explore"].explore == EXPLORE > 0 and arms["fi-prior"].explore == 0
    assert {a: m.score_map for a, m in arms.items()} == {
        "fi-prior": "margin", "fi-prior-explore": "margin", "fi-prior-odds": "odds",
        "fi-prior-softplus": "softplus"}
    assert arms["fi-prior-odds"].explore == arms["fi-prior-softplus"].explore == 0


def test_score_maps_keep_the_ranking_and_make_every_score_positive(fi_run, target, tmp_path):
    """``score_map="odds"`` returns exp of the plain model's scores, ``"softplus"``
    log(1 + exp): the same order, the ones below MetaSchedule's clip at 0 above it (softplus
    close to the score well above 0), finite even for margins far outside exp's float64
    range; the setting survives save/load (a file from before it keeps the model's own, one
    that said ``odds: true`` loads as odds), and a squared objective, whose scores are
    labels, refuses a map."""
    import json

    from fisched.costmodel.fi_model import make_fi_model
    from fisched.errors import FischedError

    tmp, _, task, database, selection = fi_run
    prior = _planted_prior(tmp, selection, target)
    plain = make_fi_model(selection=selection, prior=prior, seed=2)
    odds = make_fi_model(selection=selection, prior=prior, seed=2, score_map="odds")
    soft = make_fi_model(selection=selection, prior=prior, seed=2, score_map="softplus")
    assert odds.settings()["score_map"] == "odds" and plain.settings()["score_map"] == "margin"
    context, cands = _candidates(database, task, target)
    base = plain.predict(context, cands)
    assert (base < 0).any()  # what the clip would flatten
    np.testing.assert_allclose(odds.predict(context, cands), np.exp(base), rtol=1e-9)
    np.testing.assert_allclose(soft.predict(context, cands), np.log1p(np.exp(base)), rtol=1e-9)
    odds.save(str(tmp_path / "o"))
    fresh = make_fi_model(selection=selection, feature_cache=0)
    fresh.load(str(tmp_path / "o"))
    assert fresh.score_map == "odds"
    np.testing.assert_allclose(fresh.predict(context, cands), np.exp(base), rtol=1e-6)
    settings = json.loads((tmp_path / "o" / "settings.json").read_text())
    del settings["score_map"]
    for written, own, loaded in (({}, "margin", "margin"), ({}, "softplus", "softplus"),
                                 ({"odds": True}, "margin", "odds"),
                                 ({"odds": False}, "softplus", "margin")):
        (tmp_path / "o" / "settings.json").write_text(json.dumps({**settings, **written}))
        older = make_fi_model(selection=selection, score_map=own)
        older.load(str(tmp_path / "o"))
        assert older.score_map == loaded
    soft.save(str(tmp_path / "s"))
    fresh = make_fi_model(selection=selection, feature_cache=0)
    fresh.load(str(tmp_path / "s"))
    assert fresh.settings()["score_map"] == "softplus"
    np.testing.assert_allclose(fresh.predict(context, cands), np.log1p(np.exp(base)), rtol=1e-6)
    settings = json.loads((tmp_path / "s" / "settings.json").read_text())
    (tmp_path / "s" / "settings.json").write_text(json.dumps({**settings, "score_map": "exp"}))
    with pytest.raises((FischedError, RuntimeError), match="one of"):  # through TVM's FFI
        fresh.load(str(tmp_path / "s"))

    class Margins:  # a booster whose margins span more than exp can hold
        def predict(self, rows, ptr):
            return np.linspace(-2000.0, 2000.0, len(ptr) - 1, dtype=np.float32)

    for model in (odds, soft):
        model.booster = Margins()
        wide = model.predict(context, cands)
        assert np.isfinite(wide.sum()) and (wide > 0).all() and (np.diff(wide) >= 0).all()
        assert wide[0] < 1 < wide[-1]
    assert soft.predict(context, cands)[-1] == pytest.approx(2000.0)  # the margin, above 0
    with pytest.raises(FischedError, match="pairwise"):
        make_fi_model(selection=selection, objective="squared", score_map="odds")
    with pytest.raises(FischedError, match="one of"):
        make_fi_model(selection=selection, score_map="exp")
    with pytest.raises(FischedError, match="score_map"):
        make_fi_model(selection=selection, odds=True)


def test_a_trained_prior_is_kept_and_loaded_again(fi_run, target, tmp_path, monkeypatch):
    """The same programs trained the same way load from the prior cache and predict as the
    trained model did; other programs, another seed or other columns train anew; the cache
    keeps the entries used last; studies' models (``make_fi_model``) write nothing."""
    import os
    import time

    from fisched.costmodel import prior_cache
    from fisched.costmodel.fi_model import FeatureImportanceModel, make_fi_model

    tmp, _, task, database, selection = fi_run
    prior = _planted_prior(tmp, selection, target)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = tmp_path / "xdg" / "fisched" / "priors"  # the default folder
    first = FeatureImportanceModel(selection=selection, prior=prior)
    again = FeatureImportanceModel(selection=selection, prior=prior)
    assert not first.prior_cached and again.prior_cached and again.settings()["prior_cached"]
    assert again.prior_model.n_features_ == first.prior_model.n_features_
    context, cands = _candidates(database, task, target)
    np.testing.assert_allclose(again.predict(context, cands), first.predict(context, cands),
                               rtol=1e-6)
    other = dataclasses.replace(prior, run_secs=prior.run_secs[::-1].copy())
    for kw in ({"prior": other, "seed": 0, "selection": selection},
               {"prior": prior, "seed": 1, "selection": selection},
               {"prior": prior, "seed": 0, "selection": None}):
        assert not FeatureImportanceModel(**kw).prior_cached
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 4 and len(list(cache.glob("*.ubj"))) == 4
    for i, path in enumerate(entries):  # all used an hour ago or more
        stamp = time.time() - 3600 - 60 * i
        os.utime(path, (stamp, stamp))
    # loading an entry makes it the one used last: it outlives the others
    assert FeatureImportanceModel(selection=selection, prior=prior).prior_cached
    used = {p.stem for p in entries if os.path.getmtime(p) > time.time() - 1800}
    assert len(used) == 1
    prior_cache.store(cache, "newest", first.prior_model, entries=2)
    assert {p.stem for p in cache.glob("*.json")} == used | {"newest"}
    assert len(list(cache.glob("*.ubj"))) == 2
    make_fi_model(selection=selection, prior=other, seed=3)
    assert len(list(cache.glob("*.json"))) == 2  # a study's prior is never kept


def test_host_features_rank_each_host_by_its_own_programs(fi_run, target, tmp_path):
    """Two hosts' priors with opposite orders over the same programs: with the host's
    descriptor as features, the model ranks by the order measured on the host at hand, so
    swapping which host measured which order reverses its ranking here."""
    from tvm.s_tir import meta_schedule as ms

    from fisched.costmodel.dataset import HOST_DESCRIPTOR, build_dataset, concat_datasets
    from fisched.costmodel.fi_model import make_fi_model
    from fisched.metaschedule.target import host_info

    tmp, _, task, database, selection = fi_run
    ds = build_dataset([tmp], progress=False, target=target)
    signal = ds.pack_sum()[:, selection.indices_] @ np.linspace(1.0, 2.0, 6)
    planted = 1e-3 * (1 + np.searchsorted(np.unique(signal), signal))
    reverse = planted.max() + planted.min() - planted
    assert len(np.unique(planted)) > 1

    def on(host, secs):
        return dataclasses.replace(ds, run_secs=secs, run_ptr=np.arange(ds.n_programs + 1),
                                   tasks=[{**t, "host": host} for t in ds.tasks])

    here = host_info()
    elsewhere = {"llvm_cpu": "elsewhere", "vector_bits": 2 * here["vector_bits"],
                 "cores": here["cores"] + 6}
    context, cands = _candidates(database, task, target)
    preds = []
    for here_secs, elsewhere_secs in ((planted, reverse), (reverse, planted)):
        both = concat_datasets([on(elsewhere, elsewhere_secs), on(here, here_secs)])
        model = make_fi_model(selection=selection, prior=both, seed=0, host_features=True,
                              prior_held_out_rounds=0)
        preds.append(model.predict(context, cands))
    assert model.settings()["host_features"] and len(model.columns) == 6 + len(HOST_DESCRIPTOR)
    # the few programs of the fixture tie often: compare the two models, not exact ranks
    assert planted[int(np.argmax(preds[0]))] == planted.min()
    assert planted[int(np.argmax(preds[1]))] == planted.max()
    assert _spearman(preds[0], -planted) > 0 > _spearman(preds[1], -planted)

    results = [ms.runner.RunnerResult(r.run_secs, None)
               for r in database.get_all_tuning_records()]
    model.update(context, cands, results)  # measured rows carry this host's columns too
    width = next(iter(model.groups.values()))[0][0].shape[1]
    assert model.groups and width == N_FEATURES + len(HOST_DESCRIPTOR)
    model.save(str(tmp_path / "h"))
    fresh = make_fi_model(selection=selection, seed=0)
    fresh.load(str(tmp_path / "h"))
    np.testing.assert_allclose(fresh.predict(context, cands), model.predict(context, cands),
                               rtol=1e-6)


def _rows(model, context, cands):
    feats = [f.numpy() for f in model.features.extractor.extract_from(context, cands)]
    ptr = np.concatenate([[0], np.cumsum([len(f) for f in feats])])
    return np.concatenate(feats)[:, model.columns], ptr


def test_prior_leaves_out_the_tuned_tasks(fi_run, target):
    from test_tune import _matmul_task

    from fisched.costmodel.dataset import build_dataset

    tmp, *_ = fi_run
    prior = build_dataset([tmp], progress=False, target=target)
    assert prior.n_programs == 8 and all("shash" in t for t in prior.tasks)
    kept, left_out = prior.without_tasks([_matmul_task().mod])  # structurally the same task
    assert kept.n_programs == 0 and len(left_out) == 1
    kept, left_out = prior.without_tasks([], models=(prior.tasks[0]["model"],))
    assert kept.n_programs == 0
    kept, left_out = prior.without_tasks([], models=("another-model",))
    assert kept.n_programs == 8 and left_out == []


def test_bad_selection_width_is_refused(tmp_path):
    import json

    from fisched.costmodel.fi_model import make_fi_model
    from fisched.errors import FischedError

    sel = FeatureSelection("top-k", 3).fit(np.arange(N_FEATURES, dtype=float))
    sel.save(tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    data["n_input"] = 172
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(FischedError, match="172"):
        make_fi_model(selection=tmp_path / "s.json")


def test_reselection_switches_columns_and_retrains_the_prior(fi_run, target, tmp_path):
    from tvm.s_tir import meta_schedule as ms

    from fisched.costmodel.dataset import build_dataset
    from fisched.costmodel.fi_model import make_fi_model
    from fisched.costmodel.importance import reselect
    from fisched.costmodel.labels import labels_for

    tmp, _, task, database, selection = fi_run
    prior = build_dataset([tmp], progress=False, target=target)
    model = make_fi_model(selection=selection, prior=prior, seed=0, reselect_every=8)
    old_prior = model.prior_model
    context, cands = _candidates(database, task, target)
    results = [ms.runner.RunnerResult(r.run_secs, None)
               for r in database.get_all_tuning_records()]
    model.update(context, cands[:4], results[:4])  # 4 < 8 measured: no re-ranking yet
    assert model.reselections == 0 and model.columns.tolist() == selection.indices_.tolist()
    model.update(context, cands[4:], results[4:])
    assert model.reselections == 1 and model.reselected_at == 8

    # the columns are what ``reselect`` picks on the prior's and the measured programs together
    rows, ptr, y, w, gid = model._training_set(model.groups.values(), np.arange(N_FEATURES))
    py, pw = labels_for(prior.latency, prior.task_id, "stock")
    expect = reselect(selection, np.concatenate([prior.features, rows]),
                      np.concatenate([prior.row_ptr, ptr[1:] + prior.row_ptr[-1]]),
                      np.concatenate([py, y]), np.concatenate([pw, w]),
                      np.concatenate([prior.task_id, gid + len(prior.tasks)]),
                      seed=0, objective="pairwise")
    assert model.columns.tolist() == expect.indices_.tolist() != selection.indices_.tolist()
    assert model.prior_model is not old_prior  # retrained on the new columns
    assert model.prior_model.n_features_ == model.booster.n_features_ == len(model.columns)
    pred = model.predict(context, cands)
    assert np.all(np.isfinite(pred)) and model.settings()["reselections"] == 1

    model.save(str(tmp_path / "r"))
    fresh = make_fi_model(selection=selection, seed=0)
    fresh.load(str(tmp_path / "r"))
    assert fresh.columns.tolist() == model.columns.tolist() and fresh.reselected_at == 8
    np.testing.assert_allclose(fresh.predict(context, cands), pred, rtol=1e-6)


def test_cli_builds_the_fi_model_with_reselection(tiny_onnx, tmp_path, monkeypatch, capsys):
    import fisched.tuning.tune
    from fisched.cli import main
    from fisched.costmodel.fi_model import DEFAULT_SELECTION
    from fisched.errors import FischedError

    handed = []

    def no_tuning(*args, cost_model_obj=None, **kw):  # what the CLI hands to the search
        handed.append(cost_model_obj)
        raise FischedError("stopped before tuning")

    monkeypatch.setattr(fisched.tuning.tune, "tune", no_tuning)
    args = ["tune", str(tiny_onnx), "--trials", "4", "--workdir", str(tmp_path / "w")]
    assert main([*args, "--cost-model", "fi", "--prior", "none", "--reselect-every", "2"]) == 2
    assert "stopped before tuning" in capsys.readouterr().err
    (model,) = handed
    assert model.reselect_every == 2 and model.prior_model is None
    shipped = FeatureSelection.load(DEFAULT_SELECTION)
    assert model.columns.tolist() == shipped.indices_.tolist()
    assert main([*args, "--reselect-every", "2"]) == 2  # the stock model has no such option
    assert "--cost-model fi only" in capsys.readouterr().err
    assert len(handed) == 1



def test_feature_importance_model_is_public_and_defaults_to_the_shipped_selection():
    """``fisched.FeatureImportanceModel`` is the module-level class; with no selection given it
    keeps the shipped selection's columns, and it is a MetaSchedule cost model."""
    from tvm.s_tir import meta_schedule as ms

    import fisched
    from fisched.costmodel.fi_model import DEFAULT_SELECTION, FeatureImportanceModel
    from fisched.costmodel.importance import FeatureSelection

    assert fisched.FeatureImportanceModel is FeatureImportanceModel
    model = FeatureImportanceModel(prior=None)
    assert isinstance(model, ms.cost_model.CostModel)
    shipped = FeatureSelection.load(DEFAULT_SELECTION).indices_
    assert list(model.columns) == list(shipped) and len(shipped) < 164
    assert len(FeatureImportanceModel(selection=None, prior=None).columns) == 164
