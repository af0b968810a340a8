"""Compilation targets: detect the host CPU so kernels use its vector units (AVX2/FMA on x86)."""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..errors import FischedError, tvm_error_line
from ..provenance import cpu_model, host_cpu  # host_cpu: part of every provenance


def default_num_cores() -> int:
    """Cores tuning and inference may use: TVM_NUM_THREADS if set, else the physical cores."""
    env = os.environ.get("TVM_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def make_target(spec: str | dict | None = None):
    """A ``tvm.target.Target`` from a JSON object string, a dict, or None (this host).

    An ``llvm`` target with neither ``mcpu`` nor ``mtriple`` is taken to mean this host, so the
    detected CPU is filled in; without it LLVM emits generic x86-64 code with no AVX2.
    """
    import tvm

    if spec is None:
        spec = {"kind": "llvm"}
    elif isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as err:
            raise FischedError(f"bad target: {spec!r} is not a JSON object ({err.msg})") from None
    if not isinstance(spec, dict) or "kind" not in spec:
        raise FischedError(f"bad target: expected a JSON object with a 'kind', got {spec!r}")
    spec = dict(spec)
    if spec["kind"] == "llvm":
        if "mcpu" not in spec and "mtriple" not in spec:
            spec["mcpu"] = host_cpu()
        spec.setdefault("num-cores", default_num_cores())
    try:
        target = tvm.target.Target(spec)
    except Exception as err:  # TVM raises several types; all mean the same to a user
        raise FischedError(f"bad target {json.dumps(spec)}: {tvm_error_line(err)}") from None
    if spec["kind"] == "llvm" and spec.get("mcpu"):
        _check_mcpu(target, str(spec["mcpu"]))
    return target


def _check_mcpu(target, mcpu: str) -> None:
    """Refuse an ``mcpu`` LLVM does not know for the target's triple: LLVM itself only logs
    an error and compiles for a generic CPU, so a typo would silently cost the vector units."""
    from tvm.target import codegen

    try:
        known = [str(c) for c in codegen.llvm_get_cpu_archlist(target)]
    except Exception:  # an LLVM without that triple's backend: leave it to LLVM
        return
    if known and mcpu not in known:
        raise FischedError(f"unknown mcpu {mcpu!r} for {target.attrs.get('mtriple') or 'this host'}"
                           f"; LLVM knows: {', '.join(known)}")


_ARCH_FAMILIES = {"x86_64": ("x86_64", "amd64", "i386", "i686"), "aarch64": ("aarch64", "arm64"),
                  "arm": ("arm",), "riscv64": ("riscv64",)}


def _arch_family(name: str) -> str:
    name = name.lower()
    for family, prefixes in _ARCH_FAMILIES.items():
        if name.startswith(prefixes):
            return family
    return name.split("-")[0]


def arch_family(target) -> str:
    """The architecture an ``llvm`` target compiles for: its ``mtriple``'s, else this
    machine's (``x86_64``, ``aarch64``, ``arm``, ``riscv64``, or the triple's first part)."""
    triple = str(target.attrs.get("mtriple", "") or "")
    return _arch_family(triple or platform.machine())


@dataclass(frozen=True)
class VectorUnit:
    """A CPU target's vector unit, and the register tile fisched's schedule rule fits in it
    (``kernels.RegisterTiling``)."""

    bits: int  # width of one vector register
    registers: int  # architectural vector registers

    def lanes(self, dtype_bits: int) -> int:
        return self.bits // dtype_bits

    @property
    def max_vectors(self) -> int:
        """Accumulator vectors across one register tile's row (the rest hold operands)."""
        return 4 if self.registers >= 32 else 2

    @property
    def max_rows(self) -> int:
        """Rows of one register tile."""
        return 8 if self.registers >= 32 else 6


def vector_unit(target) -> VectorUnit:
    """The vector unit an ``llvm`` target's ``mcpu``/``mtriple`` implies (not the host's: a
    target for another CPU gets that CPU's)."""
    from tvm.target import codegen

    if arch_family(target) == "aarch64":
        return VectorUnit(128, 32)

    def has(feature: str) -> bool:
        try:
            return bool(codegen.llvm_cpu_has_features(feature, target))
        except Exception:  # an LLVM without the feature name: treat as absent
            return False

    if has("avx512f"):
        return VectorUnit(512, 32)
    if has("avx2") or has("avx"):
        return VectorUnit(256, 16)
    return VectorUnit(128, 16)


def cross_arch(target) -> str | None:
    """The architecture of an ``llvm`` target whose ``mtriple`` is not this machine's (a cross
    target: its kernels cannot run here, and its library needs a cross compiler), else None."""
    if target.kind.name != "llvm":
        return None
    triple = str(target.attrs.get("mtriple", "") or "")
    if not triple:
        return None
    arch = _arch_family(triple)
    return None if arch == _arch_family(platform.machine()) else arch


def check_cross_target(target, cc: str | None, rpc_tracker: str | None) -> None:
    """Refuse, before any work, a cross target that could not be timed (no RPC device) or
    exported (no cross compiler that exists)."""
    arch = cross_arch(target)
    if arch is None:
        return
    here = platform.machine()
    if not rpc_tracker:
        raise FischedError(f"target {arch} is not this machine ({here}): its kernels can only "
                           "be timed on a device of its own, pass --rpc-tracker HOST:PORT")
    if not cc:
        raise FischedError(f"target {arch} is not this machine ({here}): pass --cc with a "
                           f"cross compiler to export its library (e.g. --cc {arch}-linux-gnu-g++)")
    if shutil.which(cc) is None:
        raise FischedError(f"--cc {cc}: no such compiler on PATH")


def num_cores(target) -> int:
    """The ``num-cores`` a target declares, or this host's default."""
    value = target.attrs.get("num-cores")
    return int(value) if value else default_num_cores()


def describe(target) -> str:
    """A short human description, e.g. ``llvm znver3, 2 cores``."""
    mcpu = target.attrs.get("mcpu", "generic")
    return f"{target.kind.name} {mcpu}, {num_cores(target)} cores"


_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
              "avx_vnni", "amx_tile", "neon", "asimd", "sve")


