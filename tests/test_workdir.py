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


def _imports(path: Path) -> set[str]:
    """fisched modules ``path`` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module.split(".")[0]] if node.module else
                         [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fisched."):
            found.add(node.module.split(".")[1])
    return found - {path.stem}


def test_the_package_has_no_import_circle():
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
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
    assert len(graph) > 20  # the walk saw the package
