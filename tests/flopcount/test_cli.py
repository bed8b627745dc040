"""``python -m flopcount`` / the ``flopcount`` console script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flopcount.cli import main


def test_table_output(capsys):
    assert main(["benchmarks.zoo:PaperCNN", "--input-shape", "1,3,224,224"]) == 0
    out = capsys.readouterr().out
    assert "25,785,415" in out and "classifier.1" in out


@pytest.mark.parametrize(
    "fmt, marker",
    [("markdown", "| Layer"), ("latex", "\\begin{tabular}"), ("csv", "name,type,family"), ("json", '"schema"')],
)
def test_formats(capsys, fmt, marker):
    assert main(["benchmarks.zoo:PaperCNN", "--input-shape", "1,3,224,224", "--format", fmt]) == 0
    assert marker in capsys.readouterr().out


def test_depth_and_convention(capsys):
    assert (
        main(["benchmarks.zoo:PaperCNN", "--input-shape", "1x3x224x224", "--format", "json", "--convention", "paper"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["convention"] == "paper" and data["totals"]["flops"] == data["totals"]["macs"]
    assert main(["benchmarks.zoo:PaperCNN", "--input-shape", "1,3,224,224", "--depth", "1"]) == 0
    assert "features" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmarks.zoo:Nope", "--input-shape", "1,3,8,8"], "has no attribute 'Nope'"),
        (["no_such_module:X", "--input-shape", "1,3,8,8"], "cannot import 'no_such_module'"),
        (["benchmarks.zoo", "--input-shape", "1,3,8,8"], "MODULE:ATTR"),
        (["benchmarks.zoo:PaperCNN", "--input-shape", "1,4,64,64"], "layer 'features.0' (Conv2d)"),
        (["benchmarks.zoo:LLAMA_7B", "--input-shape", "1,3"], "neither an nn.Module nor callable"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_shape_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmarks.zoo:PaperCNN", "--input-shape", "1,a"])
    assert exit_info.value.code == 2
    assert "invalid shape '1,a'" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_runs_torchvision_model():
    pytest.importorskip("torchvision", reason="flopcount alone needs no torchvision (the torch 2.13 matrix env)")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flopcount",
            "torchvision.models:resnet18",
            "--input-shape",
            "1,3,224,224",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["totals"]["params"] == 11_689_512
