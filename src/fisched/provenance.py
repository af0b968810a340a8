"""Provenance stamped into every artifact fisched writes."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def host_cpu() -> str:
    """The LLVM name of this machine's CPU (e.g. ``znver3``); LLVM here rejects ``mcpu=native``."""
    from tvm.target import codegen

    return str(codegen.llvm_get_system_cpu())


def provenance(target=None) -> dict:
    """TVM version, target, CPU model and its LLVM name (``host_cpu``: figures compare only
    within one host), command line, date and git revision."""
    import tvm

    from . import __version__

    return {
        "fisched": __version__,
        "tvm": tvm.__version__,
        "target": str(target) if target is not None else None,
        "cpu": cpu_model(),
        "host_cpu": host_cpu(),
        "command": " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_revision(),
        "python": platform.python_version(),
    }


def record_host(record: dict) -> str | None:
    """The host a results record (e.g. a run.json) was measured on: its ``host_cpu``; for a
    record from before fisched wrote it, its ``host`` or the ``mcpu`` of its provenance's
    target (a target JSON); None if it names none."""
    import json

    found = record.get("host_cpu") or (record.get("host") or {}).get("llvm_cpu")
    if found:
        return found
    try:
        return json.loads((record.get("provenance") or {}).get("target") or "").get("mcpu")
    except (ValueError, AttributeError):
        return None


def one_host(records, where: str) -> str | None:
    """The one host (``record_host``) that ``records`` (dicts, e.g. run.json contents) were
    measured on; None for no record. Seconds and latencies of two hosts never compare, so
    records naming several hosts are refused (one naming none counts as a host of its own,
    "None": its figures cannot be placed beside any)."""
    from .errors import FischedError

    hosts = sorted({str(record_host(r)) for r in records})
    if len(hosts) > 1:
        raise FischedError(f"{where} holds runs of several hosts ({', '.join(hosts)}): "
                           "figures compare only within one host")
    return hosts[0] if hosts else None
