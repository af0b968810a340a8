"""Label strategies, feature selections and evaluation metrics: small, pure, checkable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fisched.costmodel.features import N_FEATURES
from fisched.costmodel.importance import FeatureSelection, pairwise_accuracy
from fisched.costmodel.labels import LABELS, labels_for, relabel_rank, relabel_stock
from fisched.errors import FischedError
from fisched.study.evaluate import average_peak, topk_score

LAT = np.array([2.0, 1.0, 4.0, np.inf, 8.0, 1.0])


@pytest.mark.parametrize("name", list(LABELS))
def test_every_strategy_orders_like_latency(name):
    y, w = LABELS[name](LAT)
    ok = np.isfinite(LAT)
    assert y[~ok].tolist() == [0.0]  # failed programs get label 0
    assert np.all((y >= 0) & (y <= 1)) and np.all(w >= 0)
    assert y[1] == y[5] == y.max() == 1.0  # the fastest get the top label
    lat_ok, y_ok = LAT[ok], y[ok]
    for i in range(len(lat_ok)):
        for j in range(len(lat_ok)):
            if lat_ok[i] < lat_ok[j]:
                assert y_ok[i] >= y_ok[j]


def test_stock_is_metaschedule_normalized_throughput_weighted_by_itself():
    y, w = relabel_stock(LAT)
    np.testing.assert_allclose(y, [0.5, 1, 0.25, 0, 0.125, 1])
    np.testing.assert_allclose(w, y)


def test_rank_flattens_skewed_labels():
    lat = np.concatenate([[1.0], np.full(99, 50.0) + np.arange(99)])  # one fast, 99 slow
    ys, _ = relabel_stock(lat)
    yr, wr = relabel_rank(lat)
    assert np.median(ys) < 0.03 and abs(np.median(yr) - 0.5) < 0.02
    assert np.all(wr == 1)


def test_labels_are_per_task():
    lat = np.array([1.0, 2.0, 100.0, 200.0])
    y, _ = labels_for(lat, np.array([0, 0, 1, 1]), "stock")
    np.testing.assert_allclose(y, [1, 0.5, 1, 0.5])


def _scores():
    s = np.zeros(N_FEATURES)
    s[[3, 10, 20, 40]] = [50.0, 30.0, 15.0, 5.0]
    return s


def test_selection_policies():
    s = _scores()
    assert FeatureSelection("cumulative", 0.8).fit(s).indices_.tolist() == [3, 10]
    assert FeatureSelection("cumulative", 0.95).fit(s).indices_.tolist() == [3, 10, 20]
    assert FeatureSelection("top-k", 2).fit(s).indices_.tolist() == [3, 10]
    assert FeatureSelection("threshold", 0.1).fit(s).indices_.tolist() == [3, 10, 20]
    const = np.zeros(N_FEATURES, bool)
    const[10] = True
    assert FeatureSelection("top-k", 2).fit(s, const).indices_.tolist() == [3, 20]
    assert len(FeatureSelection("nonconstant").fit(s, const).indices_) == N_FEATURES - 1
    assert len(FeatureSelection("all").fit(s, const).indices_) == N_FEATURES
    with pytest.raises(FischedError):
        FeatureSelection("threshold", 0.9).fit(s)


def test_selection_round_trip_and_width_check(tmp_path):
    sel = FeatureSelection("top-k", 3).fit(_scores())
    sel.save(tmp_path / "s.json")
    loaded = FeatureSelection.load(tmp_path / "s.json")
    assert loaded.indices_.tolist() == sel.indices_.tolist() == [3, 10, 20]
    rows = np.arange(2 * N_FEATURES, dtype=float).reshape(2, N_FEATURES)
    np.testing.assert_array_equal(loaded.transform(rows), rows[:, [3, 10, 20]])
    with pytest.raises(FischedError, match="164 features"):
        loaded.transform(rows[:, :150])
    data = (tmp_path / "s.json").read_text().replace('"n_input": 164', '"n_input": 172')
    (tmp_path / "bad.json").write_text(data)
    with pytest.raises(FischedError, match="172"):
        FeatureSelection.load(tmp_path / "bad.json")


def test_ranking_metrics():
    lat = np.array([1.0, 2.0, 4.0, 10.0, 20.0])
    tid = np.array([0, 0, 0, 1, 1])
    perfect = -lat
    assert pairwise_accuracy(perfect, lat, tid) == 1.0
    assert pairwise_accuracy(lat, lat, tid) == 0.0
    w = np.array([1.0, 3.0])
    assert topk_score(perfect, lat, tid, w, 1) == 1.0
    # scoring slow programs high picks the slowest of each task: (1 + 3*10) / (4 + 3*20)
    assert topk_score(lat, lat, tid, w, 1) == pytest.approx(31 / 64)
    assert topk_score(lat, lat, tid, w, 5) == 1.0
    assert average_peak(perfect, lat, tid) == 1.0
    assert average_peak(lat, lat, tid) < 1.0


def _programs(rng, n):
    counts = rng.integers(1, 4, n)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    rows = rng.normal(size=(ptr[-1], 6)).astype(np.float32)
    y = np.bincount(np.repeat(np.arange(n), counts), weights=rows[:, 0] ** 2 + rows[:, 1],
                    minlength=n)
    return rows, ptr, y, np.ones(n)


def test_packsum_continues_a_prior_model_without_changing_it():
    from fisched.costmodel.packsum import PackSumXGB

    rng = np.random.default_rng(0)
    prior = PackSumXGB(max_rounds=20).fit(*_programs(rng, 300))
    rows, ptr, y, w = _programs(rng, 100)
    before = prior.predict(rows, ptr)
    tuned = PackSumXGB(max_rounds=15, early_stopping_rounds=100).fit(rows, ptr, y, w, init=prior)
    assert tuned.booster_.num_boosted_rounds() == 35
    assert np.array_equal(prior.predict(rows, ptr), before)  # the prior keeps its 20 trees
    loss = lambda m: float(np.sum(w * (m.predict(rows, ptr) - y) ** 2))  # noqa: E731
    # the early-stopping bookkeeping follows the continued trees, not the prior's again
    assert tuned.final_loss_ == pytest.approx(loss(tuned), rel=1e-4)
    assert loss(tuned) < loss(prior)
    with pytest.raises(FischedError, match="features"):
        PackSumXGB().fit(rows[:, :3], ptr, y, w, init=prior)


def test_pairwise_objective_gradients_and_pairs():
    from fisched.costmodel.packsum import PairwiseRank

    rng = np.random.default_rng(1)
    y, w = rng.uniform(size=9), rng.uniform(0.5, 1.5, 9)
    y[7] = y[8]  # a tie: no pair
    groups = np.array([0] * 4 + [1] * 5)
    obj = PairwiseRank(y, w, groups)
    assert len(obj.i) == 4 * 3 / 2 + 5 * 4 / 2 - 1  # ordered pairs within each task only
    assert np.all(y[obj.i] > y[obj.j]) and np.all(groups[obj.i] == groups[obj.j])
    s = rng.normal(size=9)
    grad, hess = obj.grad_hess(s)
    eps = np.eye(9) * 1e-6
    num_grad = [(obj.loss(s + e) - obj.loss(s - e)) / 2e-6 for e in eps]
    num_hess = [(obj.grad_hess(s + e)[0][k] - obj.grad_hess(s - e)[0][k]) / 2e-6
                for k, e in enumerate(eps)]
    np.testing.assert_allclose(grad, num_grad, atol=1e-7)
    np.testing.assert_allclose(hess, num_hess, atol=1e-7)
    with pytest.raises(FischedError, match="task"):
        PairwiseRank(y, w, None)


def test_pairwise_objective_ranks_unseen_programs():
    from fisched.costmodel.packsum import PackSumXGB

    rng = np.random.default_rng(2)
    rows, ptr, y, w = _programs(rng, 400)
    task = rng.integers(0, 8, 400)
    y = y + 10 * task  # tasks on different scales: only the order inside a task is learnt
    rows2, ptr2, y2, _ = _programs(rng, 200)
    acc = {}
    for objective in ("pairwise", "squared"):
        model = PackSumXGB(objective=objective, max_rounds=60).fit(rows, ptr, y, w, groups=task)
        acc[objective] = pairwise_accuracy(model.predict(rows2, ptr2), -y2, np.zeros(200, int))
    # the squared error spends its trees on the task offsets it cannot see in the features
    assert acc["pairwise"] > 0.8 and acc["pairwise"] > acc["squared"] + 0.05, acc
    with pytest.raises(FischedError, match="objective"):
        PackSumXGB(objective="hinge").fit(rows, ptr, y, w, groups=task)


def test_trees_chosen_on_held_out_programs():
    from fisched.costmodel.packsum import PackSumXGB

    rng = np.random.default_rng(3)
    rows, ptr, y, w = _programs(rng, 150)
    y = y + rng.normal(scale=2.0, size=len(y))  # noisy labels: training longer overfits
    held = _programs(rng, 150)
    loss = lambda m: float(np.sum((m.predict(held[0], held[1]) - held[2]) ** 2))  # noqa: E731
    long = PackSumXGB(max_rounds=150, early_stopping_rounds=150).fit(rows, ptr, y, w)
    short = PackSumXGB(max_rounds=150, early_stopping_rounds=20).fit(
        rows, ptr, y, w, eval_set=held[:4])
    assert long.booster_.num_boosted_rounds() == 150
    assert short.best_rounds_ == short.booster_.num_boosted_rounds() < 150
    assert loss(short) < loss(long)
    # the reported training loss is of the kept trees, though it was not tracked per round
    train_loss = float(np.sum(w * (short.predict(rows, ptr) - y) ** 2))
    assert short.final_loss_ == pytest.approx(train_loss, rel=1e-4)


def _planted_dataset(n_tasks=12, per_task=30, seed=0):
    """Programs of one row each whose latency depends on features 3 and 7 only."""
    from fisched.costmodel.dataset import Dataset

    rng = np.random.default_rng(seed)
    n = n_tasks * per_task
    feats = rng.uniform(size=(n, N_FEATURES)).astype(np.float32)
    task_id = np.repeat(np.arange(n_tasks), per_task).astype(np.int32)
    lat = (1 + task_id) * np.exp(2 * feats[:, 3] - 1.5 * feats[:, 7])
    tasks = [{"name": f"t{i}", "model": "m" if i % 2 else "n", "weight": 1.0}
             for i in range(n_tasks)]
    ptr = np.arange(n + 1, dtype=np.int64)
    return Dataset(feats, ptr, lat.astype(np.float64), ptr.copy(), task_id, tasks)


def test_importance_and_evaluate_verbs_write_what_they_promise(tmp_path, capsys):
    from fisched.cli import main

    data = tmp_path / "planted.npz"
    _planted_dataset().save(data)
    out = tmp_path / "imp"
    assert main(["importance", str(data), "-o", str(out), "--select", "top-k:2"]) == 0
    ranked = json.loads((out / "importance.json").read_text())["features"]
    assert {ranked[0]["index"], ranked[1]["index"]} == {3, 7}  # the planted ones rank first
    assert FeatureSelection.load(out / "selection.json").indices_.tolist() == [3, 7]
    assert (out / "importance.txt").read_text().count("\n") == N_FEATURES + 1
    # a bad selection fails before any training, and writes nothing
    assert main(["importance", str(data), "-o", str(tmp_path / "bad"), "--select", "best"]) == 2
    assert not (tmp_path / "bad").exists()
    res = tmp_path / "eval.json"
    assert main(["evaluate", str(data), "-o", str(res), "--folds", "2", "--repeats", "1",
                 "--configs", "stock", "-q"]) == 0
    results = json.loads(res.read_text())["results"]
    assert set(results) == {"stock"} and results["stock"]["pairwise"] > 0.75
    assert res.with_suffix(".md").exists() and res.with_suffix(".png").exists()
    assert main(["evaluate", str(data), "-o", str(res), "--configs", "nosuch"]) == 2
    capsys.readouterr()


@pytest.mark.slow
def test_evaluate_finds_the_planted_features_on_unseen_tasks():
    from fisched.study.evaluate import Config, evaluate_repeated, transfer_importance

    ds = _planted_dataset()
    perm = transfer_importance(ds)
    assert set(np.argsort(-perm)[:2]) == {3, 7}  # they carry over to held-out tasks; noise not
    configs = [Config("stock"), Config("perm", "top-k", 2, "rank", "permutation"),
               Config("pair", "all", 0, "stock", objective="pairwise", held_out_rounds=0.3)]
    res = evaluate_repeated(ds, configs, folds=3, repeats=2, progress=False)
    assert res["perm"]["dims"] == 2 and res["stock"]["dims"] == N_FEATURES
    assert 1 <= res["pair"]["trees"] <= 400
    assert len(res["perm"]["top1_repeats"]) == 2
    for r in res.values():
        assert r["pairwise"] > 0.75 and 0 < r["top1"] <= 1 and r["top5"] >= r["top1"] - 1e-9
    assert res["perm"]["pairwise"] > 0.9  # two features suffice to rank unseen tasks
    assert res["pair"]["pairwise"] > 0.9  # so does a ranking loss on all of them


@pytest.mark.slow
def test_reselect_ranks_anew_with_the_same_policy():
    from fisched.costmodel.importance import reselect

    ds = _planted_dataset()
    y, w = labels_for(ds.latency, ds.task_id, "stock")
    old = FeatureSelection("top-k", 2).fit(np.arange(N_FEATURES, dtype=float))  # not 3 or 7
    assert not {3, 7} & set(old.indices_)
    for objective in ("squared", "pairwise"):
        new = reselect(old, ds.features, ds.row_ptr, y, w, ds.task_id, objective=objective)
        assert new.policy == "top-k" and new.indices_.tolist() == [3, 7]
    ds.features[:, 5] = 0.5  # a constant column is never kept, whatever its score
    everything = reselect(FeatureSelection("nonconstant"), ds.features, ds.row_ptr, y, w,
                          ds.task_id)
    assert 5 not in everything.indices_ and len(everything.indices_) == N_FEATURES - 1
    with pytest.raises(FischedError, match="164"):
        reselect(old, ds.features[:, :10], ds.row_ptr, y, w, ds.task_id)
