"""Names and groups of MetaSchedule's 164 per-store features (see shared FEATURES.md).

Layout (defaults: 5 buffer slots, 10 arithmetic-intensity samples): 57 computation features,
18 per buffer slot, 10 arithmetic-intensity curve points, 4 allocation and 3 outer-loop features.
Tests check these names against what ``PerStoreFeature()`` really returns.
"""

from __future__ import annotations

_POS = ["kPosNone", "kPosInnerSpatial", "kPosMiddleSpatial", "kPosOuterSpatial",
        "kPosInnerReduce", "kPosMiddleReduce", "kPosOuterReduce", "kPosMixed"]
_BUFFER = ["acc_type.kRead", "acc_type.kWrite", "acc_type.kReadWrite", "bytes", "unique_bytes",
           "lines", "unique_lines", "reuse_type.kLoopMultipleRead",
           "reuse_type.kSerialMultipleReadWrite", "reuse_type.kNoReuse", "reuse_dis_iter",
           "reuse_dis_bytes", "reuse_ct", "bytes_d_reuse_ct", "unique_bytes_d_reuse_ct",
           "lines_d_reuse_ct", "unique_lines_d_reuse_ct", "stride"]
N_BUFFERS = 5
N_CURVE = 10


def _names() -> list[tuple[str, str]]:
    out = [(n, "compute") for n in [
        "float_mad", "float_addsub", "float_mul", "float_divmod", "float_cmp", "float_mathfunc",
        "float_otherfunc", "int_mad", "int_addsub", "int_mul", "int_divmod", "int_cmp",
        "int_mathfunc", "int_otherfunc", "bool_op", "select_op"]]
    for kind in ("vec", "unroll", "parallel"):
        out += [(f"{kind}_num", kind), (f"{kind}_prod", kind), (f"{kind}_len", kind)]
        out += [(f"{kind}_type.{p}", kind) for p in _POS]
    out += [(n, "gpu") for n in ["is_gpu", "blockIdx_x_len", "blockIdx_y_len", "blockIdx_z_len",
                                 "threadIdx_x_len", "threadIdx_y_len", "threadIdx_z_len",
                                 "vthread_len"]]
    for slot in range(N_BUFFERS):
        out += [(f"B{slot}.{n}", "buffer") for n in _BUFFER]
    out += [(f"arith_intensity_curve_{i}", "arith_intensity") for i in range(N_CURVE)]
    out += [(n, "alloc") for n in ["alloc_size", "alloc_prod", "alloc_outer_prod",
                                   "alloc_inner_prod"]]
    out += [(n, "outer") for n in ["outer_prod", "num_loops", "auto_unroll_max_step"]]
    return out


FEATURE_NAMES: list[str] = [n for n, _ in _names()]
FEATURE_GROUPS: list[str] = [g for _, g in _names()]
N_FEATURES = len(FEATURE_NAMES)
assert N_FEATURES == 164

# Constant on a CPU target, by the extractor's source: the *_mad counters are never
# counted, loop-position one-hots are only kPosNone or kPosMixed, and GPU features are constant.
STRUCTURALLY_CONSTANT_CPU = sorted(
    [0, 7]
    + [i for i, n in enumerate(FEATURE_NAMES)
       if "_type.kPos" in n and not n.endswith(("kPosNone", "kPosMixed"))]
    + list(range(49, 57)))


def index(name: str) -> int:
    return FEATURE_NAMES.index(name)
