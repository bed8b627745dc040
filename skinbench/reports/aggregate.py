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
deviation as error bars. A member whose model predicts one class for every test image
is named in the group's ``note``, so a mean never hides a collapsed seed.

Groups are labelled ``<model>-<size>px``; groups of the same model and size that differ
in their ``recipe`` add it (``custom_cnn-64px-strong``), and any other field that tells
two groups of one recipe apart is added as ``-<field>=<value>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from skinbench.reports.render import Block, Heading, Image, Table, Text
from skinbench.reports.runs import RunRecord

__all__ = [
    "NOT_LABELLED",
    "NOT_RECIPE",
    "SCORES",
    "has_seeds",
    "plot_seed_fronts",
    "recipe_key",
    "recipe_of",
    "seed_blocks",
    "seed_groups",
    "seed_summary",
    "seed_table",
]

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
#: Fields never added to a group's label: in the base label already, or an alias of one that is
#: (``class_weights`` is whether ``class_balance`` is ``loss``).
NOT_LABELLED = frozenset({"model", "image_size", "class_weights"})
#: Columns summarised by mean and standard deviation.
SCORES = ("accuracy", "balanced_accuracy", "f1_macro", "auc_macro", "mel_recall", "mel_auroc")
#: Columns that are the same within a group (the model's cost), copied from its first run.
COSTS = ("params", "macs", "flops", "latency_ms", "throughput", "epoch_s")


def recipe_key(config: dict[str, Any]) -> str:
    """What must match for two runs to be seeds of one experiment (JSON of the recipe fields).

    Example:
        >>> recipe_key({"model": "m", "seed": 1, "lr": 0.1}) == recipe_key({"model": "m", "seed": 2, "lr": 0.1})
        True
    """
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in NOT_RECIPE}, sort_keys=True, default=str)


def recipe_of(config: dict[str, Any]) -> str:
    """The recipe a run was trained with; a ``config.json`` without one is ``legacy`` (written before recipes).

    Example:
        >>> recipe_of({"recipe": "paper"}), recipe_of({})
        ('paper', 'legacy')
    """
    return str(config.get("recipe") or "legacy")


def _labels(keys: list[str], configs: list[dict[str, Any]]) -> list[str]:
    """``model-<size>px``, plus the recipe and then the fields that tell groups of the same model and size apart."""
    base = [f"{c.get('model', '?')}-{c.get('image_size', '?')}px" for c in configs]
    labels = []
    for i, config in enumerate(configs):
        others = [configs[j] for j in range(len(configs)) if base[j] == base[i] and j != i]
        label = base[i]
        if any(recipe_of(o) != recipe_of(config) for o in others):
            label += f"-{recipe_of(config)}"  # the recipe's own defaults then need no listing
            others = [o for o in others if recipe_of(o) == recipe_of(config)]
        differ = sorted(k for k in json.loads(keys[i]) if any(o.get(k) != config.get(k) for o in others))
        shown = [k for k in differ if k not in NOT_LABELLED]
        labels.append(label + "".join(f"-{k}={config.get(k)}" for k in shown))
    return labels


def seed_groups(runs: Sequence[RunRecord]) -> list[list[int]]:
    """The indices of the runs of each group (runs whose :func:`recipe_key` agree), groups in order of first run.

    Example:
        >>> from pathlib import Path
        >>> def run(seed, lr):
        ...     return RunRecord(Path("r"), "r", {"model": "m", "seed": seed, "lr": lr}, pd.DataFrame(), {})
        >>> seed_groups([run(0, 0.1), run(0, 0.2), run(1, 0.1)])
        [[0, 2], [1]]
    """
    keys = [recipe_key(r.config) for r in runs]
    return [[i for i, k in enumerate(keys) if k == key] for key in dict.fromkeys(keys)]


