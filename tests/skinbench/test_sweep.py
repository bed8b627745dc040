"""``skinbench sweep``: the YAML file, the runs it expands to, their states, SLURM, and a real sweep.

The slow test runs a 2 models x 2 seeds sweep on the synthetic data with one run
already finished, one interrupted (trained, not evaluated) and one whose folder holds a
run of another model (its job fails): the sweep skips the first, resumes the second,
trains the third, keeps going past the failure, and a second call trains only what is
missing. The report of the sweep folder then has the mean and standard deviation of
each model over its two seeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinbench.cli import main
from skinbench.reports.aggregate import has_seeds, seed_table
from skinbench.reports.runs import RunRecord
from skinbench.sweep import load_sweep, run_state, run_sweep, slurm_script


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _one_error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skinbench: error: "), err
    return err


def test_a_sweep_is_every_combination_in_a_fixed_order(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "sweep.yaml",
        "data: data\nout: runs\nmodels: [custom_cnn, resnet18]\nseeds: [0, 1]\nimage_sizes: [32, 64]\n"
        "lr: [0.001, 0.01]\nepochs: 3\npretrained: false\nskip: [ISIC_1, ISIC_2]\n",
    )
    spec = load_sweep(config)
    assert spec.out == tmp_path / "runs" and len(spec.runs) == 16  # relative paths: from the file's folder
    first = spec.runs[0]
    assert first.name == "custom_cnn-32px-seed0-lr0.001" and first.path == tmp_path / "runs" / first.name
    assert [r.name for r in spec.runs[:3]] == [
        "custom_cnn-32px-seed0-lr0.001",
        "custom_cnn-32px-seed0-lr0.01",
        "custom_cnn-32px-seed1-lr0.001",
    ]
    options = " ".join(first.options)
    assert "--model custom_cnn --image-size 32 --seed 0" in options and "--lr 0.001" in options
    assert f"--data {tmp_path / 'data'}" in options and "--epochs 3" in options
    assert "--no-pretrained" in options and "--skip ISIC_1 --skip ISIC_2" in options  # a flag; a repeatable option
    assert "--out" not in options and "--resume" not in options  # the sweep sets those per run


def test_flags_by_setting_or_by_name(tmp_path: Path) -> None:
    for text, flag in (("pretrained: true", False), ("no_pretrained: true", True), ("no_pretrained: false", False)):
        spec = load_sweep(_write(tmp_path / "s.yaml", f"data: /d\nout: /o\nmodel: custom_cnn\n{text}\n"))
        assert ("--no-pretrained" in spec.runs[0].options) is flag, text
    assert load_sweep(tmp_path / "s.yaml").runs[0].name == "custom_cnn-224px-seed0"  # train's default size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [custom_cnn]\nepoch: 3\n", "unknown key 'epoch' (did you mean epochs?)"),
        ("model: custom_cnn\nmodels: [resnet18]\n", "give model or models, not both"),
        ("epochs: 3\n", "models is required"),
        ("models: [custom_cnn]\nepochs: -1\n", "run custom_cnn-224px-seed0: epochs must be >= 0"),
        ("models: [custom_cnn]\nepochs: many\n", "argument --epochs: invalid int value: 'many'"),
        ("models: [custom_cnn]\nseeds: []\n", "seed is an empty list"),
        ("models: [custom_cnn]\npretrained: maybe\n", "pretrained must be true or false"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(tmp_path: Path, capsys, text: str, message: str) -> None:
    config = _write(tmp_path / "s.yaml", "data: /d\nout: /o\n" + text)
    assert message in _one_error_line(capsys, ["sweep", str(config)])


def test_not_a_mapping_and_index_out_of_range(tmp_path: Path, capsys) -> None:
    assert "must hold a YAML mapping" in _one_error_line(capsys, ["sweep", str(_write(tmp_path / "a.yaml", "- 1\n"))])
    config = _write(tmp_path / "b.yaml", "data: /d\nout: /o\nmodels: [custom_cnn]\n")
    assert "--index 1 is out of range: the sweep has 1 runs" in _one_error_line(
        capsys, ["sweep", str(config), "--index", "1"]
    )


def test_run_states(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert run_state(run) == "new"
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert run_state(run) == "new"  # set up, no epoch finished: trained from the start
    (run / "last.pt").write_bytes(b"")
    assert run_state(run) == "partial"
    (run / "metrics.json").write_text("{}")
    assert run_state(run) == "done"


def test_print_slurm_writes_a_job_array(tmp_path: Path, capsys) -> None:
    config = _write(tmp_path / "s.yaml", "data: d\nout: runs\nmodels: [custom_cnn, resnet18]\nseeds: [0, 1, 2]\n")
    assert main(["sweep", str(config), "--print-slurm", "--nproc-per-node", "4"]) == 0
    script = (tmp_path / "runs" / "sweep.sbatch").read_text()
    assert capsys.readouterr().out == script
    assert "#SBATCH --array=0-5" in script and "#SBATCH --gpus-per-task=4" in script
    assert f"sweep {config} --nproc-per-node=4 --index $SLURM_ARRAY_TASK_ID" in script
    assert "#   5: resnet18-224px-seed2" in script
    assert script == slurm_script(load_sweep(config), nproc=4)


def test_torchrun_jobs(tmp_path: Path) -> None:
    config = _write(tmp_path / "s.yaml", "data: d\nout: runs\nmodels: [custom_cnn]\n")
    outcome = run_sweep(load_sweep(config), nproc=2, dry_run=True, echo=False)
    assert outcome == {"custom_cnn-224px-seed0": "new"}
    from skinbench.sweep import _command

    spec = load_sweep(config)
    command = _command(spec, spec.runs[0], 2)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    assert command[6:8] == ["skinbench", "train"]


@pytest.mark.slow
def test_a_sweep_completes_only_what_is_missing_and_reports_mean_and_std(
    synthetic_root: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = _write(
        tmp_path / "sweep.yaml",
        f"data: {synthetic_root}\nout: sweep\nmodels: [custom_cnn, mobilenet_v3_small]\nseeds: [0, 1]\n"
        "image_size: 16\nepochs: 2\nbatch_size: 32\npretrained: false\nthreads: 1\nnum_workers: 0\nprogress: false\n",
    )
    spec = load_sweep(config)
    done, partial, new, broken = spec.runs  # custom_cnn seed 0 and 1, mobilenet_v3_small seed 0 and 1
    assert main(["train", *done.options, "--out", str(done.path)]) == 0  # finished before the sweep
    assert main(["train", *partial.options, "--epochs", "1", "--out", str(partial.path)]) == 0
    (partial.path / "metrics.json").unlink()  # as if stopped before its evaluation: last.pt, no metrics
    broken.path.mkdir(parents=True)
    shutil.copy(done.path / "config.json", broken.path)  # another model's run: resuming it must fail
    shutil.copy(done.path / "last.pt", broken.path)
    capsys.readouterr()

    assert main(["sweep", str(config), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    for run, state in ((done, "done"), (partial, "partial"), (new, "new"), (broken, "partial")):
        assert f"{run.name}: {state}" in listed
    finished_at = (done.path / "last.pt").stat().st_mtime_ns

    assert main(["sweep", str(config)]) == 1  # one run failed, the others went on
    captured = capsys.readouterr()
    assert f"{broken.name}: failed (exit 2): skinbench: error: cannot resume" in captured.out
    assert "1 of 4 runs failed" in captured.err
    assert (done.path / "last.pt").stat().st_mtime_ns == finished_at and not (
        spec.out / "logs" / f"{done.name}.log"
    ).exists()
    assert pd.read_csv(partial.path / "history.csv")["epoch"].tolist() == [1, 2]  # resumed: epoch 2 only
    assert [run_state(r.path) for r in spec.runs] == ["done", "done", "done", "partial"]

    shutil.rmtree(broken.path)
    stamps = {r.name: (r.path / "metrics.json").stat().st_mtime_ns for r in spec.runs[:3]}
    assert main(["sweep", str(config)]) == 0
    assert {r.name: (r.path / "metrics.json").stat().st_mtime_ns for r in spec.runs[:3]} == stamps  # not rerun
    assert run_state(broken.path) == "done"

    assert main(["report", str(spec.out), "--out", str(tmp_path / "report"), "--no-speed"]) == 0
    seeds = pd.read_csv(tmp_path / "report" / "tables" / "seeds.csv")
    assert seeds["group"].tolist() == ["custom_cnn-16px", "mobilenet_v3_small-16px"]
    assert seeds["n_seeds"].tolist() == [2, 2]
    for group, runs in zip(seeds.itertuples(), (spec.runs[:2], spec.runs[2:])):
        accuracies = [json.loads((r.path / "metrics.json").read_text())["accuracy"] for r in runs]
        assert group.accuracy == pytest.approx(np.mean(accuracies))
        assert group.accuracy_std == pytest.approx(np.std(accuracies, ddof=1))
    assert (tmp_path / "report" / "figures" / "pareto_seeds_macs.png").is_file()
    assert "Mean and standard deviation over seeds" in (tmp_path / "report" / "report.md").read_text()
    assert len(pd.read_csv(tmp_path / "report" / "tables" / "accuracy.csv")) == 4  # every run, from the sweep folder


def _record(name: str, **config: object) -> RunRecord:
    base = {"model": "custom_cnn", "image_size": 32, "lr": 0.001, "seed": 0, "device": "cpu", "out": f"/runs/{name}"}
    return RunRecord(Path(name), name, {**base, **config}, pd.DataFrame(), {})


def test_seed_groups_mean_and_sample_std() -> None:
    runs = [
        _record("a0", seed=0, mean=[0.1], world_size=2),  # where, how and normalisation do not split a group
        _record("a1", seed=1, mean=[0.2], device="cuda", threads=4),
        _record("a2", seed=2),
        _record("b0", lr=0.01),  # another learning rate: another experiment
        _record("c0", model="resnet18", image_size=64),
    ]
    frame = pd.DataFrame(
        {
            "run": [r.name for r in runs],
            "accuracy": [0.60, 0.70, 0.80, 0.5, 0.9],
            "balanced_accuracy": [0.2, 0.4, 0.9, 0.3, 0.1],
            "macs": [100, 100, 100, 100, 900],
        }
    )
    table = seed_table(runs, frame).set_index("group")
    assert table.index.tolist() == ["custom_cnn-32px-lr=0.001", "custom_cnn-32px-lr=0.01", "resnet18-64px"]
    a = table.loc["custom_cnn-32px-lr=0.001"]
    assert (a["n_seeds"], a["seeds"], a["runs"], a["macs"]) == (3, "0, 1, 2", "a0, a1, a2", 100)
    assert a["accuracy"] == pytest.approx(0.7) and a["accuracy_std"] == pytest.approx(0.1)  # sqrt(0.02 / 2)
    assert a["balanced_accuracy"] == pytest.approx(0.5)
    assert a["balanced_accuracy_std"] == pytest.approx(np.sqrt((0.09 + 0.01 + 0.16) / 2))
    assert np.isnan(table.loc["resnet18-64px", "accuracy_std"])  # one seed: undefined, not 0
    assert has_seeds(table.reset_index()) and not has_seeds(table.reset_index().iloc[1:])


def test_group_labels_name_what_differs_but_not_aliases() -> None:
    strong = {"recipe": "strong", "class_balance": "loss", "class_weights": True, "epochs": 15}
    tuned = {"recipe": "strong", "class_balance": "sqrt", "class_weights": False, "epochs": 40}
    runs = [_record("s", **strong), _record("t", **tuned), _record("p", recipe="paper")]
    frame = pd.DataFrame({"run": ["s", "t", "p"], "accuracy": [0.6, 0.7, 0.8]})
    assert seed_table(runs, frame)["group"].tolist() == [
        "custom_cnn-32px-strong-class_balance=loss-epochs=15",  # class_weights: an alias of class_balance
        "custom_cnn-32px-strong-class_balance=sqrt-epochs=40",
        "custom_cnn-32px-paper",
    ]


STUDY = Path(__file__).resolve().parents[2] / "examples" / "study"


@pytest.mark.parametrize("config", sorted(STUDY.glob("*.yaml")), ids=lambda p: p.name)
def test_the_study_sweeps_are_valid_and_every_run_is_in_run_all(config: Path) -> None:
    spec = load_sweep(config)
    assert spec.runs and spec.out.parent.name == "study" and spec.out.parent.parent.name == "runs"
    recipe = "paper" if "paper" in config.stem else "strong"
    for run in spec.runs:
        options = " ".join(run.options)
        assert f"--recipe {recipe}" in options and "--patience 0" in options and "--no-progress" in options
        if "tuned" in config.stem:  # the tuned sweep: 40 epochs and square-root class weights
            assert "--epochs 40" in options and "--class-balance sqrt" in options
    assert f"$S/{config.name}" in (STUDY / "run_all.sh").read_text()
