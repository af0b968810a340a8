"""The ``fisched`` command line: verbs that read like the workflow (tune, measure, ...).

Each verb imports what it needs inside its ``cmd_*`` function, deliberately: ``fisched
--help``, ``--version`` and a refused argument then answer without importing TVM, XGBoost or
ONNX (seconds each). Modules below the CLI import at the top; they defer only heavy
third-party packages (tvm, xgboost, onnxruntime, matplotlib), for the same reason and so that
MetaSchedule's builder workers, which import ``fisched.metaschedule.build``, stay light.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import FischedError

log = logging.getLogger("fisched")


def _add_model_args(p: argparse.ArgumentParser, from_workdir: bool = False) -> None:
    p.add_argument("model", nargs="?" if from_workdir else None,
                   help="zoo name (resnet18, mobilenet_v2, bert, resnet50, vit), "
                   "an .onnx file, or a torch package.module:factory"
                   + ("; default: the one --workdir was tuned from" if from_workdir else ""))
    p.add_argument("--input-shape", action="append", metavar="[NAME=]D1,D2,...",
                   help="input shape (repeatable); required for torch models")
    p.add_argument("--workdir", default=None,
                   help="where records, library and reports go (default: runs/MODEL)")


def _workdir(args, name: str) -> Path:
    return Path(args.workdir or Path("runs") / name)


def _setup_threads(target) -> int:
    """Make TVM's runtime use the target's cores (and say so); respects TVM_NUM_THREADS."""
    from .metaschedule.target import num_cores

    cores = num_cores(target)
    os.environ.setdefault("TVM_NUM_THREADS", str(cores))
    return int(os.environ["TVM_NUM_THREADS"])


def _pipeline_choices(args, workdir: Path, target) -> dict:
    """``prepack`` and ``layout`` for ``load_model`` from the flags, the workdir and the
    target (``workdir.pipeline_choices``)."""
    from .workdir import META_FILE, pipeline_choices, read_meta

    meta = read_meta(workdir) if (workdir / META_FILE).exists() else {}
    return pipeline_choices(meta, target, args.prepack, args.layout)


def cmd_tune(args) -> int:
    from .metaschedule.records import open_database
    from .metaschedule.target import check_cross_target, describe, make_target
    from .models.frontend import load_model, model_name
    from .tuning.compile import compile_model, scheduled_share
    from .tuning.report import write_tune_report
    from .tuning.tune import tune
    from .workdir import locked

    if args.trials <= 0:
        raise FischedError(f"--trials must be positive, got {args.trials}")
    if args.time_limit is not None and args.time_limit <= 0:
        raise FischedError(f"--time-limit must be positive, got {args.time_limit}")
    if args.validate_top < 0 or args.validate_top == 1:
        raise FischedError(f"--validate-top takes 0 (off) or at least 2, got {args.validate_top}")
    target = make_target(args.target)
    check_cross_target(target, args.cc, args.rpc_tracker)
    threads = _setup_threads(target)
    workdir = _workdir(args, model_name(args.model))
    model = load_model(args.model, args.input_shape, threads, fast_math=not args.exact_math,
                       **_pipeline_choices(args, workdir, target))
    print(f"fisched: tuning {model.name} for {describe(target)} "
          f"(TVM_NUM_THREADS={threads}) into {workdir}", file=sys.stderr)
    cost_model_obj = None
    if args.prior is not None or args.reselect_every:
        if args.cost_model != "fi":
            raise FischedError("--prior and --reselect-every apply to --cost-model fi only")
        if args.reselect_every < 0:
            raise FischedError(f"--reselect-every must not be negative, got {args.reselect_every}")
        from .costmodel.fi_model import default_fi_model

        prior = {None: "default", "none": None}.get(args.prior, args.prior)
        cost_model_obj = default_fi_model(threads, args.seed, prior=prior,
                                          reselect_every=args.reselect_every)
    with locked(workdir):  # tune, validate and compile as one, no second tune between
        result = tune(model, workdir, target, args.trials, cost_model=args.cost_model, seed=args.seed,
                      num_trials_per_iter=args.trials_per_iter, progress=not args.quiet,
                      rpc_tracker=args.rpc_tracker, rpc_key=args.rpc_key,
                      cost_model_obj=cost_model_obj, population=args.population,
                      time_limit=args.time_limit, kernels=args.kernels,
                      reuse=args.reuse and not args.rpc_tracker, library=args.library)
        if result.reused:
            print(f"reuse: {len(result.reused)} tasks started from "
                  f"{sum(result.reused.values())} known schedules, measured again here",
                  file=sys.stderr)
        if args.validate_top and args.rpc_tracker:
            print("validation skipped: it times kernels on this host, tuning measured them on the "
                  "RPC devices", file=sys.stderr)
        elif args.validate_top:
            from .tuning.validate import validate

            summary = validate(model, workdir, target, top=args.validate_top)
            changed = sum(not t["kept"] for t in summary["tasks"])
            print(f"validation: re-timed the {args.validate_top} best schedules of "
                  f"{len(summary['tasks'])} tasks side by side in {summary['seconds']:.0f} s; "
                  f"{changed} picks differ from the lowest record", file=sys.stderr)
        library = compile_model(model, workdir, target, cc=args.cc)
        database = open_database(workdir)
        print(write_tune_report(workdir, result, database))
        done, total = scheduled_share(model, target, database)
        print(f"compiled model: {library} ({done}/{total} functions use tuned schedules)")
        _learn(args, workdir)
    return 0


def _learn(args, workdir: Path) -> None:
    """Add a workdir's programs to this host's library, unless ``--no-learn`` or the records
    came from an RPC device (``library.learn``)."""
    if not args.learn:
        return
    from .costmodel.library import learn, meta_host

    host = meta_host(workdir)
    if host is None:
        return
    info = learn(workdir, host, args.library)
    print(f"library: {info['added_programs']} programs of {workdir} learned; {info['library']} "
          f"holds {info['programs']} programs, {info['schedules']} schedules (--no-learn: off)",
          file=sys.stderr)


def cmd_show(args) -> int:
    from .tuning.report import format_state, workdir_state

    state = workdir_state(args.workdir)
    if args.plot:
        from .study.plots import tuning_curve

        if not state["curve"]:
            raise FischedError(f"{args.workdir} keeps no tuning curve (tuned before fisched "
                               "kept one, or not yet)")
        tuning_curve(state["curve"], args.plot, f"{state['settings']['model']}: {args.workdir}")
    print(json.dumps(state, indent=2) if args.json else format_state(state))
    if args.plot:
        print(f"tuning curve: {args.plot}", file=sys.stderr)
    return 0


def cmd_run(args) -> int:
    from .tuning.measure import run_library

    result = run_library(args.workdir, args.inputs, args.output, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['library']}: median {result['median_ms']:.3f} ms over "
              f"{result['repeat']} runs ({result['threads']} threads); outputs "
              + ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in result["outputs"].items())
              + (f" written to {args.output}" if args.output else ""))
    return 0


def cmd_measure(args) -> int:
    from .metaschedule.target import make_target
    from .models.frontend import load_model, model_name
    from .tuning.compile import LIBRARY_FILE, compile_model, compile_untuned
    from .tuning.measure import VMRunner, time_against_reference
    from .tuning.report import write_measure_report
    from .workdir import MEASURE_REPORT, input_shapes, model_settings, model_spec, read_meta

    if args.model is None and args.workdir is None:
        raise FischedError("measure needs a MODEL or a --workdir (whose fisched.json names it)")
    workdir = _workdir(args, model_name(args.model or ""))
    meta = read_meta(workdir)
    target = make_target(meta["target"] if args.target is None else args.target)
    threads = _setup_threads(target)
    spec = args.model or model_spec(meta)
    shapes = args.input_shape or (None if args.model else input_shapes(meta))
    model = load_model(spec, shapes, threads, **model_settings(meta))
    if model.name != meta["model"]:
        raise FischedError(f"{workdir} holds {meta['model']!r}, not {model.name!r}")
    library = workdir / LIBRARY_FILE
    if not library.exists():
        compile_model(model, workdir, target)
    extra = ({} if args.skip_untuned else
             {"TVM untuned": VMRunner(compile_untuned(model, target)).timer(model.inputs)})
    rows, error = time_against_reference(model, VMRunner(str(library)), "TVM tuned (fisched)",
                                         args.budget, extra, max_runs={"TVM untuned": 10})
    checks = {} if error is None else {f"tuned vs {model.reference.name}": error}
    text = write_measure_report(workdir, model.name, target, threads, rows, checks,
                                args.tolerance)
    print((workdir / MEASURE_REPORT).read_text().strip() if args.json else text)
    bad = {k: v for k, v in checks.items() if v > args.tolerance}
    if bad:
        raise FischedError("numerical check failed: " + ", ".join(
            f"{k} max relative error {v:.2e} > {args.tolerance:g}" for k, v in bad.items()))
    return 0


def cmd_collect(args) -> int:
    from .metaschedule.target import describe, make_target
    from .tuning.collect import collect

    if args.trials_per_task <= 0:
        raise FischedError(f"--trials-per-task must be positive, got {args.trials_per_task}")
    target = make_target(args.target)
    threads = _setup_threads(target)
    if args.models is None:
        from .models.zoo import ZOO

        models = list(ZOO)
    else:
        models = [m for m in args.models.split(",") if m]
    print(f"fisched: collecting {', '.join(models)} for {describe(target)} "
          f"(TVM_NUM_THREADS={threads}) into {args.workdir}", file=sys.stderr)
    counts = collect(models, args.workdir, target, args.trials_per_task, args.random_share,
                     args.seed, progress=not args.quiet, prepack=args.prepack,
                     layout=args.layout, kernels=args.kernels,
                     learn=args.learn, library=args.library)
    for name, count in counts.items():
        print(f"{name}: {count} records")
    return 0


def cmd_library_info(args) -> int:
    from .costmodel.library import default_root, describe_library

    rows = describe_library(args.library)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no library under {args.library or default_root()} yet: every fisched tune and "
              "collect adds one for its host")
    for row in rows:
        spaces = ", ".join(f"{k} {v}" for k, v in row["schedules"].items()) or "none"
        print(f"{row['host']}: {row['programs']} programs ({', '.join(row['models']) or '-'}); "
              f"schedules: {spaces}; {row['path']}")
    return 0


def cmd_library_add(args) -> int:
    from .costmodel.library import learn, meta_host

    for workdir in map(Path, args.workdirs):
        host = args.host or meta_host(workdir)
        if host is None:
            raise FischedError(f"{workdir} records no host (tuned on an RPC device or before "
                               "fisched recorded hosts): pass --host")
        info = learn(workdir, host, args.library, prior=not args.schedules_only)
        print(f"{workdir}: {info['library']} holds {info['programs']} programs, "
              f"{info['schedules']} schedules")
    return 0


def cmd_dataset_build(args) -> int:
    from .costmodel.dataset import build_dataset, describe

    out = Path(args.output)
    ds = build_dataset(args.databases, progress=not args.quiet)
    ds.save(out)
    print(describe(ds))
    print(f"wrote {out}")
    return 0


def cmd_dataset_info(args) -> int:
    from .costmodel.dataset import describe, load_dataset

    print(describe(load_dataset(args.dataset), args.plot))
    return 0


def cmd_importance(args) -> int:
    from .costmodel.dataset import load_dataset
    from .costmodel.importance import parse_selection, write_importance
    from .provenance import provenance
    from .study.plots import importance_plots

    parse_selection(args.select, args.by)  # a bad --select fails before any training
    out = Path(args.output)
    report = write_importance(load_dataset(args.dataset), out, args.select, args.by, args.labels,
                              args.seed, args.dataset, provenance())
    print("\n".join(report["lines"][:args.top + 1]))
    print(f"(shares of each score's total; full table in {out / 'importance.txt'})")
    for path in importance_plots(report["table"], out, by=args.by):
        print(f"plot: {path}")
    print(f"selection {args.select} by {args.by}: {len(report['selection'].indices_)} of "
          f"{len(report['table'])} features -> {out / 'selection.json'}")
    return 0


def cmd_evaluate(args) -> int:
    from .costmodel.dataset import load_dataset
    from .provenance import provenance
    from .study.evaluate import default_configs, evaluate_repeated, results_table
    from .study.plots import dims_curve

    ds = load_dataset(args.dataset)
    if args.folds < 2 or args.repeats < 1:
        raise FischedError("--folds must be at least 2 and --repeats at least 1")
    configs = default_configs(args.sweep_labels)
    if args.configs:
        wanted = args.configs.split(",")
        unknown = sorted(set(wanted) - {c.name for c in configs})
        if unknown:
            raise FischedError(f"unknown configurations {', '.join(unknown)}: choose from "
                               f"{', '.join(c.name for c in configs)}")
        configs = [c for c in configs if c.name in wanted]
    results = evaluate_repeated(ds, configs, folds=args.folds,
                                repeats=args.repeats, seed=args.seed, progress=not args.quiet,
                                jobs=args.jobs)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "folds": args.folds, "seed": args.seed,
                               "repeats": args.repeats,
                               "programs": ds.n_programs, "tasks": len(ds.tasks),
                               "results": results, "provenance": provenance()}, indent=2))
    table = results_table(results)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"wrote {out}, {out.with_suffix('.md')}, {dims_curve(results, out.with_suffix('.png'))}")
    return 0


def cmd_experiment(args) -> int:
    from .metaschedule.target import host_cpu, make_target
    from .study.experiment import ARMS, experiment

    if args.trials <= 0 or args.seeds <= 0 or args.rounds <= 0:
        raise FischedError("--trials, --seeds and --rounds must be positive")
    target = make_target(args.target)
    _setup_threads(target)
    arms = tuple(args.arms.split(","))
    if len(arms) != 2 or not set(arms) <= set(ARMS):
        raise FischedError(f"--arms takes two of {', '.join(ARMS)}, got {args.arms!r}")
    out = Path(args.workdir or f"results/experiment/{host_cpu()}")
    hold_out = tuple(args.hold_out.split(",")) if args.hold_out else ()
    budget = {} if args.pair_budget is None else {"pair_budget_s": args.pair_budget}
    result = experiment(args.models.split(","), args.trials, args.seeds, out, target, arms,
                        args.prior, args.rounds, log=lambda m: print(m, file=sys.stderr),
                        summarize_only=args.summarize or args.time_pairs,
                        time_pairs=not args.summarize, hold_out=hold_out,
                        baseline_from=args.baseline_from, **budget)
    print(result["table"])
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'}, {out / 'curves.png'}")
    return 0


def cmd_zoo(args) -> int:
    """The built-in models: name, input shapes, one line on what each is."""
    from .models.zoo import ZOO, describe_zoo

    rows = describe_zoo()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(name) for name in ZOO)
    for row in rows:
        shapes = ", ".join(f"{k} {'x'.join(map(str, v['shape']))} {v['dtype']}"
                           for k, v in row["inputs"].items())
        print(f"{row['name']:{width}s}  {shapes:32s}  {row['summary']}")
    return 0


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    """--prepack, --layout and --kernels: how a model's tasks are formed and searched (tune
    and collect; a workdir records them and refuses the other choice)."""
    from .metaschedule.kernels import KERNELS
    from .models.frontend import LAYOUTS

    p.add_argument("--prepack", action=argparse.BooleanOptionalAction, default=None,
                   help="let each kernel's schedule choose its weights' layout, rewritten once "
                   "at compile time (TVM's cpu_weight_prepack); default: on for CPU targets, "
                   "or as the workdir was tuned")
    p.add_argument("--layout", default=None, choices=sorted(LAYOUTS),
                   help="activation layout of the convolutions (weights follow); default: nhwc "
                   "for CPU targets, or as the workdir was tuned")
    p.add_argument("--kernels", default=None, choices=KERNELS,
                   help="design space for conv/matmul kernels: register-tiled (fisched's "
                   "register-blocked rule, default on CPU targets) or stock (MetaSchedule's "
                   "rules); a workdir keeps the one it was tuned with")


def _add_library_args(p: argparse.ArgumentParser, reuse: bool) -> None:
    """--learn (and, for tune, --reuse) and --library: the host's local library
    (``fisched.costmodel.library``)."""
    p.add_argument("--learn", action=argparse.BooleanOptionalAction, default=True,
                   help="add the measured programs to this host's library, which the fi cost "
                   "model's prior and --reuse draw on (default: on)")
    if reuse:
        p.add_argument("--reuse", action=argparse.BooleanOptionalAction, default=True,
                       help="start each new task from the best known schedules of structurally "
                       "equal tasks (this host's library and the shipped ones), measured again "
                       "here (default: on)")
    p.add_argument("--library", default=None, metavar="DIR",
                   help="library root (default: $XDG_CACHE_HOME/fisched/library, else "
                   "~/.cache/fisched/library)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .costmodel.cost_models import COST_MODELS

    parser = argparse.ArgumentParser(prog="fisched", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fisched {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show MetaSchedule's logs")
    # the same flag after the verb (``fisched tune -v ...``); SUPPRESS keeps the verb's parser
    # from overwriting a -v given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show MetaSchedule's logs")
    subparsers = parser.add_subparsers(dest="command", required=True)

    class _Sub:  # every verb's parser takes the common flags
        @staticmethod
        def add_parser(name: str, **kwargs):
            return subparsers.add_parser(name, parents=[common], **kwargs)

    sub = _Sub()

    p = sub.add_parser("zoo", help="list the built-in models")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("show", help="a workdir's settings, per-task results and last timing")
    p.add_argument("workdir")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="draw the tuning curve (estimate against trials and tuning time)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("run", help="run a workdir's tuned model.so on inputs from a .npz file")
    p.add_argument("workdir")
    p.add_argument("--inputs", required=True, metavar="FILE.npz",
                   help="one array per model input, named as the model's inputs")
    p.add_argument("-o", "--output", default=None, metavar="FILE.npz",
                   help="write the outputs here (output0, output1, ...)")
    p.add_argument("--repeat", type=int, default=10, help="timed runs (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="tune a model into a workdir (resumes if it exists)")
    _add_model_args(p)
    p.add_argument("--trials", type=int, default=256, help="total trial budget (default 256)")
    p.add_argument("--cost-model", default="xgb", choices=sorted(COST_MODELS),
                   help="xgb (stock XGBModel, the default), fi (FeatureImportanceModel) or random")
    p.add_argument("--prior", default=None, metavar="DATASET|none",
                   help="fi only: dataset to warm-start from (default: the shipped one; "
                   "'none' starts cold)")
    p.add_argument("--reselect-every", type=int, default=0, metavar="N",
                   help="fi only: rank the features anew after every N measured programs and "
                   "switch columns if the selection changes (default 0: never)")
    p.add_argument("--target", default=None,
                   help='JSON target, e.g. \'{"kind": "llvm", "mcpu": "znver3", "num-cores": 2}\''
                   " (default: this host)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exact-math", action="store_true",
                   help="keep exact exp/erf/tanh/softmax (default: TVM's fast approximations, "
                   "vectorizable; the workdir remembers which)")
    _add_pipeline_args(p)
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="stop this run after SECONDS of tuning (its first round, one batch "
                   "per task, always completes); --trials stays the upper bound")
    p.add_argument("--trials-per-iter", type=int, default=None,
                   help="candidates per task per round (default: fits every task in round 1)")
    p.add_argument("--population", type=int, default=None,
                   help="evolutionary search population per task (default: fisched's, chosen "
                   "by benchmarks/throughput.py --sweep; MetaSchedule's is 512)")
    p.add_argument("--rpc-tracker", default=None, metavar="HOST:PORT",
                   help="measure on devices registered with this TVM RPC tracker")
    p.add_argument("--rpc-key", default=None, help="device key at the RPC tracker")
    p.add_argument("--cc", default=None, metavar="COMPILER",
                   help="cross compiler that links the library for a target of another "
                   "architecture (e.g. aarch64-linux-gnu-g++); such a target also needs "
                   "--rpc-tracker, and is refused before tuning without both")
    p.add_argument("--validate-top", type=int, default=0, metavar="K",
                   help="before compiling, re-time each task's K best schedules side by side "
                   "and compile the fastest on re-timing (default 0: MetaSchedule's lowest "
                   "record; 5 is a good K)")
    _add_library_args(p, reuse=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("measure", help="latency of the tuned model vs untuned TVM and the "
                       "reference framework, with a numerical check")
    _add_model_args(p, from_workdir=True)
    p.add_argument("--target", default=None, help="override the workdir's target")
    p.add_argument("--budget", type=float, default=10.0, help="seconds of timed runs per row")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="max relative error accepted against the reference")
    p.add_argument("--skip-untuned", action="store_true", help="skip the (slow) untuned row")
    p.add_argument("--json", action="store_true",
                   help="print measure.json (latencies, runs, errors) instead of the table")
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("collect", help="measure a cost-model dataset (resumable)")
    p.add_argument("--workdir", required=True, help="one database folder per model goes here")
    p.add_argument("--models", default=None,
                   help="comma-separated model specs (default: every zoo model)")
    p.add_argument("--trials-per-task", type=int, default=64)
    p.add_argument("--random-share", type=float, default=0.5,
                   help="share of each task's budget sampled at random (rest: evolutionary)")
    p.add_argument("--target", default=None, help="JSON target (default: this host)")
    p.add_argument("--seed", type=int, default=0)
    _add_pipeline_args(p)
    _add_library_args(p, reuse=False)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("library", help="this host's library: the programs and schedules "
                       "every tune and collect adds (the fi prior and --reuse read it)")
    lsub = p.add_subparsers(dest="library_command", required=True)
    q = lsub.add_parser("info", help="hosts, programs and schedules held")
    q.add_argument("--library", default=None, metavar="DIR", help="library root")
    q.add_argument("--json", action="store_true", help="print JSON instead of text")
    q.set_defaults(func=cmd_library_info)
    q = lsub.add_parser("add", help="add workdirs' programs and best schedules by hand")
    q.add_argument("workdirs", nargs="+")
    q.add_argument("--library", default=None, metavar="DIR", help="library root")
    q.add_argument("--host", default=None,
                   help="host folder (default: the host each workdir records)")
    q.add_argument("--schedules-only", action="store_true",
                   help="add the best schedules only, not the programs (the shipped library)")
    q.set_defaults(func=cmd_library_add)

    p = sub.add_parser("dataset", help="build or inspect a cost-model dataset")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    q = dsub.add_parser("build", help="replay records of workdirs into a dataset file")
    q.add_argument("databases", nargs="+", help="workdirs holding MetaSchedule databases")
    q.add_argument("-o", "--output", required=True, help="dataset file (.npz)")
    q.add_argument("-q", "--quiet", action="store_true")
    q.set_defaults(func=cmd_dataset_build)
    q = dsub.add_parser("info", help="counts, label skew, constant features")
    q.add_argument("dataset")
    q.add_argument("--plot", default=None, help="write the label histogram to this PNG")
    q.set_defaults(func=cmd_dataset_info)

    p = sub.add_parser("importance", help="rank the 164 features; plots and a selection")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", default="results/importance")
    p.add_argument("--by", default="total_gain", help="score that ranks and selects: "
                   "gain, total_gain, weight, cover, shap, permutation")
    p.add_argument("--labels", default="stock", help="label strategy of the analysed model")
    p.add_argument("--select", default="cumulative:0.95",
                   help="selection policy:param, e.g. cumulative:0.95, top-k:48, threshold:0.005")
    p.add_argument("--top", type=int, default=20, help="rows to print")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_importance)

    p = sub.add_parser("evaluate", help="leave-task-out comparison of selections and labels")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", default="results/evaluate.json")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=1,
                   help="task partitions to average over (seeds seed, seed+1, ...)")
    p.add_argument("--sweep-labels", default="rank", help="labels of the dimension sweep")
    p.add_argument("--configs", help="comma-separated configuration names (default: all)")
    p.add_argument("--jobs", type=int, default=1,
                   help="partitions evaluated in parallel processes (one core each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("experiment", help="stock XGBModel vs the fi model, alternating runs")
    p.add_argument("models", help="comma-separated model specs, e.g. resnet18,mobilenet_v2,bert")
    p.add_argument("--trials", type=int, default=320)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arms", default="xgb,fi-prior",
                   help="baseline,candidate among xgb (stock), fi (cold), fi-prior (fi "
                   "warm-started from --prior minus the tuned model's tasks, its selection "
                   "fitted on that prior), fi-prior-host (fi-prior with host descriptors as "
                   "features), fi-prior-explore (fi-prior measuring candidates sampled by "
                   "the model's odds, not only its top), fi-prior-odds (fi-prior scoring "
                   "programs by exp(score), which MetaSchedule's clip at 0 leaves apart), "
                   "fi-prior-softplus (by log(1 + exp(score)): the clip made strictly "
                   "increasing; worse in its one measured seed), fi-library (shipped data plus what "
                   "this seed's earlier runs learned, known schedules reused), random")
    p.add_argument("--prior", default=None,
                   help="dataset for the fi-prior arm (default: the one shipped with fisched)")
    p.add_argument("--hold-out", default=None, metavar="MODELS",
                   help="comma-separated models treated as the user's own: their tasks (by "
                   "name and structure) leave the shipped data for fi-prior and fi-library, "
                   "fi-library's selection is fitted without them and its known schedules "
                   "come only from what this seed's earlier runs learned (give the same "
                   "--hold-out to resume or summarise)")
    p.add_argument("--rounds", type=int, default=2,
                   help="rounds over every task the budget is sized for (default 2)")
    p.add_argument("--workdir", default=None,
                   help="default: results/experiment/HOST (this host's LLVM cpu name)")
    p.add_argument("--baseline-from", default=None, metavar="DIR",
                   help="another experiment folder (this host, same --trials and --rounds): "
                   "its finished runs of the baseline arm are copied in instead of tuned "
                   "again, to compare a new candidate against the same baseline runs (their "
                   "run.json names DIR)")
    p.add_argument("--target", default=None)
    p.add_argument("--summarize", action="store_true",
                   help="only summarise the runs already finished; tune nothing")
    p.add_argument("--pair-budget", type=float, default=None, metavar="SECONDS",
                   help="timed seconds per compiled model in the side-by-side timing "
                   "(default: fisched.study.experiment.PAIR_BUDGET_S)")
    p.add_argument("--time-pairs", action="store_true",
                   help="tune nothing: time side by side the finished pairs that have no "
                   "final.json yet (delete one to time it again), then summarise")
    p.set_defaults(func=cmd_experiment)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("tvm.s_tir.meta_schedule").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except FischedError as err:
        print(f"fisched: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fisched: interrupted; records measured so far are kept, run the same command "
              "to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
