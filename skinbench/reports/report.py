"""``skinbench report``: one report (markdown + HTML + every number as CSV/JSON) from run folders.

Layout of the output folder::

    report.md, report.html        the report (the HTML shows the PNG figures inline)
    numbers.json                  every table below, as records
    tables/<name>.{md,tex,csv,json}   runs, cost, accuracy, table3, table4, deviation, pareto
    figures/<run>/{curves,confusion,roc}.{png,svg}   Figs. 4-7 of the paper, per run
    figures/pareto_{macs,params,latency_ms}.{png,svg}
    runs/<run>/                   each run's record files (RunDir.copy_records): the report's
                                  inputs without the checkpoints, so it can be made again from them

``tables/`` also holds ``external`` (runs on external labelled test sets) and
``deployed`` (exported models: size, onnxruntime speed, memory, accuracy) when a run
has them, ``seeds`` (mean and standard deviation over runs differing only in the
seed, with ``figures/pareto_seeds_*``; :mod:`skinbench.reports.aggregate`) when a model
was trained with several seeds, and ``table4_recipes`` (Table IV per recipe, mean and std
over seeds; :mod:`skinbench.reports.table4_recipes`) when a run is a custom_cnn or
ResNet50. A sweep folder stands for its finished runs. Costs of the runs are counted at
each run's own image size; Tables III and IV use the paper's 224 px and 7 classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from skinbench.atomic import write_json, write_text
from skinbench.cost import SpeedOptions, count, epoch_seconds, model_cost
from skinbench.reports import figures, pareto
from skinbench.reports.aggregate import has_seeds, plot_seed_fronts, recipe_of, seed_blocks, seed_summary, seed_table
from skinbench.reports.deployment import (
    accuracy_extras,
    deployed_blocks,
    deployed_table,
    external_blocks,
    external_table,
    pareto_points,
)
from skinbench.reports.formats import to_records, write_table
from skinbench.reports.paper import PAPER_IMAGE_SIZE, PAPER_NUM_CLASSES
from skinbench.reports.render import Block, Heading, Image, Table, Text, to_html_report, to_markdown_report
from skinbench.reports.runs import RunRecord, expand_sweeps, load_runs
from skinbench.reports.table4_recipes import TL_MODELS, table4_by_recipe, table4_recipe_blocks
from skinbench.reports.tables import deviation_table, table3, table4
from skinbench.rundir import RunDir

COST_COLUMNS = [
    "run",
    "model",
    "image_size",
    "params",
    "trainable",
    "macs",
    "flops",
    "macs_torchvision",
    "macs_paper",
    "latency_ms",
    "throughput",
    "batch",
    "peak_memory_mb",
    "speed_device",
    "epoch_s",
    "train_s",
    "train_device",
]
ACCURACY_COLUMNS = [
    "run",
    "model",
    "recipe",
    "seed",
    "image_size",
    "epochs",
    "n_test",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "auc_macro",
    "mel_recall",
    "mel_auroc",
    "mel_sens_spec80",
    "mel_sens_spec90",
    "baseline_accuracy",
    "note",
]


@dataclass
class ReportResult:
    """What :func:`build_report` wrote.

    Attributes:
        markdown: ``report.md``.
        html: ``report.html``.
        files: Every file written, relative to the output folder.
        frames: The report's tables by name.
    """

    markdown: Path
    html: Path
    files: list[str] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


#: model_cost rows by (model, image size, outputs, unfreeze_stages): runs of one model share one measurement.
CostCache = dict[tuple[str, int, int, int | None], dict[str, Any]]


def _unfrozen_stages(run: RunRecord) -> int | None:
    """Backbone stages trained in the run's last phase; None when that phase trained every layer.

    Read from what ran (``history.csv``'s phase), not from ``unfreeze_stages`` alone: a
    transfer model without pretrained weights trains end to end in one ``full`` phase and
    ignores that option.
    """
    if "phase" in run.history and len(run.history) and run.history["phase"].iloc[-1] == "full":
        return None
    return int(run.config.get("unfreeze_stages", 1))


def run_row(run: RunRecord, speed: SpeedOptions | None, cache: CostCache | None = None) -> dict[str, Any]:
    """One row of the runs table: the model's cost at the run's image size, training time, test scores."""
    cache = {} if cache is None else cache
    size = int(run.metrics["image_size"])
    unfreeze = _unfrozen_stages(run)
    key = (run.model, size, run.num_outputs, unfreeze)
    if key not in cache:
        cache[key] = model_cost(
            run.model, image_size=size, num_outputs=run.num_outputs, unfreeze_stages=unfreeze, speed=speed
        )
    cost = dict(cache[key])
    cost["speed_device"] = cost.pop("device", None)
    m = run.metrics
    row: dict[str, Any] = {"run": run.name, **cost, **epoch_seconds(run.history)}
    row.update(
        {
            "train_device": run.config.get("device", "?") + (" (config)" if run.config.get("device") == "auto" else ""),
            "recipe": recipe_of(run.config),
            "seed": run.config.get("seed"),
            "epochs": len(run.history),
            "n_test": m["n"],
            "accuracy": m["accuracy"],
            "balanced_accuracy": m["balanced_accuracy"],
            "f1_macro": m["f1"]["macro"],
            "auc_macro": m["auc_macro"],
            "baseline_accuracy": (m.get("baseline") or {}).get("accuracy"),
            **accuracy_extras(m),
        }
    )
    return row


def runs_frame(runs: list[RunRecord], speed: SpeedOptions | None) -> pd.DataFrame:
    """The one data frame behind the cost, accuracy, deviation and Pareto tables (a row per run)."""
    cache: CostCache = {}
    frame: pd.DataFrame = pd.DataFrame([run_row(r, speed, cache) for r in runs])
    for col in COST_COLUMNS + ACCURACY_COLUMNS:
        if col not in frame:
            frame[col] = None
    return frame


def _first(runs: list[RunRecord], *models: str) -> RunRecord | None:
    return next((r for r in runs if r.model in models), None)


def _describe(run: RunRecord) -> str:
    c = run.config
    pretrained = "" if run.model == "custom_cnn" else (", ImageNet weights" if c.get("pretrained") else ", random init")
    size, n = run.metrics["image_size"], run.metrics["n"]
    return f"run {run.name} ({size} px, {len(run.history)} epochs{pretrained}, n={n} test images)"


def build_report(
    run_dirs: list[str | Path],
    out: str | Path,
    *,
    speed: SpeedOptions | None = None,
    baseline: str | None = None,
    command: str = "",
    records: bool = True,
) -> ReportResult:
    """Write the full report of ``run_dirs`` into ``out``.

    Args:
        run_dirs: Run folders written by ``skinbench train``.
        out: Output folder (created; existing report files are replaced).
        speed: How to measure latency/throughput; None skips the measurement (and the
            latency Pareto front).
        baseline: Run name every metric is compared with in the deviation table
            (default: the first ``custom_cnn`` run, else the first run).
        command: The command line that made the report, quoted in it.
        records: Copy each run's record files to ``out/runs/<run label>/``
            (:meth:`~skinbench.rundir.RunDir.copy_records`): ``skinbench report out/runs``
            (or its sweep sub-folders) then regenerates the report without the run folders,
            every number but the timing of exported models, whose files are not copied.

    Returns:
        The written paths and tables.

    Raises:
        skinbench.errors.RunError: A run folder is missing files or is incompatible.
        skinbench.errors.UnknownBaselineError: ``baseline`` names no run (a ``KeyError``).
    """
    runs = load_runs(list(run_dirs))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    copied = [RunDir(r.path).copy_records(out / "runs" / r.name) for r in runs] if records else []
    frame = runs_frame(runs, speed)
    base = baseline or (_first(runs, "custom_cnn") or runs[0]).name

    paper_counts = {
        m: count(m, image_size=PAPER_IMAGE_SIZE, num_outputs=PAPER_NUM_CLASSES) for m in ("custom_cnn", "resnet50_tl")
    }
    cnn_run, tl_run = _first(runs, "custom_cnn"), _first(runs, *TL_MODELS)
    deployed = deployed_table(runs, frame, speed)
    points = pareto_points(frame, deployed)
    frames: dict[str, pd.DataFrame] = {
        "runs": frame,
        "cost": frame[
            [c for c in COST_COLUMNS if frame[c].notna().any() or c in ("run", "model")]
            + sorted(str(c) for c in frame.columns if str(c).endswith("_epoch_s") and c != "epoch_s")
        ],
        "accuracy": frame[ACCURACY_COLUMNS],
        "table3": table3([r.model for r in runs], counts=dict(paper_counts)),
        "table4": table4(
            cnn=paper_counts["custom_cnn"],
            tl=paper_counts["resnet50_tl"],
            acc_cnn=None if cnn_run is None else cnn_run.metrics["accuracy"] * 100,
            acc_tl=None if tl_run is None else tl_run.metrics["accuracy"] * 100,
            cnn_note=_describe(cnn_run) if cnn_run else "",
            tl_note=_describe(tl_run) if tl_run else "",
        ),
        "deviation": deviation_table(frame, base),
        "pareto": pareto.front_table(points.drop(columns=[] if speed else ["latency_ms"])),
    }
    recipes = table4_by_recipe(runs, frame, cnn=paper_counts["custom_cnn"], tl=paper_counts["resnet50_tl"])
    if not recipes.empty:
        frames["table4_recipes"] = recipes
    seeds = seed_table(runs, frame)  # runs differing only in the seed: mean and std
    if has_seeds(seeds):
        frames["seeds"], frames["seeds_summary"] = seeds, seed_summary(seeds)
    external = external_table(runs)
    if not external.empty:
        frames["external"] = external
    if not deployed.empty:
        frames["deployed"] = deployed
    files: list[str] = []
    for name, f in frames.items():
        files += [str(p.relative_to(out)) for p in write_table(f, out / "tables", name).values()]

    figs: dict[str, list[str]] = {}
    for run in runs:
        stem = out / "figures" / run.name
        written = (
            figures.plot_curves(run.history, stem / "curves", title=run.name)
            + figures.plot_confusion(run.metrics, stem / "confusion", title=run.name)
            + figures.plot_roc(run.metrics, stem / "roc", title=run.name)
        )
        figs[run.name] = [str(p.relative_to(out)) for p in written]
        files += figs[run.name]
    costs = [c for c in pareto.COSTS if c != "latency_ms" or speed is not None]
    for cost in costs:
        files += [str(p.relative_to(out)) for p in pareto.plot_fronts(points, cost, out / "figures" / f"pareto_{cost}")]
    if has_seeds(seeds):
        files += [str(p.relative_to(out)) for p in plot_seed_fronts(seeds, costs, out / "figures")]

    write_json(out / "numbers.json", {k: to_records(v) for k, v in frames.items()})
    left_out = [str(path) for path in expand_sweeps(list(run_dirs))[1]]  # a sweep's runs still training
    blocks = _blocks(runs, frames, costs, base, speed, command, left_out, records=bool(copied))
    files += [str(p.relative_to(out)) for c in copied for p in c.path.rglob("*") if p.is_file()]
    md, page = out / "report.md", out / "report.html"
    write_text(md, to_markdown_report(blocks))
    write_text(page, to_html_report(blocks, "skinbench report"))
    files += ["numbers.json", "report.md", "report.html"]
    return ReportResult(markdown=md, html=page, files=sorted(files), frames=frames)


def _blocks(
    runs: list[RunRecord],
    frames: dict[str, pd.DataFrame],
    costs: list[str],
    base: str,
    speed: SpeedOptions | None,
    command: str,
    left_out: list[str],
    *,
    records: bool = False,
) -> list[Block]:
    speed_line = (
        "Speed: not measured (`--no-speed`)."
        if speed is None
        else f"Speed: inference on random weights, {speed.warmup} warm-up calls then the median of "
        f"{speed.repeats}; latency at batch 1, throughput at batch {speed.batch}; peak memory on CUDA only."
    )
    b: list[Block] = [
        Heading("skinbench report", 1),
        Text("Runs: " + ", ".join(f"`{r.name}` ({r.model})" for r in runs) + "."),
    ]
    if left_out:
        b.append(Text("Left out, not finished yet (no `metrics.json`): " + ", ".join(f"`{p}`" for p in left_out) + "."))
    if command:
        b.append(Text(f"Made with `{command}`."))
    if records:
        b.append(
            Text(
                "`runs/<run>/` holds each run's record files (config, history, test metrics and predictions, "
                "export records; no checkpoints): `skinbench report` on them, a folder or its sweep sub-folders, "
                "makes this report again, every number but the timing of exported models."
            )
        )
    b += [
        Text(
            "Every number is also in `numbers.json` and in `tables/` as CSV, JSON, markdown and LaTeX; all "
            "formats of a table come from the same data frame. Parameters, MACs and FLOPs come from flopcount "
            "(exact counts on the meta device); MACs and FLOPs are in the `flopcount` convention unless labelled "
            "(`macs_torchvision`: conv/linear/matmul/attention only; `macs_paper`: eqs. 10-11, which the paper "
            'prints as "FLOPs").'
        ),
        Heading("Cost of each model"),
        Text(
            "At each run's own image size, batch 1. `trainable`: parameters trained in the last phase. "
            "`epoch_s`: mean training seconds per epoch from `history.csv`, `<phase>_epoch_s` per training "
            "phase (`train_device` is the run's configured device). " + speed_line
        ),
        Table(frames["cost"], files="tables/cost"),
        Heading("Test accuracy"),
        Table(
            frames["accuracy"],
            caption="scores are fractions; baseline_accuracy: always predicting the most frequent training class",
            files="tables/accuracy",
        ),
        Text(
            "`mel_recall`: recall of the melanoma class at the model's decision (its most probable class). "
            "`mel_auroc`, `mel_sens_*`: melanoma vs rest on the melanoma probability (dx task): AUROC, and "
            "sensitivity at 80% and 90% specificity read off the ROC curve (linear interpolation between ROC "
            "points). `note` flags a model that predicts one class for every test image."
        ),
        *external_blocks(frames),
        *deployed_blocks(frames, speed),
        Heading("Table III: total parameters"),
        Text(
            "Recomputed with flopcount at 224 px and 7 classes for the models skinbench builds; the other "
            'models keep the paper\'s value, marked "reported, not recomputed". Deviations are recomputed - reported.'
        ),
        Table(frames["table3"], files="tables/table3"),
        Heading("Table IV: FLOP analysis"),
        Text(
            "Costs at 224 px, 7 classes. `paper_recomputed`: the same quantity from the paper's own inputs; "
            "`flag`: the printed value disagrees with the arithmetic or with the model it describes. Cost "
            "increase = (C_TL - C_CNN) / C_CNN x 100."
        ),
        Table(frames["table4"], files="tables/table4"),
        *table4_recipe_blocks(frames.get("table4_recipes", pd.DataFrame())),
        Heading(f"Deviation of every metric from `{base}`"),
        Text(
            "Scores in %, so `abs_deviation` of a score is in percentage points; `rel_deviation_pct` = "
            "(value - baseline) / |baseline| x 100, left empty with a note when the baseline is 0."
        ),
        Table(frames["deviation"], files="tables/deviation"),
        Heading("Pareto fronts: accuracy vs cost"),
        Text(
            "A model is on a front when no other model is at most as costly and at least as accurate, and "
            "strictly better in one of the two (identical models are all kept). Cost axes are log-scaled."
        ),
        Table(frames["pareto"], files="tables/pareto"),
    ]
    for cost in costs:
        b.append(Image(f"figures/pareto_{cost}.png", f"Pareto fronts against {pareto.COSTS[cost]}"))
    b += seed_blocks(frames.get("seeds", pd.DataFrame()), costs)
    b.append(Heading("Figures of the paper, per run"))
    for run in runs:
        b += [
            Heading(f"{run.name} ({run.model})", 3),
            Image(f"figures/{run.name}/curves.png", f"{run.name}: accuracy and loss per epoch (Figs. 4-5)"),
            Image(f"figures/{run.name}/confusion.png", f"{run.name}: test confusion matrix (Fig. 6)"),
            Image(f"figures/{run.name}/roc.png", f"{run.name}: one-vs-rest ROC curves (Fig. 7)"),
        ]
    return b
