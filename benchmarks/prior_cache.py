"""What does keeping the trained fi prior save a tune's start?

    .venv/bin/python benchmarks/prior_cache.py [-o results/prior_cache.json] [--repeats 3]

Makes the shipped fi model (``FeatureImportanceModel()``: the shipped selection and prior, no
local library: a fresh ``XDG_CACHE_HOME``) with an empty prior cache, then again with the
entry the first one stored, ``--repeats`` times each in alternation (each pair in a fresh
cache), on the machine's cores as ``fisched tune`` uses them. Seconds are wall time of the
constructor: loading the datasets, the cache key's digest, and training or loading the prior.
Run it alone on the machine. Writes the JSON (``host_cpu``) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="results/prior_cache.json")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from fisched.costmodel.fi_model import FeatureImportanceModel
    from fisched.metaschedule.target import host_info, make_target, num_cores
    from fisched.provenance import provenance

    cores = num_cores(make_target(None))
    seconds: dict[str, list[float]] = {"trained": [], "loaded": []}
    programs = trees = None
    for _ in range(args.repeats):
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="fisched-prior-cache-")
        for kind in ("trained", "loaded"):
            start = time.perf_counter()
            model = FeatureImportanceModel(nthread=cores)
            seconds[kind].append(time.perf_counter() - start)
            assert model.prior_cached == (kind == "loaded"), "the cache did not serve"
            programs = model.prior_programs
            trees = model.prior_model.booster_.num_boosted_rounds()
    host = host_info()
    result = {"host_cpu": host["llvm_cpu"], "cores": cores, "prior_programs": programs,
              "prior_trees": trees, "seconds": seconds,
              "median_s": {k: statistics.median(v) for k, v in seconds.items()},
              "provenance": provenance()}
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2) + "\n")
    med = result["median_s"]
    table = (f"`benchmarks/prior_cache.py` on `{host['llvm_cpu']}` ({cores} cores): seconds to "
             f"make the shipped fi model (prior of {programs:,} programs, {trees} trees), "
             f"median of {args.repeats}\n\n| prior | seconds |\n|---|---|\n"
             f"| trained (empty cache) | {med['trained']:.1f} |\n"
             f"| loaded from the cache | {med['loaded']:.1f} |\n")
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
