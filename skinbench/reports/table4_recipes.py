"""Table IV per training recipe: our accuracies over seeds beside the paper's printed values.

The paper's Table IV gives one accuracy per model (custom CNN 87.05%, ResNet50 + TL
89.08%) and their "performance deviation". A study trains both models under several
recipes (``paper``: what the paper states; ``strong``: a modern recipe) with several
seeds. :func:`table4_by_recipe` gives, for every recipe and image size that has a
``custom_cnn`` or ResNet50 (``resnet50`` or its alias ``resnet50_tl``) seed group
(:func:`skinbench.reports.aggregate.seed_groups`), the accuracies as mean and sample
standard deviation over seeds, and the difference between the two models. Seeds also
draw the split, so seed ``s`` of both models saw the same test images: the difference
rows are the mean and standard deviation of the per-seed differences over the seeds both
models have (the difference of the means, without a spread, when they share none).
The costs do not depend on the recipe; they are counted once, at the paper's 224 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from skinbench.reports.aggregate import NOT_LABELLED, NOT_RECIPE, recipe_of, seed_groups
from skinbench.reports.deviation import point_difference, relative_change
from skinbench.reports.paper import PAPER, PAPER_IMAGE_SIZE
from skinbench.reports.render import Block, Heading, Table, Text
from skinbench.reports.runs import RunRecord

if TYPE_CHECKING:
    from skinbench.cost import Counts

__all__ = ["COLUMNS", "TL_MODELS", "table4_by_recipe", "table4_recipe_blocks"]

#: Our models that are the paper's "TL (ResNet50)" (``resnet50_tl`` is an alias of ``resnet50``).
TL_MODELS = ("resnet50_tl", "resnet50")
#: Recipes first in this order, then any other in order of appearance.
RECIPE_ORDER = ("paper", "strong", "legacy")
COLUMNS = [
    "recipe",
    "image_size",
    "quantity",
    "unit",
    "paper_printed",
    "paper_recomputed",
    "ours",
    "ours_std",
    "n_seeds",
    "flag",
    "explanation",
]


def _arm(runs: Sequence[RunRecord], frame: pd.DataFrame, members: list[int]) -> dict[str, Any]:
    """One model's seed group in one setting: accuracies in % by seed, and a description."""
    config = runs[members[0]].config
    acc = {runs[i].config.get("seed"): float(frame["accuracy"].iloc[i]) * 100 for i in members}
    notes = [f"{runs[i].name} {frame['note'].iloc[i]}" for i in members if frame["note"].iloc[i]]
    init = (
        ""
        if config.get("model") == "custom_cnn"
        else (
            ", ImageNet weights"
            if config.get("pretrained")
            else ", random init (no ImageNet weights: not transfer learning)"
        )
    )
    text = (
        f"Ours: mean over {len(members)} seed(s) ({', '.join(map(str, acc))}), {config.get('image_size')} px, "
        f"{config.get('epochs')} epochs{init}; runs {', '.join(runs[i].name for i in members)}."
    )
    if notes:
        text += " Collapsed: " + "; ".join(notes) + "."
    return {"acc": acc, "text": text, "collapsed": bool(notes)}


