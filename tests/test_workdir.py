"""The workdir module: an exclusive lock per workdir, and a package without import circles."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import fisched
from fisched.cli import main

PACKAGE = Path(fisched.__file__).parent


def test_second_tune_of_a_workdir_in_use_is_refused(tiny_onnx, tmp_path, capsys):
    """While another process holds a workdir's lock, a tune there ends in one line, exit 2,
    and writes no records."""
    wd = tmp_path / "w"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom fisched.workdir import locked\n"
         f"with locked({str(wd)!r}):\n    print('held', flush=True)\n    time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["tune", str(tiny_onnx), "--trials", "4", "--workdir", str(wd), "-q"]) == 2
        err = capsys.readouterr().err
        assert "in use by another fisched" in err and f"pid {holder.pid}" in err, err
        assert not (wd / "database_tuning_record.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_and_nests(tmp_path):
    from fisched.workdir import locked

    with locked(tmp_path), locked(tmp_path):  # the same process may nest
        pass
    start = time.time()
    with locked(tmp_path):  # released by the first block: taken again at once
        pass
    assert time.time() - start < 1


FLOW = ("models", "metaschedule", "costmodel", "tuning", "study")
"""The subpackages in the order data flows through them (docs/development.md): a module may
import from its own subpackage, an earlier one, and the top-level helpers (errors,
provenance, workdir); only cli.py, at the end, imports from every one."""


def _name(path: Path) -> str:
    """A module's name inside the package: ``tuning.tune``, ``cli``."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """fisched modules ``path`` imports anywhere (top level or inside functions)."""
    here = _name(path).split(".")[:-1]  # the importing module's subpackage, [] at the top
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
            if node.module:
                found.add(".".join([*base, node.module]))
            else:
                found.update(".".join([*base, a.name]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fisched."):
            found.add(node.module[len("fisched."):])
    modules = {_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules} - {_name(path)}


def test_the_package_has_no_import_circle_and_follows_the_data_flow():
    graph = {_name(p): _imports(p) for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = "open"
        for dep in sorted(graph.get(mod, ())):
            assert state.get(dep) != "open", "import circle: " + " -> ".join(path + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[mod] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert len(graph) > 25 and {m.split(".")[0] for m in graph} >= set(FLOW)

    def stage(mod: str) -> int:
        return FLOW.index(mod.split(".")[0]) if mod.split(".")[0] in FLOW else -1

    upstream = [f"{m} -> {d}" for m, deps in graph.items() if m != "cli" for d in deps
                if stage(d) > stage(m) and stage(m) >= 0]
    assert upstream == [], "imports against the data flow: " + ", ".join(upstream)


def test_the_top_level_names_are_what_they_say_whatever_was_imported_before():
    """``fisched.tune`` stays the function once the module defining it is imported (it used to
    turn into the submodule), and every lazy name resolves."""
    import importlib

    first = fisched.tune
    importlib.import_module("fisched.tuning.tune")
    assert callable(fisched.tune) and fisched.tune is first
    for name in fisched._LAZY:
        assert getattr(fisched, name) is not None
