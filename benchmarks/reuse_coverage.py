"""Which tasks of each zoo model get a head start from the shipped library?

For every zoo model, its tasks as ``fisched tune`` forms them on this host (CPU defaults), and
for each whether the shipped library (``src/fisched/defaults/library``, made by
``benchmarks/analysis.sh`` from the committed collection) holds schedules of a structurally
equal workload in the default design space: such a task starts from them under ``fisched tune
--reuse`` (the user's own library adds more; it is not read here). Nothing is measured.

Usage: python benchmarks/reuse_coverage.py [MODEL ...] -o results/reuse.json
Writes the JSON and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from fisched.costmodel.library import SHIPPED_LIBRARY, known_schedules, schedule_sources
from fisched.metaschedule.kernels import DEFAULT_KERNELS
from fisched.metaschedule.target import host_info, make_target
from fisched.metaschedule.tasks import extract
from fisched.models.frontend import default_pipeline, load_model
from fisched.models.zoo import ZOO


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list(ZOO))
    ap.add_argument("-o", "--out", default="results/reuse.json")
    args = ap.parse_args()

    target = make_target(None)
    host = host_info()
    with tempfile.TemporaryDirectory() as empty:  # no local library: the shipped one only
        sources = schedule_sources(host["llvm_cpu"], DEFAULT_KERNELS, empty)
    rows = {}
    for name in args.models:
        model = load_model(name, **default_pipeline(target))
        tasks = extract(model, target)
        known = known_schedules([t.mod for t in tasks], sources, top=1)
        covered = [t for t, k in zip(tasks, known) if k]
        rows[name] = {"tasks": len(tasks), "covered": len(covered),
                      "covered_tasks": [t.name for t in covered],
                      "uncovered_tasks": [t.name for t, k in zip(tasks, known) if not k],
                      "covered_flops_share": (sum(t.flops * t.weight for t in covered) /
                                              max(sum(t.flops * t.weight for t in tasks), 1.0))}
        print(name, rows[name]["covered"], "/", rows[name]["tasks"], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"host_cpu": host["llvm_cpu"], "kernels": DEFAULT_KERNELS,
                               "sources": [str(Path(s).relative_to(SHIPPED_LIBRARY.parent))
                                           for s in sources], "models": rows}, indent=2))
    hosts = sorted({Path(s).relative_to(SHIPPED_LIBRARY).parts[0] for s in sources})
    lines = [f"`benchmarks/reuse_coverage.py` on `{host['llvm_cpu']}`: tasks (CPU defaults, "
             f"`{DEFAULT_KERNELS}` kernels) with schedules in the shipped library (hosts: "
             f"{', '.join(hosts) or 'none'}), which `fisched tune --reuse` starts from", "",
             "| model | tasks | with a head start | share of the model's FLOPs | without |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['tasks']} | {r['covered']} | "
                     f"{r['covered_flops_share']:.0%} | "
                     f"{', '.join(r['uncovered_tasks']) or '-'} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
