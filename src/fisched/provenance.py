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


def one_host(records, where: str) -> str | None:
    """The one host (``host_cpu``) that ``records`` (dicts, e.g. run.json contents) were
    measured on; None for no record. Seconds and latencies of two hosts never compare, so
    records naming several hosts are refused (a record without ``host_cpu`` predates it and
    is refused too: its host is unknown)."""
    from .errors import FischedError

    hosts = sorted({str(r.get("host_cpu")) for r in records})
    if len(hosts) > 1:
        raise FischedError(f"{where} holds runs of several hosts ({', '.join(hosts)}): "
                           "figures compare only within one host")
    return hosts[0] if hosts else None
