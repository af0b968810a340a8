"""Reports written into a workdir: JSON for machines, a text table for people."""

from __future__ import annotations

import json
from pathlib import Path

from ..provenance import provenance
from ..workdir import LIBRARY_FILE, MEASURE_REPORT, TUNE_REPORT, read_curve, read_meta, write_json
from .tune import TuneResult, task_summary


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*map(str, r)) for r in rows)])


def write_tune_report(workdir: str | Path, result: TuneResult, database) -> str:
    """Per-task table and run totals; the end-to-end estimate is sum(weight * best latency)."""
    workdir = Path(workdir)
    rows = task_summary(result.tasks, database)
    tuned = [r for r in rows if r["best_ms"] is not None]
    estimate = sum(r["weight"] * r["best_ms"] for r in tuned)
    data = {
        "model": read_meta(workdir)["model"],
        "tasks": rows,
        "estimate_ms": estimate if len(tuned) == len(rows) else None,
        "records": sum(r["records"] for r in rows),
        "this_run": {"trials_before": result.trials_before, "measured": result.trials_measured,
                     "failed": result.failed, "set_aside": result.set_aside,
                     "seconds": result.seconds,
                     "profile_seconds": result.profile},
        "provenance": provenance(),
    }
    write_json(workdir / TUNE_REPORT, data)
    table = _table(["task", "weight", "records", "failed", "best ms", "GFLOPS"], [
        [r["task"], f"{r['weight']:g}", r["records"], r["failed"],
         f"{r['best_ms']:.4f}" if r["best_ms"] is not None else "-",
         f"{r['gflops']:.1f}" if r["gflops"] else "-"] for r in rows])
    untuned = len(rows) - len(tuned)
    summary = (f"{data['records']} records; this run measured {result.trials_measured} "
               f"({result.failed} failed) in {result.seconds:.0f} s; estimated end-to-end "
               f"{estimate:.2f} ms" + (f" ({untuned} tasks without a valid schedule)"
                                       if untuned else ""))
    return f"{table}\n{summary}"


def write_measure_report(workdir: str | Path, model: str, target, threads: int, rows: list,
                         checks: dict[str, float], tolerance: float) -> str:
    workdir = Path(workdir)
    data = {"model": model, "threads": threads, "latency": [r.as_dict() for r in rows],
            "max_relative_error": checks, "tolerance": tolerance,
            "provenance": provenance(target)}
    write_json(workdir / MEASURE_REPORT, data)
    base = rows[0].median_ms
    table = _table(["", "median ms", "p10-p90 ms", "runs", "vs tuned"], [
        [r.name, f"{r.median_ms:.3f}", "{:.3f}-{:.3f}".format(*r.spread_ms), len(r.runs_ms),
         f"{r.median_ms / base:.2f}x"] for r in rows])
    lines = [f"{model}, {threads} threads", table]
    lines += [f"{k}: max relative error {v:.2e} "
              f"({'ok' if v <= tolerance else 'FAILED'}, tolerance {tolerance:g})"
              for k, v in checks.items()]
    return "\n".join(lines)


def workdir_state(workdir: str | Path) -> dict:
    """What ``fisched show`` prints: the workdir's settings (``fisched.json``), its last tune
    report (per task: weight, records, failures, best latency, GFLOPS; the end-to-end
    estimate) and its last ``measure`` result, whichever exist. Reads files only."""
    workdir = Path(workdir)
    meta = read_meta(workdir)
    state = {"workdir": str(workdir), "settings": {k: v for k, v in meta.items()
                                                    if k != "provenance"},
             "tuned_at": meta.get("provenance", {}).get("date"),
             "library": (workdir / LIBRARY_FILE).exists(), "curve": read_curve(workdir)}
    for key, name in (("report", TUNE_REPORT), ("measure", MEASURE_REPORT)):
        path = workdir / name
        state[key] = json.loads(path.read_text()) if path.exists() else None
    return state


def format_state(state: dict) -> str:
    """``workdir_state`` as text: settings, then the per-task table, heaviest first."""
    s = state["settings"]
    lines = [f"{state['workdir']}: {s['model']} ({s.get('source', '')}), target {s['target']}",
             f"  trials {s.get('trials')}, cost model {s.get('cost_model')}, seed "
             f"{s.get('seed')}, population {s.get('population', 512)}, weights "
             f"{s.get('weights', 'as-is')}, layout {s.get('layout', 'as-is')}, kernels "
             f"{s.get('kernels', 'stock')}, math {s.get('math', 'exact')}; model.so "
             f"{'present' if state['library'] else 'absent'}"]
    report = state["report"]
    if report is None:
        lines.append("  no tune report yet (a tune in progress or cut short writes none)")
    else:
        rows = sorted(report["tasks"], key=lambda r: -(r["weight"] * (r["best_ms"] or 0)))
        lines += ["", _table(["task", "weight", "records", "failed", "best ms", "GFLOPS"], [
            [r["task"], f"{r['weight']:g}", r["records"], r["failed"],
             "-" if r["best_ms"] is None else f"{r['best_ms']:.4f}",
             "-" if r["gflops"] is None else f"{r['gflops']:.1f}"] for r in rows]),
            "", f"{report['records']} records; estimated end-to-end "
            + ("-" if report["estimate_ms"] is None else f"{report['estimate_ms']:.2f} ms")]
    curve = state.get("curve") or []
    if curve:
        first = next((p for p in curve if p["estimate_ms"] is not None), None)
        lines.append(f"tuning curve: {len(curve)} batches, {curve[-1]['seconds']:.0f} s"
                     + ("" if first is None else
                        f"; estimate {first['estimate_ms']:.2f} ms at {first['trials']} trials "
                        f"-> {curve[-1]['estimate_ms']:.2f} ms at {curve[-1]['trials']}"))
    measure = state["measure"]
    if measure is not None:
        import statistics

        timed = ", ".join(f"{r['name']} {statistics.median(r['runs_ms']):.3f} ms"
                          for r in measure["latency"])
        lines.append(f"last measure ({measure['threads']} threads): {timed}")
    return "\n".join(lines)
