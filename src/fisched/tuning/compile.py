"""Compile a prepared model with the best schedules of a workdir's database."""

from __future__ import annotations

from pathlib import Path

from ..errors import FischedError
from ..metaschedule.build import intrinsics_for
from ..metaschedule.records import open_database
from ..models.frontend import AS_IS, Model, fuse
from ..workdir import LIBRARY_FILE
from .validate import open_validated


def compile_with_database(model: Model, target, database):
    """A Relax VM executable in which every task found in ``database`` uses its best schedule.

    For CPUs this is MetaSchedule's ``compile_relax`` pipeline with the fusion step taken from
    ``frontend.fuse``, exactly as task extraction fused (so the database's workloads match):
    dispatch, fuse (in the model's ``layout``), apply the database, lower. With ``model.prepack``,
    the weight layouts the schedules chose are then split out of the kernels
    (``SplitLayoutRewritePreproc``) and folded into the constants at compile time
    (``FoldConstant``), so the library keeps its calling convention (inputs in, output out,
    in the model file's layouts). Other targets go through ``compile_relax`` itself.
    """
    import tvm
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    if target.kind.name != "llvm":
        if model.prepack or model.layout != AS_IS:
            raise FischedError("--prepack and --layout are implemented for CPU (llvm) targets "
                               "only")
        return ms.relax_integration.compile_relax(database, model.mod, target, params=None)
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    @tvm.transform.module_pass(opt_level=3)
    def pipeline(mod, _ctx):
        mod = tvm.transform.Sequential(cpu.library_dispatch_passes(target))(mod)
        mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(
            fuse(mod, model.prepack, model.layout))
        if model.prepack:
            mod = tvm.transform.Sequential([relax.transform.SplitLayoutRewritePreproc(),
                                            relax.transform.FoldConstant()])(mod)
        return tvm.transform.Sequential(cpu.dataflow_lower_passes(target) +
                                        cpu.finalize_passes(target))(mod)

    # replaying a record's trace may tensorize: its target family's intrinsics must be known
    with intrinsics_for(target), target, database, tvm.transform.PassContext(opt_level=3):
        return relax.build(model.mod, target=target, relax_pipeline=pipeline)


def compile_untuned(model: Model, target):
    """The same pipeline with an empty database: what TVM gives without tuning."""
    from tvm.s_tir import meta_schedule as ms

    return compile_with_database(model, target, ms.database.MemoryDatabase())


def workdir_database(workdir: str | Path, picks_dir: str | Path | None = None):
    """What a workdir compiles with: its validated picks (``fisched.tuning.validate``; by default in
    ``<workdir>/validated``) first, then MetaSchedule's best record for every other task."""
    from tvm.s_tir import meta_schedule as ms

    database = open_database(workdir)
    picks = open_validated(workdir, picks_dir)
    return database if picks is None else ms.database.OrderedUnionDatabase(picks, database)


def compile_model(model: Model, workdir: str | Path, target, cc: str | None = None) -> Path:
    """Compile with the workdir's database and export the library into the workdir, linked by
    ``cc`` (a cross compiler for a cross target; default: this machine's)."""
    path = Path(workdir) / LIBRARY_FILE
    executable = compile_with_database(model, target, workdir_database(workdir))
    tmp = path.with_suffix(".tmp.so")
    executable.export_library(str(tmp), **({"cc": cc} if cc else {}))
    tmp.replace(path)
    return path


def scheduled_share(model: Model, target, database) -> tuple[int, int]:
    """(functions that got a tuned schedule from ``database``, all TIR functions) after fusion.

    A check that tuning reached the compiled model: MetaSchedule marks every function it replaces
    from the database ``tirx.is_scheduled``; the rest would run as naive loop nests.
    """
    import tvm
    from tvm import relax

    with target, database, tvm.transform.PassContext(opt_level=3):
        mod = relax.transform.MetaScheduleApplyDatabase()(
            fuse(model.mod, model.prepack, model.layout))
    funcs = [f for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    done = sum(bool(f.attrs and f.attrs.get("tirx.is_scheduled", False)) for f in funcs)
    return done, len(funcs)