def _spread(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN for fewer than two) and count."""
    s = pd.Series(values, dtype=float)
    return (float(s.mean()) if len(s) else math.nan, float(s.std(ddof=1)), len(s))


def _settings(runs: Sequence[RunRecord]) -> dict[tuple[str, Any, str], dict[str, list[int]]]:
    """``{(recipe, image size, variant): {"cnn": members, "tl": members}}`` of the dx-task groups.

    Groups of one recipe and size that differ in other fields (a longer schedule, another
    class balance) are separate settings, named by those fields (``variant``,
    ``"class_balance=sqrt, epochs=40"``; empty when there is one kind); the custom CNN and
    ResNet50 arms of a setting agree on them. Within a setting, the largest group per model.
    """
    groups = []
    for members in seed_groups(runs):
        config = runs[members[0]].config
        model = config.get("model")
        kind = "cnn" if model == "custom_cnn" else "tl" if model in TL_MODELS else None
        if kind is not None and runs[members[0]].metrics.get("task", config.get("task")) == "dx":
            groups.append((kind, (recipe_of(config), config.get("image_size")), config, members))
    differ: dict[tuple[str, Any], set[str]] = {}
    for kind, setting, config, _ in groups:
        for other_kind, other_setting, other, _ in groups:
            if other_kind == kind and other_setting == setting:
                fields = (set(config) | set(other)) - NOT_RECIPE - NOT_LABELLED
                differ.setdefault(setting, set()).update(k for k in fields if config.get(k) != other.get(k))
    found: dict[tuple[str, Any, str], dict[str, list[int]]] = {}
    for kind, setting, config, members in groups:
        variant = ", ".join(f"{k}={config.get(k)}" for k in sorted(differ[setting]))
        arms = found.setdefault((*setting, variant), {})
        if len(members) > len(arms.get(kind, [])):
            arms[kind] = members
    rank = {r: i for i, r in enumerate(RECIPE_ORDER)}
    order = sorted(found, key=lambda k: (rank.get(k[0], len(rank)), list(found).index(k)))
    return {k: found[k] for k in order}


def _accuracy_rows(
    recipe: str, size: Any, cnn: dict[str, Any] | None, tl: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The four accuracy rows of one setting."""
    P = PAPER
    rows: list[dict[str, Any]] = []
    for name, arm, paper in (("Custom CNN", cnn, P["acc_cnn"]), ("ResNet50 + TL", tl, P["acc_resnet"])):
        mean, std, n = _spread(list(arm["acc"].values())) if arm else (math.nan, math.nan, 0)
        far = not math.isnan(mean) and abs(mean - paper) > 1
        text = "Test accuracy. " + (arm["text"] if arm else "Ours: no run of this recipe.")
        rows.append(dict(quantity=f"{name} accuracy", unit="%", paper_printed=paper, paper_recomputed=math.nan))
        rows[-1].update(
            ours=mean, ours_std=std, n_seeds=n, flag=far or bool(arm and arm["collapsed"]), explanation=text
        )
    common = [s for s in (cnn or {}).get("acc", {}) if s in (tl or {}).get("acc", {})]
    if cnn and tl and common:
        pairs = [(tl["acc"][s], cnn["acc"][s]) for s in common]
        pp = _spread([point_difference(a, b) for a, b in pairs])
        rel = _spread([relative_change(a, b, on_zero="nan") for a, b in pairs])
        how = f"Mean and std over the {len(common)} seed(s) both models have ({', '.join(map(str, common))})."
    else:
        m_tl, m_cnn = (rows[1]["ours"], rows[0]["ours"])
        pp = (point_difference(m_tl, m_cnn), math.nan, 0)
        rel = (relative_change(m_tl, m_cnn, on_zero="nan"), math.nan, 0)
        how = "No seed in common: the difference of the means, no spread." if cnn and tl else "Needs both models."
    paper_pp = point_difference(P["acc_resnet"], P["acc_cnn"])
    paper_rel = relative_change(P["acc_resnet"], P["acc_cnn"])
    for quantity, unit, (mean, std, n), recomputed, text in (
        ("Accuracy difference TL - CNN", "percentage points", pp, paper_pp, 'Printed as "+0.022%". '),
        ("Accuracy difference TL vs CNN", "% relative ((A_TL - A_CNN) / A_CNN x 100)", rel, paper_rel, ""),
    ):
        rows.append(dict(quantity=quantity, unit=unit, paper_printed=P["acc_gap_pct"], paper_recomputed=recomputed))
        rows[-1].update(ours=mean, ours_std=std, n_seeds=n, flag=True, explanation=text + how)
    return [{"recipe": recipe, "image_size": size, **r} for r in rows]


