"""``python -m flopcount`` / the ``flopcount`` console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_version(capsys):
    from flopcount import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"flopcount {__version__}"


def test_model_kwargs(capsys):
    argv = ["benchmarks.zoo:PaperCNN", "--model-kwargs", '{"num_classes": 3, "image_size": 32}']
    assert main([*argv, "--input-shape", "1,3,32,32", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"][-1]["output_shape"] == [1, 3]
    with pytest.raises(SystemExit) as exit_info:  # a usage error
        main(["benchmarks.zoo:PaperCNN", "--model-kwargs", "[1]", "--input-shape", "1,3,8,8"])
    assert exit_info.value.code == 2 and "expected a JSON object" in capsys.readouterr().err


TWO_INPUTS = """
import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self, vocab=50, dim=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, input_ids, attention_mask=None):
        x = self.embed(input_ids)
        if attention_mask is not None and not bool(attention_mask.all()):  # reads the mask's values
            x = x * attention_mask[..., None]
        return self.head(x)
"""


def test_several_named_integer_inputs_from_a_module_in_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_tagger.py").write_text(TWO_INPUTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    argv = ["my_tagger:Tagger", "--model-kwargs", '{"dim": 16}', "--format", "json"]
    shapes = ["--input-shape", "input_ids=2,10:int64", "--input-shape", "attention_mask=2,10:int64"]
    assert main([*argv, *shapes]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inputs"] == [[2, 10], [2, 10]] and data["totals"]["macs"] == 2 * 10 * 16 * 3
    assert data["capture"]["real_forward"] is False
    with pytest.raises(SystemExit):  # an unknown dtype is a usage error
        main(["my_tagger:Tagger", "--input-shape", "2,10:float64x"])


@pytest.mark.slow
def test_console_script_imports_from_the_current_folder(tmp_path):
    (tmp_path / "my_tagger.py").write_text(TWO_INPUTS)
    script = Path(sys.executable).with_name("flopcount")
    if not script.exists():
        pytest.skip("the flopcount console script is not installed in this environment")
    done = subprocess.run(
        [str(script), "my_tagger:Tagger", "--input-shape", "input_ids=1,4:int64", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["totals"]["params"] == 50 * 8 + 8 * 3 + 3