def host_info() -> dict:
    """What a results file records of the machine it was measured on: LLVM's name for the CPU,
    the CPU model, physical cores and the vector ISA flags the kernel reports."""

    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = [f for f in _ISA_FLAGS if f in flags]
    return {"llvm_cpu": host_cpu(), "model": cpu_model(),
            "cores": psutil.cpu_count(logical=False) or psutil.cpu_count(), "isa": isa,
            "vector_bits": vector_bits(isa)}


def vector_bits(isa: list[str]) -> int:
    """The widest vector register the ISA flags name (512 with AVX-512, 256 with AVX/AVX2,
    else 128: SSE or NEON)."""
    if "avx512f" in isa:
        return 512
    if "avx2" in isa or "avx" in isa:
        return 256
    return 128


def target_host(target, cpu: str | None = None) -> dict:
    """What a target says of the machine it is for, where no host was recorded (workdirs from
    before fisched recorded ``host``): LLVM's cpu name, the CPU model if known, cores and the
    vector width its ``mcpu`` implies; no ISA flags."""
    return {"llvm_cpu": str(target.attrs.get("mcpu", "generic")), "model": cpu,
            "cores": num_cores(target), "isa": None,
            "vector_bits": vector_unit(target).bits if target.kind.name == "llvm" else None}


def open_host_results(path: str | Path, default: dict | None = None) -> tuple[dict, dict]:
    """A results file to add this host's measurements to, and ``host_info()``.

    The file's ``host_cpu`` must be this host's: figures from two hosts are never compared, so
    a file from another one is refused (move it under a folder named for its host first). A
    missing file starts as ``default`` (``{}``). ``host_cpu`` is set on the returned dict.
    """
    host = host_info()
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else dict(default or {})
    if data.get("host_cpu", host["llvm_cpu"]) != host["llvm_cpu"]:
        raise FischedError(f"{path} holds results from {data['host_cpu']}, this host is "
                           f"{host['llvm_cpu']}: move it under a folder named for its host")
    data["host_cpu"] = host["llvm_cpu"]
    return data, host