def _cost_rows(cnn: Counts, tl: Counts) -> list[dict[str, Any]]:
    """The recipe-independent cost rows, at the paper's 224 px (flopcount's counts)."""
    P, macs = PAPER, "MACs (paper convention)"
    same = " Counted with flopcount at 224 px, 7 classes; the same for every recipe."
    rows = [
        (
            "Custom CNN cost",
            macs,
            P["cnn_flops"],
            math.nan,
            cnn.macs_paper,
            'The paper\'s "FLOPs" are MACs (eqs. 10-11).',
        ),
        ("ResNet50 + TL cost", macs, P["resnet_flops"], math.nan, tl.macs_paper, "ResNet50, 2048-256-7 head."),
        (
            "Cost increase of TL over CNN",
            "% ((C_TL - C_CNN) / C_CNN x 100, MACs)",
            P["flops_increase_pct"],
            relative_change(P["resnet_flops"], P["cnn_flops"]),
            relative_change(tl.macs_paper, cnn.macs_paper),
            "The paper's own 4.00 B and 30.04 M give the recomputed value.",
        ),
    ]
    return [
        {"recipe": "any", "image_size": PAPER_IMAGE_SIZE, "quantity": quantity, "unit": unit}
        | {"paper_printed": printed, "paper_recomputed": recomputed, "ours": float(ours), "ours_std": math.nan}
        | {"n_seeds": None, "flag": True, "explanation": text + same}
        for quantity, unit, printed, recomputed, ours, text in rows
    ]


def table4_by_recipe(runs: Sequence[RunRecord], frame: pd.DataFrame, *, cnn: Counts, tl: Counts) -> pd.DataFrame:
    """Table IV with our accuracies per recipe and image size: mean and std over seeds, the paper's values beside.

    Args:
        runs: The report's runs.
        frame: The report's runs table, one row per run in the order of ``runs``, with
            ``accuracy`` (a fraction) and ``note`` (a collapsed model) columns.
        cnn: :class:`skinbench.cost.Counts` of ``custom_cnn`` at 224 px, 7 classes.
        tl: Counts of ``resnet50_tl`` at 224 px, 7 classes.

    Returns:
        Columns :data:`COLUMNS`: the cost rows (``recipe`` ``any``), then per setting
        (recipe ``paper`` first, then ``strong``; a recipe run with other fields changed too
        is its own setting, ``strong (class_balance=sqrt, epochs=40)``) the accuracy of each model in % (``ours``
        the mean, ``ours_std`` the sample std, ``n_seeds``) and the difference between
        them; empty (no rows) when no run is a ``custom_cnn`` or ResNet50 on the dx task.
        ``flag`` marks a printed value that disagrees with the arithmetic or with ours
        (more than 1 point), or a group with a seed that predicts one class for every image.
    """
    settings = _settings(runs)
    rows = _cost_rows(cnn, tl) if settings else []
    for (recipe, size, variant), arms in settings.items():
        cnn_arm = _arm(runs, frame, arms["cnn"]) if "cnn" in arms else None
        tl_arm = _arm(runs, frame, arms["tl"]) if "tl" in arms else None
        rows += _accuracy_rows(f"{recipe} ({variant})" if variant else recipe, size, cnn_arm, tl_arm)
    table: pd.DataFrame = pd.DataFrame(rows, columns=COLUMNS).astype({"n_seeds": "Int64"})
    return table


def table4_recipe_blocks(table: pd.DataFrame) -> list[Block]:
    """The report section of :func:`table4_by_recipe`; nothing when the table is empty."""
    if table.empty:
        return []
    return [
        Heading("Table IV per recipe: accuracy over seeds"),
        Text(
            "The paper's Table IV with our accuracies for each training recipe and image size (`paper`: the recipe "
            "the paper states; `strong`: ours). `ours` is the mean over seeds, `ours_std` the sample standard "
            "deviation (n - 1; empty for one seed), `n_seeds` how many runs (for a difference: how many seeds both "
            "models have; each seed draws its own split, which both models share). `paper_printed` is the paper's "
            "value, `paper_recomputed` the same quantity from the paper's own inputs. The costs do not depend on "
            "the recipe and are counted once, at 224 px."
        ),
        Table(table, files="tables/table4_recipes"),
    ]
