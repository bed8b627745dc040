"""Golden files of ``skinbench report``: the whole report.md, and the HTML report's skeleton.

The inputs are fixed: the run folder the previous code wrote (``data/legacy_run``, the
custom_cnn baseline) and a resnet18 run whose config.json, history.csv and metrics.json
this module writes from constants and a seeded generator; no speed is measured, so the
report holds no timing of this machine. The HTML is compared as a skeleton (tags,
headings, table columns and row counts, figure sources, links), not byte for byte.

Run ``pytest --update-golden`` to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinbench.config import TrainConfig
from skinbench.data import CLASSES
from skinbench.evaluate import SCHEMA_VERSION, compute_metrics
from skinbench.reports.report import build_report

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
LEGACY_RUN = HERE / "data" / "legacy_run"


def _check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run pytest --update-golden"
    assert text == path.read_text(), f"{name} changed: if intended, run pytest --update-golden"


def _write_resnet18_run(run: Path) -> None:
    """A finished resnet18 transfer run (16 px, dx task): fixed history, metrics from seeded probabilities."""
    run.mkdir(parents=True)
    config = TrainConfig(
        data="/data/ham10000",
        out=f"runs/{run.name}",
        model="resnet18",
        image_size=16,
        epochs=2,
        head_epochs=1,
        pretrained=False,
        device="cpu",
        mean=[0.76, 0.58, 0.49],
        std=[0.13, 0.13, 0.13],
    )
    (run / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "phase": ["head", "finetune", "finetune"],
            "train_loss": [1.9, 1.5, 1.25],
            "train_acc": [0.3, 0.45, 0.55],
            "val_loss": [1.8, 1.6, 1.4],
            "val_acc": [0.35, 0.5, 0.6],
            "val_balanced_acc": [0.2, 0.3, 0.375],
            "lr": [1e-3, 1e-4, 1e-4],
            "seconds": [1.5, 2.0, 2.5],
        }
    )
    history.to_csv(run / "history.csv", index=False)
    rng = np.random.default_rng(7)
    y = rng.integers(0, len(CLASSES), 56)
    probs = rng.dirichlet(np.ones(len(CLASSES)), len(y))
    probs[np.arange(len(y)), y] += rng.uniform(0.0, 0.6, len(y))  # better than chance, not perfect
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "run": run.name,
        "model": "resnet18",
        "task": "dx",
        "image_size": 16,
        "checkpoint": "best.pt",
        "epoch": 3,
        "split": "test",
        **compute_metrics(y, probs, CLASSES, baseline_label=5),
        "params": 11_309_639,
        "timings": {"train_seconds": 6.0, "features_train_seconds": 0.5, "features_val_seconds": 0.25},
    }
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    shutil.copytree(LEGACY_RUN, root / "legacy_run")
    _write_resnet18_run(root / "resnet18_16")
    out = root / "report"
    build_report([root / "legacy_run", root / "resnet18_16"], out, speed=None, command="skinbench report (golden)")
    return out


class _Skeleton(HTMLParser):
    """The structure of a page: one line per element, indented by depth; tables summarised."""

    TEXT = ("title", "h1", "h2", "h3", "h4", "caption", "figcaption")
    ATTRS = ("lang", "charset", "class", "src", "alt", "href")
    VOID = ("meta", "img", "br", "hr", "link")
    TABLE_PARTS = ("thead", "tbody", "tr", "th", "td")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.depth = 0
        self.skip = 0  # inside <style>/<script>: content is not structure
        self.text: list[str] | None = None
        self.text_line = 0  # the line of the element whose text is being collected
        self.columns: list[str] = []
        self.rows = 0
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self.skip += 1
        if tag == "th" or tag in self.TEXT:
            self.text = []
        if tag == "tbody":
            self.in_body = True
        if tag == "tr" and self.in_body:
            self.rows += 1
        if tag in self.TABLE_PARTS:
            return
        if tag in self.TEXT:
            self.text_line = len(self.lines)
        shown = " ".join(f'{k}="{v}"' for k, v in attrs if k in self.ATTRS)
        self.lines.append("  " * self.depth + tag + (f" {shown}" if shown else ""))
        if tag not in self.VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        if tag == "th" and self.text is not None:
            self.columns.append("".join(self.text).strip())
            self.text = None
        if tag == "tbody":
            self.in_body = False
        if tag in self.TABLE_PARTS:
            return
        if tag in self.TEXT and self.text is not None:
            self.lines[self.text_line] += ": " + " ".join("".join(self.text).split())
            self.text = None
        if tag == "table":
            self.lines.append("  " * self.depth + f"columns: {' | '.join(self.columns)}; rows: {self.rows}")
            self.columns, self.rows = [], 0
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.text is not None and not self.skip:
            self.text.append(data)


def html_skeleton(page: str) -> str:
    """The skeleton of an HTML page (see :class:`_Skeleton`)."""
    parser = _Skeleton()
    parser.feed(page)
    parser.close()
    return "\n".join(parser.lines) + "\n"


def test_skeleton_of_a_small_page() -> None:
    page = (
        '<html lang="en"><head><style>p {}</style></head><body><h2>A <code>b</code></h2>'
        '<div class="table"><table><thead><tr><th class="text">x</th><th class="num">y</th></tr></thead>'
        "<tbody><tr><td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></tbody></table></div>"
        '<figure><img src="f.png" alt="F"><figcaption>F (<a href="f.svg">SVG</a>)</figcaption></figure></body></html>'
    )
    assert html_skeleton(page).splitlines() == [
        'html lang="en"',
        "  head",
        "    style",
        "  body",
        "    h2: A b",
        "      code",
        '    div class="table"',
        "      table",
        "        columns: x | y; rows: 2",
        "    figure",
        '      img src="f.png" alt="F"',
        "      figcaption: F (SVG)",
        '        a href="f.svg"',
    ]


def test_report_markdown_golden(report: Path, update_golden: bool) -> None:
    _check_golden("report.md", (report / "report.md").read_text(), update_golden)


def test_report_html_skeleton_golden(report: Path, update_golden: bool) -> None:
    _check_golden("report_html_skeleton.txt", html_skeleton((report / "report.html").read_text()), update_golden)


def test_report_html_and_markdown_list_the_same_figures(report: Path) -> None:
    skeleton = html_skeleton((report / "report.html").read_text())
    markdown = (report / "report.md").read_text()
    images = [line.split('src="')[1].split('"')[0] for line in skeleton.splitlines() if "img src=" in line]
    assert images and all(f"]({src})" in markdown and (report / src).is_file() for src in images)
