"""``skinbench report`` end to end on two tiny synthetic runs: every file, the HTML and its images, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from skinbench.cli import main as cli
from skinbench.config import TrainConfig
from skinbench.cost import count
from skinbench.train import main as train

# Trains two tiny models once for the module (about 20 s on 2 cores).
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
TABLES = ("runs", "cost", "accuracy", "table3", "table4", "table4_recipes", "deviation", "pareto")
RUN_FIGURES = ("curves", "confusion", "roc")


@pytest.fixture(scope="module")
def runs(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A custom_cnn run and a resnet18 transfer run, 32 px, one epoch per phase."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    common = dict(image_size=32, epochs=1, head_epochs=1, batch_size=64, pretrained=False, progress=False, patience=0)
    common |= dict(force_frozen_random=True)  # resnet18 in two phases without ImageNet weights (offline)
    try:
        for name in ("custom_cnn", "resnet18"):
            train(TrainConfig(data=str(synthetic_root), out=str(root / name), model=name, **common))
    finally:
        torch.set_num_threads(before)
    return [root / "custom_cnn", root / "resnet18"]


@pytest.fixture(scope="module")
def report(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert cli(["report", *map(str, runs), "--out", str(out), "--batch", "2", "--warmup", "0", "--repeats", "1"]) == 0
    return out


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.src.append(dict(attrs)["src"])


def _img_sources(page: Path) -> list[str]:
    parser = _Images()
    parser.feed(page.read_text())
    return parser.src


def test_report_writes_every_file(report: Path, capsys: pytest.CaptureFixture) -> None:
    expected = {"report.md", "report.html", "numbers.json"}
    expected |= {f"tables/{t}.{fmt}" for t in TABLES for fmt in ("md", "tex", "csv", "json")}
    expected |= {
        f"figures/{r}/{f}.{fmt}" for r in ("custom_cnn", "resnet18") for f in RUN_FIGURES for fmt in ("png", "svg")
    }
    expected |= {f"figures/pareto_{c}.{fmt}" for c in ("macs", "params", "latency_ms") for fmt in ("png", "svg")}
    records = ("config.json", "history.csv", "metrics.json", "predictions.csv", "copied_from.json")
    expected |= {f"runs/{r}/{f}" for r in ("custom_cnn", "resnet18") for f in records}  # no checkpoints, no split
    written = {str(p.relative_to(report)) for p in report.rglob("*") if p.is_file()}
    assert written == expected  # and no temporary files left behind
    md = (report / "report.md").read_text()
    for heading in (
        "## Cost of each model",
        "## Table III",
        "## Table IV",
        "## Deviation of every metric from `custom_cnn`",
        "## Pareto fronts",
        "### resnet18 (resnet18)",
        "reported, not recomputed",
        "(Fig. 7)",
    ):
        assert heading in md
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report / src).is_file()


def test_report_numbers_come_from_flopcount_and_the_runs(report: Path, runs: list[Path]) -> None:
    numbers = json.loads((report / "numbers.json").read_text())
    cost = {r["run"]: r for r in numbers["cost"]}
    assert cost["custom_cnn"]["params"] == count("custom_cnn", image_size=32).params
    assert cost["resnet18"]["macs"] == count("resnet18", image_size=32).macs
    assert cost["resnet18"]["latency_ms"] > 0 and cost["resnet18"]["speed_device"].startswith("cpu")
    t3 = {r["model"]: r for r in numbers["table3"]}
    assert t3["Custom CNN Implementation"]["recomputed"] == 25_785_415
    assert t3["resnet18"]["status"] == "not in the paper"
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    acc = {r["run"]: r for r in numbers["accuracy"]}
    assert acc["custom_cnn"]["accuracy"] == metrics["accuracy"]
    t4 = pd.DataFrame(numbers["table4"])
    assert t4.loc[t4["quantity"] == "Custom CNN accuracy", "ours"].item() == pytest.approx(metrics["accuracy"] * 100)
    history = pd.read_csv(runs[1] / "history.csv")
    assert cost["resnet18"]["epoch_s"] == pytest.approx(history["train_seconds"].mean())  # validation not counted
    csv = pd.read_csv(report / "tables" / "cost.csv")
    assert csv["params"].tolist() == [r["params"] for r in numbers["cost"]]


def test_html_images_exist_and_decode(report: Path) -> None:
    """Without a browser: every <img> of report.html is a PNG next to it that decodes, with its SVG."""
    src = _img_sources(report / "report.html")
    assert len(src) == 3 * 2 + 3
    for s in src:
        path = report / s
        with Image.open(path) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 100
        assert "<svg" in path.with_suffix(".svg").read_text()[:2000]


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless check needs /usr/bin/chromium (apt-get install -y chromium); "
    "test_html_images_exist_and_decode checks the images without it",
)
def test_html_renders_with_images_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
        "--dump-dom",
        (report / "report.html").as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-images-total="9"' in body and 'data-images-loaded="9"' in body, body
    assert "Table IV: FLOP analysis" in dom


def test_no_speed_and_explicit_baseline(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert cli(["report", str(runs[1]), str(runs[0]), "--out", str(out), "--no-speed", "--baseline", "resnet18"]) == 0
    cost = pd.read_csv(out / "tables" / "cost.csv")
    assert "latency_ms" not in cost and not (out / "figures" / "pareto_latency_ms.png").exists()
    dev = pd.read_csv(out / "tables" / "deviation.csv")
    assert (dev.loc[dev["run"] == "resnet18", "abs_deviation"] == 0).all()


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / run.name
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("*.pt"))
    return dst


def test_missing_file_is_named(runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = _copy(runs[0], tmp_path)
    (bad / "metrics.json").unlink()
    assert cli(["report", str(bad), "--out", str(tmp_path / "o"), "--no-speed"]) == 2
    err = capsys.readouterr().err
    assert "missing metrics.json" in err and str(bad) in err and "Traceback" not in err


def test_incompatible_version_is_named(runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = _copy(runs[0], tmp_path)
    metrics = json.loads((bad / "metrics.json").read_text())
    metrics["schema_version"] = 99
    (bad / "metrics.json").write_text(json.dumps(metrics))
    assert cli(["report", str(bad), "--out", str(tmp_path / "o"), "--no-speed"]) == 2
    assert "schema_version 99" in capsys.readouterr().err
    metrics["schema_version"] = 1
    del metrics["roc"]
    (bad / "metrics.json").write_text(json.dumps(metrics))
    assert cli(["report", str(bad), "--out", str(tmp_path / "o"), "--no-speed"]) == 2
    assert "lacks roc" in capsys.readouterr().err
    pd.read_csv(bad / "history.csv").drop(columns="val_loss").to_csv(bad / "history.csv", index=False)
    metrics["roc"] = {}
    (bad / "metrics.json").write_text(json.dumps(metrics))
    assert cli(["report", str(bad), "--out", str(tmp_path / "o"), "--no-speed"]) == 2
    assert "lacks columns val_loss" in capsys.readouterr().err
