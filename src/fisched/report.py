"""Reports written into a workdir: JSON for machines, a text table for people."""

from __future__ import annotations

import json
from pathlib import Path

from .provenance import provenance
from .tune import TuneResult, read_meta, task_summary

TUNE_REPORT = "report.json"
MEASURE_REPORT = "measure.json"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*map(str, r)) for r in rows)])


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


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
    _write_json(workdir / TUNE_REPORT, data)
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
    _write_json(workdir / MEASURE_REPORT, data)
    base = rows[0].median_ms
    table = _table(["", "median ms", "p10-p90 ms", "runs", "vs tuned"], [
        [r.name, f"{r.median_ms:.3f}", "{:.3f}-{:.3f}".format(*r.spread_ms), len(r.runs_ms),
         f"{r.median_ms / base:.2f}x"] for r in rows])
    lines = [f"{model}, {threads} threads", table]
    lines += [f"{k}: max relative error {v:.2e} "
              f"({'ok' if v <= tolerance else 'FAILED'}, tolerance {tolerance:g})"
              for k, v in checks.items()]
    return "\n".join(lines)
