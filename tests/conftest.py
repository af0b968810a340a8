"""Shared fixtures: a tiny ONNX model that tunes in seconds, and the host target."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

os.environ.setdefault("TVM_NUM_THREADS", "2")
# a small evolutionary population (MetaSchedule: 512) keeps every tiny tune, in-process or
# through the CLI, to seconds of search; see fisched.tuning.tune.search_strategy
os.environ.setdefault("FISCHED_SEARCH_POPULATION", "64")
# every tune and collect of the suite learns into a library of its own, never the user's
# (fisched.costmodel.library keeps it under $XDG_CACHE_HOME)
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="fisched-test-cache-")


def tiny_onnx_model() -> onnx.ModelProto:
    """Conv-BN-ReLU, global pool and a dense layer: three or four small tuning tasks."""
    from fisched.models.zoo import GraphBuilder

    g = GraphBuilder(seed=1)
    x = g.conv_bn("input", 4, 8, 3)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    w = g.const(g.rng.normal(0, 0.5, (8, 10)).astype(np.float32))
    y = g.op("MatMul", [x, w])
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 16, 16])
    return g.model([inp], y, [1, 10], "tiny")


@pytest.fixture()
def tiny_onnx(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_onnx_model(), str(path))
    return path


@pytest.fixture(scope="session")
def target():
    from fisched.metaschedule.target import make_target

    return make_target(None)


@pytest.fixture(scope="session")
def tuned_tiny(tmp_path_factory):
    """A workdir with the tiny model tuned (4 trials, the CLI's defaults) and compiled: for
    tests that only read a finished workdir. Tests that change a workdir make their own."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("tuned_tiny")
    path = root / "tiny.onnx"
    onnx.save(tiny_onnx_model(), str(path))
    wd = root / "w"
    res = subprocess.run([sys.executable, "-m", "fisched.cli", "tune", str(path), "--trials",
                          "4", "--workdir", str(wd), "-q"], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr
    return wd


def pytest_collection_modifyitems(items):
    """A test that needs a tuned workdir is a tuning round trip: mark it ``slow`` (deselect
    with ``pytest -m "not slow"``; tests that tune in their own body carry the mark)."""
    for item in items:
        if "tuned_tiny" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def no_gpu_intrinsics_imported():
    """The suite runs CPU targets only: a TuneContext made outside
    ``fisched.metaschedule.build.intrinsics_for`` imports every family's tensor intrinsics
    (cuda's included, about a minute on a CPU host). Fail the session if one slipped in."""
    import sys

    yield
    leaked = "tvm.s_tir.tensor_intrin.cuda" in sys.modules
    assert not leaked, "a TuneContext was made outside intrinsics_for (use tune_context)"
