"""How many measured trials per hour does fisched get, against stock MetaSchedule?

    .venv/bin/python benchmarks/throughput.py resnet18 bert --trials 128
    .venv/bin/python benchmarks/throughput.py resnet18 --trials 128 --sweep 64,128,256,512 \
        --cost-models xgb,fi --out results/population.json

Default mode: each model is tuned from scratch twice, same seed, same trial budget, same cost
model (stock ``XGBModel``) and the same runner: once with stock MetaSchedule's settings
(``LocalBuilder`` with its default build function, which imports every tensor intrinsic in
each fresh worker; the ``GradientBased`` task scheduler; evolutionary population 512; the full
intrinsic import ``TuneContext`` does) and once with fisched's defaults (persistent builder
workers, batches joined as they are sent, fisched's population). The runner is fisched's in
both arms (it differs from stock only in keeping integer inputs at zero, without which every
candidate of bert's embedding lookup crashes). The arms alternate (the first arm flips from
one model to the next), each in a fresh process, so no import or cache carries over.
``results/throughput.json`` gets, per model, each arm's wall seconds, trials per hour, the
end-to-end estimate (sum over tasks of weight x best measured latency) and failures, and the
ratio fisched/stock of trials per hour.

``--sweep P,P,...`` instead tunes with fisched's settings at each evolutionary population,
for each of ``--cost-models``, and writes the same fields per arm to ``--out``.

Resumable: an arm whose workdir holds ``arm.json`` is not run again (``--fresh`` reruns all).
Run nothing else meanwhile: the arms' seconds are the measurement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ARM_FILE = "arm.json"
STOCK_POPULATION = 512


def run_arm(model_spec: str, workdir: Path, trials: int, seed: int, stock: bool,
            population: int | None, cost_model: str) -> dict:
    """Tune one arm in this process and return its figures (called in a fresh process)."""
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.records import open_database
    from fisched.metaschedule.target import make_target, num_cores
    from fisched.models.frontend import load_model
    from fisched.tuning.tune import resolve_population, task_summary, tune

    target = make_target(None)
    model = load_model(model_spec, threads=num_cores(target))
    start = time.time()
    kwargs = {}
    if stock:
        import tvm.s_tir.tensor_intrin  # noqa: F401  (what stock TuneContext imports)

        kwargs = {"builder": ms.builder.LocalBuilder(),
                  "task_scheduler": ms.task_scheduler.GradientBased(seed=seed)}
    result = tune(model, workdir, target, trials, cost_model=cost_model, seed=seed,
                  progress=False, population=population, **kwargs)
    seconds = time.time() - start
    rows = task_summary(result.tasks, open_database(workdir))
    measured = [r for r in rows if r["best_ms"] is not None]
    valid = result.trials_measured - result.failed
    return {"seconds": seconds, "trials": result.trials_measured, "valid_trials": valid,
            # a failed candidate is no measurement: count the ones that give a latency
            "trials_per_hour": valid / seconds * 3600,
            # only an arm that measured every task has an end-to-end estimate
            "estimate_ms": (sum(r["weight"] * r["best_ms"] for r in measured)
                            if len(measured) == len(rows) else None),
            "tasks_measured": len(measured), "tasks": len(rows), "failed": result.failed,
            "population": resolve_population(population), "cost_model": cost_model,
            "stock": stock, "budget": trials, "seed": seed,
            "profile_seconds": result.profile}


def common_estimates(model_spec: str, workdirs: dict[str, Path]) -> dict:
    """Sum of weight x best latency over the tasks every arm measured, per arm."""
    from fisched.metaschedule.records import open_database
    from fisched.tuning.tune import extract, load_tuned_model, task_summary

    model, target = load_tuned_model(model_spec, next(iter(workdirs.values())))
    tasks = extract(model, target)
    rows = {name: task_summary(tasks, open_database(wd)) for name, wd in workdirs.items()}
    both = [i for i in range(len(tasks)) if all(r[i]["best_ms"] is not None
                                                for r in rows.values())]
    est = {name: sum(r[i]["weight"] * r[i]["best_ms"] for i in both) for name, r in rows.items()}
    return {"tasks_common": len(both), "estimate_common_ms": est,
            "estimate_common_ratio": est["fisched"] / est["stock"]}


def _arm_in_subprocess(model: str, workdir: Path, trials: int, seed: int, stock: bool,
                       population: int | None, cost_model: str) -> dict:
    out = workdir / ARM_FILE
    if out.exists():
        done = json.loads(out.read_text())
        if (done.get("budget"), done.get("seed")) == (trials, seed):
            return done
    if workdir.exists():  # a cut run, or another budget: its records do not count
        shutil.rmtree(workdir)
    cmd = [sys.executable, __file__, "--_arm", model, "--_workdir", str(workdir),
           "--trials", str(trials), "--seed", str(seed), "--cost-models", cost_model]
    if stock:
        cmd.append("--_stock")
    if population is not None:
        cmd += ["--_population", str(population)]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "bert"])
    ap.add_argument("--trials", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", default=None, metavar="P,P,...",
                    help="evolutionary populations to compare with fisched's settings")
    ap.add_argument("--cost-models", default="xgb")
    ap.add_argument("--out", default=None, help="default: results/throughput.json, or "
                    "results/population.json with --sweep")
    ap.add_argument("--runs", default="runs/throughput", help="where the arms' workdirs go")
    ap.add_argument("--fresh", action="store_true",
                    help="rerun the arms this command names, even if measured")
    ap.add_argument("--_arm", help=argparse.SUPPRESS)
    ap.add_argument("--_workdir", help=argparse.SUPPRESS)
    ap.add_argument("--_stock", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_population", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from fisched.metaschedule.target import host_info

    if args._arm:
        import os

        from fisched.metaschedule.target import default_num_cores
        os.environ.setdefault("TVM_NUM_THREADS", str(default_num_cores()))
        os.environ.pop("FISCHED_SEARCH_POPULATION", None)
        population = STOCK_POPULATION if args._stock else args._population
        res = run_arm(args._arm, Path(args._workdir), args.trials, args.seed, args._stock,
                      population, args.cost_models)
        res["at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        res["host"] = host_info()
        (Path(args._workdir) / ARM_FILE).write_text(json.dumps(res, indent=2))
        return

    out = Path(args.out or ("results/population.json" if args.sweep else
                            "results/throughput.json"))
    host = host_info()
    runs = Path(args.runs)
    entries = {}
    for k, model in enumerate(args.models):
        if args.sweep:
            arms = [(f"{cm}-pop{p}", False, int(p), cm) for cm in args.cost_models.split(",")
                    for p in args.sweep.split(",")]
        else:
            arms = [("stock", True, None, "xgb"), ("fisched", False, None, "xgb")]
        if k % 2:
            arms.reverse()
        results = {}
        for name, stock, population, cm in arms:
            arm_dir = runs / model / f"seed{args.seed}" / name
            if args.fresh and (arm_dir / ARM_FILE).exists():
                (arm_dir / ARM_FILE).unlink()
            results[name] = _arm_in_subprocess(model, runs / model / f"seed{args.seed}" / name,
                                               args.trials, args.seed, stock, population, cm)
            print(f"{model} {name}: {results[name]['trials_per_hour']:.0f} trials/h, "
                  f"estimate {results[name]['estimate_ms']} ms", flush=True)
        entry = {"model": model, "trials": args.trials, "seed": args.seed, "host": host,
                 "arms": {n: results[n] for n, *_ in sorted(arms)}}
        if not args.sweep:
            st, fi = results["stock"], results["fisched"]
            entry["ratio"] = fi["trials_per_hour"] / st["trials_per_hour"]
            entry["estimate_ratio"] = (fi["estimate_ms"] / st["estimate_ms"]
                                       if fi["estimate_ms"] and st["estimate_ms"] else None)
            # an arm that left tasks without a valid schedule has no end-to-end estimate; the
            # tasks both arms measured still compare
            common = common_estimates(model, {n: runs / model / f"seed{args.seed}" / n
                                              for n in ("stock", "fisched")})
            entry.update(common)
        entries[model] = entry
        first = entries[args.models[0]]
        data = {"host_cpu": host["llvm_cpu"], "host": host, **first, "models": entries,
                "command": " ".join(sys.argv)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(data, bool(args.sweep)))
    print(f"wrote {out} and {out.with_suffix('.md')}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(data: dict, sweep: bool) -> str:
    """The results as the table docs/results.md shows (benchmarks/readme_tables.py copies it)."""
    host = data["host"]
    lines = [f"Host `{host['llvm_cpu']}` ({host['model']}, {host['cores']} cores; "
             f"{', '.join(host['isa'])}), {data['trials']} trials, seed {data['seed']}; "
             + ("fisched's builder and scheduler in every arm" if sweep else
                "stock XGBModel in both arms") + "; `" + data["command"] + "`", "",
             "Valid trials: candidates that built and ran. Estimate: sum over tasks of weight x "
             "best measured latency, `-` where some task got no valid schedule.", ""]
    if sweep:
        lines += ["| model | cost model | population | seconds | trials/h | estimate ms |",
                  "|---|---|---|---|---|---|"]
        for model, entry in data["models"].items():
            for arm in sorted(entry["arms"].values(),
                              key=lambda a: (a["cost_model"], a["population"])):
                lines.append(f"| {model} | {arm['cost_model']} | {arm['population']} | "
                             f"{arm['seconds']:.0f} | {arm['trials_per_hour']:.0f} | "
                             f"{_ms(arm['estimate_ms'])} |")
    else:
        lines += ["| model | stock s | fisched s | stock valid trials/h | fisched valid trials/h | "
                  "ratio | stock estimate ms | fisched estimate ms | tasks both measured: "
                  "fisched/stock estimate | failed (stock, fisched) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for model, entry in data["models"].items():
            st, fi = entry["arms"]["stock"], entry["arms"]["fisched"]
            lines.append(f"| {model} | {st['seconds']:.0f} | {fi['seconds']:.0f} | "
                         f"{st['trials_per_hour']:.0f} | {fi['trials_per_hour']:.0f} | "
                         f"{entry['ratio']:.2f}x | {_ms(st['estimate_ms'])} | "
                         f"{_ms(fi['estimate_ms'])} | {entry['estimate_common_ratio']:.2f} "
                         f"({entry['tasks_common']}/{st['tasks']}) | "
                         f"{st['failed']}, {fi['failed']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
