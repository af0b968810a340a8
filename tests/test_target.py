import json

import pytest

from fisched.errors import FischedError
from fisched.metaschedule.target import host_cpu, make_target, num_cores


def test_host_target_gets_detected_cpu():
    target = make_target(None)
    assert target.kind.name == "llvm"
    assert target.attrs["mcpu"] == host_cpu()
    assert host_cpu() not in ("", "generic")
    assert num_cores(target) >= 1


def test_explicit_settings_are_kept():
    target = make_target(json.dumps({"kind": "llvm", "mcpu": "skylake", "num-cores": 3}))
    assert target.attrs["mcpu"] == "skylake"
    assert num_cores(target) == 3


def test_cross_target_does_not_get_host_cpu():
    target = make_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu"})
    assert "mcpu" not in target.attrs


@pytest.mark.parametrize("spec", ["{not json", '"llvm"', '{"kind": "no-such-kind"}',
                                  '{"kind": "llvm", "num-cores": "many"}'])
def test_bad_target_is_one_clear_error(spec):
    with pytest.raises(FischedError) as err:
        make_target(spec)
    assert "target" in str(err.value) and "\n" not in str(err.value)


def test_unknown_mcpu_is_refused_with_the_known_ones(tmp_path, capsys):
    """LLVM only logs a bad mcpu and compiles for a generic CPU; fisched refuses it, before any
    work: no workdir is made."""
    from fisched.cli import main

    with pytest.raises(FischedError, match="unknown mcpu 'notacpu'") as err:
        make_target({"kind": "llvm", "mcpu": "notacpu"})
    assert "skylake" in str(err.value)
    wd = tmp_path / "w"
    assert main(["tune", "resnet18", "--target", '{"kind": "llvm", "mcpu": "znver9000"}',
                 "--workdir", str(wd)]) == 2
    assert "unknown mcpu" in capsys.readouterr().err and not wd.exists()
    assert make_target({"kind": "llvm", "mcpu": "skylake"}).attrs["mcpu"] == "skylake"


def test_cross_target_is_refused_before_tuning(tmp_path, capsys):
    """A target of another architecture cannot be timed here nor linked by the host compiler:
    without an RPC device and a cross compiler that exists, one line, exit 2, nothing written."""
    from fisched.cli import main
    from fisched.metaschedule.target import cross_arch

    arm = '{"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72"}'
    assert cross_arch(make_target(arm)) == "aarch64"
    assert cross_arch(make_target(None)) is None
    wd = tmp_path / "w"
    for extra, said in [([], "--rpc-tracker"),
                        (["--rpc-tracker", "127.0.0.1:9190"], "pass --cc"),
                        (["--rpc-tracker", "127.0.0.1:9190", "--cc", "no-such-g++"],
                         "no such compiler")]:
        assert main(["tune", "resnet18", "--target", arm, "--workdir", str(wd), *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
        assert not wd.exists()