def seed_table(runs: Sequence[RunRecord], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group of runs that differ only in their seed.

    Args:
        runs: The report's runs.
        frame: The report's runs table (:func:`skinbench.reports.report.runs_frame`), one
            row per run in the order of ``runs``, with a ``run`` column and the
            :data:`SCORES` and :data:`COSTS` columns it has.

    Returns:
        Columns ``group, model, recipe, image_size, n_seeds, seeds, runs``, then for every
        score ``<score>`` (the mean) and ``<score>_std``, then the costs, then ``note``
        (the members that predict one class for every test image); groups in order of first run.

    Example:
        >>> from pathlib import Path
        >>> def run(name, seed):
        ...     return RunRecord(Path(name), name, {"model": "m", "image_size": 8, "seed": seed}, pd.DataFrame(), {})
        >>> frame = pd.DataFrame({"run": ["a", "b", "c"], "accuracy": [0.5, 0.75, 1.0], "macs": [10, 10, 10]})
        >>> t = seed_table([run("a", 0), run("b", 1), run("c", 2)], frame)
        >>> t[["group", "n_seeds", "seeds", "accuracy", "accuracy_std", "macs"]].values.tolist()
        [['m-8px', 3, '0, 1, 2', 0.75, 0.25, 10]]
    """
    groups = seed_groups(runs)
    keys = [recipe_key(runs[g[0]].config) for g in groups]
    labels = _labels(keys, [runs[g[0]].config for g in groups])
    rows = []
    for label, members in zip(labels, groups):
        part = frame.iloc[members]
        config = runs[members[0]].config
        row: dict[str, Any] = {
            "group": label,
            "model": config.get("model"),
            "recipe": recipe_of(config),
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
        notes = part["note"].tolist() if "note" in part else []
        row["note"] = "; ".join(f"{runs[i].name}: {n}" for i, n in zip(members, notes) if isinstance(n, str) and n)
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


def _plus_minus(mean: float, std: float) -> str | None:
    """``mean ± std`` of a fraction, in % with 2 decimals; the mean alone without a spread, None without a mean."""
    if pd.isna(mean):
        return None
    return f"{mean * 100:.2f}" if pd.isna(std) else f"{mean * 100:.2f} ± {std * 100:.2f}"


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`seed_table` in short: every score as ``mean ± std`` in %, then the costs and the note.

    Example:
        >>> t = pd.DataFrame({"group": ["g", "h"], "n_seeds": [3, 1], "accuracy": [0.75, 0.5],
        ...                   "accuracy_std": [0.025, float("nan")], "macs": [10, 20], "note": ["", "x"]})
        >>> seed_summary(t).values.tolist()
        [['g', 3, '75.00 ± 2.50', 10, ''], ['h', 1, '50.00', 20, 'x']]
    """
    out: pd.DataFrame = table[["group", "n_seeds"]].copy()
    for score in (s for s in SCORES if s in table):
        out[f"{score} (%)"] = [_plus_minus(m, sd) for m, sd in zip(table[score], table[f"{score}_std"])]
    for column in (c for c in (*COSTS, "note") if c in table):
        out[column] = table[column]
    return out


def seed_blocks(table: pd.DataFrame, costs: Sequence[str]) -> list[Block]:
    """The report section of :func:`seed_table` (short and full table, figures); nothing when no group has two seeds.

    The short table (:func:`seed_summary`) is expected in ``tables/seeds_summary``, the full one in ``tables/seeds``.
    """
    if not has_seeds(table):
        return []
    blocks: list[Block] = [
        Heading("Mean and standard deviation over seeds"),
        Text(
            "Runs whose `config.json` differ only in the seed (and where and how they ran) form a group; the seed "
            "also draws the split. Each score is the group's mean ± the sample standard deviation over its seeds "
            "(n - 1; the mean alone for one seed), in %. `note` names every member that predicts one class for "
            "every test image. Costs are the group's model at its image size (latency: eager PyTorch, batch 1)."
        ),
        Table(seed_summary(table), files="tables/seeds_summary"),
        Text(
            "The same numbers as fractions, with the seeds and runs of every group (`<score>_std`: the sample "
            "standard deviation, empty for one seed). The Pareto figures below are drawn on the means, with +- one "
            "standard deviation as error bars."
        ),
        Table(table, files="tables/seeds"),
    ]
    for cost in costs:
        blocks.append(Image(f"figures/pareto_seeds_{cost}.png", f"Pareto fronts of the means over seeds, {cost}"))
    return blocks
