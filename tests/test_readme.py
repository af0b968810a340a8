"""The README's promises that code can check: the plain-TVM snippet runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_snippet(tag: str) -> str:
    """The fenced Python block whose first line is ``# readme-snippet: TAG``."""
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S):
        if block.startswith(f"# readme-snippet: {tag}\n"):
            return block
    raise AssertionError(f"README.md has no snippet tagged {tag}")


@pytest.mark.slow
def test_tuned_model_runs_from_plain_tvm(tuned_tiny, tmp_path):
    """The README's snippet on a tuned model.so, in a fresh Python that never imports fisched
    (only the library path and the input's shape swapped in)."""
    wd = tuned_tiny
    snippet = readme_snippet("plain-tvm")
    assert "runs/demo/model.so" in snippet and "(1, 3, 224, 224)" in snippet
    code = (snippet.replace("runs/demo/model.so", str(wd / "model.so"))
            .replace("(1, 3, 224, 224)", "(1, 4, 16, 16)")
            + "\nimport sys\nassert not any(m.split('.')[0] == 'fisched' for m in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("(1, 10)"), res.stdout
