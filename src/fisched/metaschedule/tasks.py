"""A model's tuning tasks: its fused TIR functions, as MetaSchedule's extractor finds them."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FischedError
from ..models.frontend import Model, fuse


@dataclass
class Task:
    """One tuning task: a fused TIR function of the model and how often the model calls it."""

    name: str
    mod: object
    weight: float
    flops: float = 0.0



def extract(model: Model, target) -> list[Task]:
    """The model's tuning tasks (legalize, fuse, then MetaSchedule's extractor)."""
    from tvm.s_tir import meta_schedule as ms

    extracted = ms.relax_integration.extract_tasks(fuse(model.mod, model.prepack, model.layout), target)
    tasks = []
    for t in extracted:
        try:
            from tvm.s_tir.analysis import estimate_tir_flops  # noqa: PLC0415
            flops = float(estimate_tir_flops(t.dispatched[0]))
        except Exception:  # flop estimation does not handle every op; it is informative only
            flops = 0.0
        tasks.append(Task(t.task_name, t.dispatched[0], float(t.weight), flops))
    if not tasks:
        raise FischedError(f"model {model.name} has no tunable tasks")
    return tasks
