"""A workdir: the one module that knows its file names, its metadata and its lock.

A workdir holds MetaSchedule's JSON database (``RECORD_FILE``, ``WORKLOAD_FILE``: every
measurement, the source of truth), ``fisched.json`` (what was tuned and how: model, target,
math, weights, layout, budget), MetaSchedule's logs, the validated picks (``validated/``), the
compiled ``model.so`` and the reports. Tuning holds ``LOCK_FILE`` exclusively, so two tunes of
one workdir cannot interleave their records.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import FischedError
from .metaschedule.target import make_target, num_cores
from .models.frontend import AS_IS, Model, default_pipeline, load_model
from .provenance import provenance

META_FILE = "fisched.json"
WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
LIBRARY_FILE = "model.so"
TUNE_REPORT = "report.json"
MEASURE_REPORT = "measure.json"
CURVE_FILE = "curve.json"  # the tuning curve: estimate after each measured batch
VALIDATED_DIR = "validated"
LOCK_FILE = ".fisched.lock"


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


_HELD: set[Path] = set()  # workdirs this process holds the lock of (``locked`` nests)


@contextmanager
def locked(workdir: str | Path):
    """Hold ``workdir``'s exclusive lock for the block; refuse at once if another process
    holds it (the lock is the OS's, released when its holder exits, even by a kill). Nested
    blocks on one workdir in one process share the outer block's lock."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir.resolve()
    if key in _HELD:
        yield
        return
    fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise FischedError(f"workdir {workdir} is in use by another fisched (pid {holder}); "
                               "wait for it or use another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
    finally:
        os.close(fd)


def validated_dir(workdir: str | Path) -> Path:
    return Path(workdir) / VALIDATED_DIR


def discard_validated(workdir: str | Path) -> None:
    """Forget earlier validated picks (new records may beat them)."""
    shutil.rmtree(validated_dir(workdir), ignore_errors=True)


def check_meta(workdir: Path, model: Model, target) -> dict:
    """Refuse to mix two models or two targets in one database; return the stored metadata."""
    path = workdir / META_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise FischedError(f"{path} is corrupt; move it away to start afresh") from None
    if meta.get("model") != model.name:
        raise FischedError(f"workdir {workdir} holds tuning of {meta.get('model')!r}, "
                           f"not {model.name!r}; use another --workdir")
    if meta.get("target") != str(target):
        raise FischedError(f"workdir {workdir} was tuned for target {meta.get('target')}, "
                           f"not {target}; use another --workdir")
    if meta_prepack(meta) != model.prepack:
        raise FischedError(f"workdir {workdir} was tuned with weights "
                           f"{'prepacked' if meta_prepack(meta) else 'as-is'} (its tasks differ): "
                           + ("pass --no-prepack" if model.prepack else "pass --prepack") +
                           " or use another --workdir")
    if meta_layout(meta) != model.layout:
        raise FischedError(f"workdir {workdir} was tuned with layout {meta_layout(meta)} (its "
                           f"tasks differ): pass --layout {meta_layout(meta)} or use another "
                           "--workdir")
    if meta_fast_math(meta) != model.fast_math:
        raise FischedError(f"workdir {workdir} was tuned with {meta.get('math', 'exact')} math "
                           "(its tasks differ): " + ("pass --exact-math" if model.fast_math else
                                                     "drop --exact-math") +
                           " or use another --workdir")
    return meta


def meta_fast_math(meta: dict) -> bool:
    """Whether a workdir's model was prepared with fast math (``frontend.prepare``); workdirs
    from before fisched recorded it were not."""
    return meta.get("math", "exact") == "fast"


def meta_prepack(meta: dict) -> bool:
    """Whether a workdir's tasks have layout-free weights (``frontend.fuse``); workdirs from
    before fisched recorded it do not."""
    return meta.get("weights", "as-is") == "prepacked"


def meta_layout(meta: dict) -> str:
    """The convolutions' activation layout a workdir was tuned with (``frontend.fuse``);
    workdirs from before fisched recorded it kept the model file's."""
    return meta.get("layout", AS_IS)


def meta_kernels(meta: dict) -> str:
    """The design space a workdir was tuned with (``fisched.metaschedule.kernels``); workdirs from before
    fisched recorded it were tuned with MetaSchedule's stock rules."""
    return meta.get("kernels", "stock")


def model_settings(meta: dict) -> dict:
    """``load_model`` keyword arguments that prepare a model as a workdir's was prepared."""
    return {"fast_math": meta_fast_math(meta), "prepack": meta_prepack(meta),
            "layout": meta_layout(meta)}


def pipeline_choices(meta: dict, target, prepack: bool | None = None,
                     layout: str | None = None) -> dict:
    """``prepack`` and ``layout`` for ``load_model``: each one given; else what the workdir
    was tuned with (``meta``: a run resumes as it began; workdirs from before fisched recorded
    them have weights and layouts as the model file has them); else, for a new workdir (empty
    ``meta``), ``frontend.default_pipeline``."""
    chosen = ({"prepack": meta_prepack(meta), "layout": meta_layout(meta)} if meta
              else default_pipeline(target))
    return {"prepack": chosen["prepack"] if prepack is None else prepack,
            "layout": chosen["layout"] if layout is None else layout}


def model_spec(meta: dict) -> str:
    """The model spec a workdir was tuned from (a zoo name, a file path or a torch factory)."""
    source = meta.get("source", "")
    return source[4:] if source.startswith("zoo:") else source


def input_shapes(meta: dict) -> list[str]:
    """The ``--input-shape`` arguments that reproduce a workdir's inputs."""
    return [f"{k}={','.join(map(str, v[0]))}" for k, v in meta.get("inputs", {}).items()]


def write_meta(workdir: Path, model: Model, target, **settings) -> None:
    meta = {"model": model.name, "source": model.source, "target": str(target),
            "math": "fast" if model.fast_math else "exact",
            "weights": "prepacked" if model.prepack else "as-is", "layout": model.layout,
            "inputs": {k: [list(v.shape), str(v.dtype)] for k, v in model.inputs.items()},
            **settings, "provenance": provenance(target)}
    write_json(workdir / META_FILE, meta)


def read_curve(workdir: str | Path) -> list[dict]:
    """The workdir's tuning curve (``CURVE_FILE``): one point per measured batch, ``trials``
    (records in the database), ``seconds`` (tuning time, summed over runs), ``estimate_ms``
    (weight x best latency summed over the tasks, None until every task has a valid one) and
    ``tasks_tuned``; empty for a workdir tuned before fisched kept it. The file also names the
    machine whose seconds they are (``host_cpu``)."""
    path = Path(workdir) / CURVE_FILE
    return json.loads(path.read_text())["points"] if path.exists() else []


def read_meta(workdir: str | Path) -> dict:
    path = Path(workdir) / META_FILE
    if not path.exists():
        raise FischedError(f"{workdir} has not been tuned (no {META_FILE}); run fisched tune first")
    return json.loads(path.read_text())


def load_tuned_model(spec: str, workdir: str | Path):
    """``(model, target)`` as ``workdir`` was tuned: its recorded target and math, and
    TVM_NUM_THREADS defaulting to the target's cores as the CLI sets it (for scripts that time
    or re-time what a workdir holds)."""
    meta = read_meta(workdir)
    target = make_target(meta["target"])
    os.environ.setdefault("TVM_NUM_THREADS", str(num_cores(target)))
    return load_model(spec, threads=num_cores(target), **model_settings(meta)), target
