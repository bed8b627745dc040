"""Runs that differ only in their seed, summarised: mean and standard deviation per model and recipe.

A sweep trains each model several times with different seeds (``skinbench sweep``,
``seeds: [0, 1, 2]``). Two runs belong to the same group when their ``config.json``
agree on everything but :data:`NOT_RECIPE`: the seed, where the data and the run folder
are, how the run was executed (device, threads, workers, processes, mixed precision,
memory format), what training resolved from the data (the normalisation) and notes.
So model, image size, task, recipe, epochs, batch size, learning rates and every other
training choice must match. The seed also draws the split, so the spread covers both
the initialisation and the split.

Every score is summarised by its mean and its sample standard deviation (``ddof=1``,
the n - 1 estimator; undefined, NaN, for a single run); costs are the group's own (the
same model at the same size). The Pareto plots show the means with one standard
deviation as error bars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from skinbench.reports.render import Block, Heading, Image, Table, Text
from skinbench.reports.runs import RunRecord

__all__ = ["NOT_RECIPE", "SCORES", "has_seeds", "plot_seed_fronts", "recipe_key", "seed_blocks", "seed_table"]

#: ``config.json`` fields that do not make two runs different experiments.
NOT_RECIPE = frozenset(
    {
        "seed",
        "data",
        "out",
        "resume",
        "progress",
        "num_workers",
        "threads",
        "device",
        "cache_dir",
        "skip",
        "split_file",
        "mean",
        "std",
        "dist_backend",
        "world_size",
        "per_rank_batch_size",
        "amp",
        "channels_last",
        "notes",
    }
)
#: Columns summarised by mean and standard deviation.
SCORES = ("accuracy", "balanced_accuracy", "f1_macro", "auc_macro", "mel_auroc")
#: Columns that are the same within a group (the model's cost), copied from its first run.
COSTS = ("params", "macs", "flops", "latency_ms", "throughput", "epoch_s")


def recipe_key(config: dict[str, Any]) -> str:
    """What must match for two runs to be seeds of one experiment (JSON of the recipe fields).

    Example:
        >>> recipe_key({"model": "m", "seed": 1, "lr": 0.1}) == recipe_key({"model": "m", "seed": 2, "lr": 0.1})
        True
    """
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in NOT_RECIPE}, sort_keys=True, default=str)


def _labels(keys: list[str], configs: list[dict[str, Any]]) -> list[str]:
    """``model-<size>px``, plus the fields that tell groups of the same model and size apart."""
    base = [f"{c.get('model', '?')}-{c.get('image_size', '?')}px" for c in configs]
    labels = []
    for i, config in enumerate(configs):
        others = [configs[j] for j in range(len(configs)) if base[j] == base[i] and j != i]
        differ = sorted(k for k in json.loads(keys[i]) if any(o.get(k) != config.get(k) for o in others))
        labels.append(base[i] + "".join(f"-{k}={config.get(k)}" for k in differ if k not in ("model", "image_size")))
    return labels


def seed_table(runs: Sequence[RunRecord], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group of runs that differ only in their seed.

    Args:
        runs: The report's runs.
        frame: The report's runs table (:func:`skinbench.reports.report.runs_frame`), one
            row per run in the order of ``runs``, with a ``run`` column and the
            :data:`SCORES` and :data:`COSTS` columns it has.

    Returns:
        Columns ``group, model, image_size, n_seeds, seeds, runs``, then for every score
        ``<score>`` (the mean) and ``<score>_std``, then the costs; groups in order of first run.

    Example:
        >>> from pathlib import Path
        >>> def run(name, seed):
        ...     return RunRecord(Path(name), name, {"model": "m", "image_size": 8, "seed": seed}, pd.DataFrame(), {})
        >>> frame = pd.DataFrame({"run": ["a", "b", "c"], "accuracy": [0.5, 0.75, 1.0], "macs": [10, 10, 10]})
        >>> t = seed_table([run("a", 0), run("b", 1), run("c", 2)], frame)
        >>> t[["group", "n_seeds", "seeds", "accuracy", "accuracy_std", "macs"]].values.tolist()
        [['m-8px', 3, '0, 1, 2', 0.75, 0.25, 10]]
    """
    keys = [recipe_key(r.config) for r in runs]
    order = list(dict.fromkeys(keys))
    firsts = [runs[keys.index(k)].config for k in order]
    labels = dict(zip(order, _labels(order, firsts)))
    rows = []
    for key in order:
        members = [i for i, k in enumerate(keys) if k == key]
        part = frame.iloc[members]
        config = runs[members[0]].config
        row: dict[str, Any] = {
            "group": labels[key],
            "model": config.get("model"),
            "image_size": config.get("image_size"),
            "n_seeds": len(members),
            "seeds": ", ".join(str(runs[i].config.get("seed")) for i in members),
            "runs": ", ".join(runs[i].name for i in members),
        }
        for score in (s for s in SCORES if s in frame):
            values = pd.to_numeric(part[score], errors="coerce")
            row[score] = float(values.mean())
            row[f"{score}_std"] = float(values.std(ddof=1))
        for cost in (c for c in COSTS if c in frame):
            row[cost] = part[cost].iloc[0]
        rows.append(row)
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def has_seeds(table: pd.DataFrame) -> bool:
    """Whether a group of :func:`seed_table` has more than one seed (the report then shows the section)."""
    return bool(len(table)) and bool((table["n_seeds"] > 1).any())


def plot_seed_fronts(table: pd.DataFrame, costs: Sequence[str], figures: Path) -> list[Path]:
    """The Pareto figures of the group means, error bars +- one standard deviation: ``figures/pareto_seeds_<cost>``."""
    from skinbench.reports.pareto import plot_fronts

    written: list[Path] = []
    for cost in costs:
        written += plot_fronts(table, cost, figures / f"pareto_seeds_{cost}", label="group")
    return written


def seed_blocks(table: pd.DataFrame, costs: Sequence[str]) -> list[Block]:
    """The report section of :func:`seed_table` (table and figures); nothing when every group has one seed."""
    if not has_seeds(table):
        return []
    blocks: list[Block] = [
        Heading("Mean and standard deviation over seeds"),
        Text(
            "Runs whose `config.json` differ only in the seed (and where and how they ran) form a group; the seed "
            "also draws the split. Each score is the group's mean; `<score>_std` is the sample standard deviation "
            "(n - 1; empty for one seed). The Pareto figures below are drawn on the means, with +- one standard "
            "deviation as error bars."
        ),
        Table(table, files="tables/seeds"),
    ]
    for cost in costs:
        blocks.append(Image(f"figures/pareto_seeds_{cost}.png", f"Pareto fronts of the means over seeds, {cost}"))
    return blocks
