"""``skinbench sweep CONFIG``: many training runs (models x image sizes x seeds x ...) from one YAML file.

CONFIG is a YAML mapping::

    data: data/ham10000          # the dataset folder (required)
    out: runs/sweep              # the sweep folder: one run folder per run inside (required)
    models: [custom_cnn, resnet18]
    seeds: [0, 1, 2]             # default: [0]
    image_sizes: [64, 128]       # optional (default: skinbench train's)
    epochs: 20                   # any skinbench train option, dashes as underscores:
    batch_size: 64               #   one value for every run,
    lr: [0.001, 0.0003]          #   or a list of values to sweep over
    pretrained: false            # a flag by its setting (or no_pretrained: true)

Relative paths (``data``, ``out``, ``cache_dir``, ``split_file``) are relative to the
folder of CONFIG. ``model``, ``seed`` and ``image_size`` may be given instead of the plural keys. Every
run is one combination of the listed values, in a fixed order (models, image sizes,
seeds, then the other lists in file order), in ``out/<model>-<size>px-seed<seed>`` (plus
``-<key><value>`` for each other swept option). An unknown key is an error naming it.

Each run is its own job: a ``python -m skinbench train`` subprocess (or ``torchrun
--nproc-per-node N -m skinbench train`` with ``--nproc-per-node``), logged to
``out/logs/<run>.log``, so a crash ends that run only. A run's state decides its job:
``done`` (``metrics.json``: skipped), ``partial`` (``last.pt`` without metrics:
resumed with ``--resume``), ``new`` (trained). Rerunning an interrupted sweep therefore
completes the missing runs only. ``--index I`` runs run I alone, which is what each
task of a SLURM job array does (``--print-slurm`` writes the ``sbatch`` script).
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinbench.atomic import write_text
from skinbench.errors import ConfigError

__all__ = ["SweepRun", "SweepSpec", "add_sweep_command", "load_sweep", "run_state", "run_sweep", "slurm_script"]

#: Keys naming the sweep's axes, plural and singular.
_AXES = {"models": "model", "image_sizes": "image_size", "seeds": "seed"}
#: Train options the sweep sets itself.
_MANAGED = {"out", "resume", "help"}
#: Options holding paths: relative ones are relative to the sweep file's folder.
_PATHS = ("data", "out", "cache_dir", "split_file")
_OUT = argparse.Action(["--out"], "out")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep.

    Attributes:
        name: Its folder name inside the sweep folder.
        path: The run folder.
        options: ``skinbench train`` arguments, without ``--out`` and ``--resume``.
    """

    name: str
    path: Path
    options: tuple[str, ...]


@dataclass
class SweepSpec:
    """A sweep file, read and checked.

    Attributes:
        source: The YAML file.
        out: The sweep folder.
        runs: Every run, in the fixed order (``--index`` counts in it).
    """

    source: Path
    out: Path
    runs: list[SweepRun] = field(default_factory=list)


def _train_actions() -> dict[str, argparse.Action]:
    """``skinbench train``'s options by destination and by option name (dashes as underscores)."""
    from skinbench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions: dict[str, argparse.Action] = {}
    for action in sub.choices["train"]._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                actions[option[2:].replace("-", "_")] = action
        actions.setdefault(action.dest, action)
    return {k: v for k, v in actions.items() if k not in _MANAGED and v.dest not in _MANAGED}


def _arguments(key: str, value: Any, action: argparse.Action) -> list[str]:
    """The command-line arguments setting option ``key`` (a YAML key) to ``value``."""
    option = action.option_strings[0]
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        wanted = value if key != action.dest else value == action.const
        return [option] if wanted else []
    if isinstance(action, argparse._AppendAction):
        return [a for v in (value if isinstance(value, list) else [value]) for a in (option, str(v))]
    values = value if isinstance(value, list) else [value]
    return [option, *map(str, values)]


def _path(value: Any, source: Path) -> Any:
    if isinstance(value, list):
        return [_path(v, source) for v in value]
    return value if value is None or Path(str(value)).is_absolute() else str(source.parent / str(value))


def _label(value: Any) -> str:
    text = "_".join(map(str, value)) if isinstance(value, list) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep file and expand it into its runs.

    Raises:
        ConfigError: Not a YAML mapping, ``data``/``out``/``models`` missing, an unknown
            key (named), a key given both singular and plural, or an empty list.
    """
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is installed with skinbench
        raise ConfigError("skinbench sweep reads YAML: pip install pyyaml") from None

    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a YAML mapping (data:, out:, models:, ...)")
    actions = _train_actions()
    spec: dict[str, Any] = {}
    for key, value in raw.items():
        name = _AXES.get(str(key), str(key))
        if name in spec:
            raise ConfigError(f"{source}: give {name} or {name}s, not both")
        if name not in actions and name not in ("data", "out"):
            close = difflib.get_close_matches(str(key), [*actions, *_AXES, "out"], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{source}: unknown key {key!r}{hint}; keys are skinbench train options")
        spec[name] = _path(value, source) if actions.get(name, _OUT).dest in _PATHS else value
    for required in ("data", "out", "model"):
        if spec.get(required) in (None, "", []):
            raise ConfigError(f"{source}: {required if required != 'model' else 'models'} is required")
    spec.setdefault("seed", 0)
    out = Path(str(spec.pop("out")))
    runs = _expand(spec, actions, source, out)
    for run in runs:
        _check(run, source)
    return SweepSpec(source=source, out=out, runs=runs)


def _check(run: SweepRun, source: Path) -> None:
    """Parse and validate the run's ``skinbench train`` options now, not when its job starts."""
    import contextlib
    import io

    from skinbench.cli import build_parser
    from skinbench.cli_train import train_config

    message = io.StringIO()
    try:
        with contextlib.redirect_stderr(message):
            args = build_parser().parse_args(["train", *run.options, "--out", str(run.path)])
    except SystemExit:
        reason = message.getvalue().strip().splitlines()[-1:] or ["bad options"]
        raise ConfigError(f"{source}: run {run.name}: {reason[0]}") from None
    try:
        train_config(args).validate()
    except ConfigError as exc:
        raise ConfigError(f"{source}: run {run.name}: {exc}") from None


def _expand(spec: dict[str, Any], actions: dict[str, argparse.Action], source: Path, out: Path) -> list[SweepRun]:
    """Every combination of the listed values, as runs in ``out``."""
    order = ["model", "image_size", "seed"] + [k for k in spec if k not in ("model", "image_size", "seed")]
    axes: dict[str, list[Any]] = {}
    for key in (k for k in order if k in spec):
        value, action = spec[key], actions.get(key)
        listed = isinstance(value, list) and not isinstance(action, argparse._AppendAction)
        if listed and action is not None and action.nargs not in (None, "?", 0):  # an option taking several values
            listed = bool(value) and all(isinstance(v, list) for v in value)
        if listed and not value:
            raise ConfigError(f"{source}: {key} is an empty list")
        axes[key] = value if listed else [value]
    runs = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo))
        size = chosen.get("image_size", _default_image_size())
        name = f"{chosen['model']}-{size}px-seed{chosen['seed']}" + "".join(
            f"-{k}{_label(v)}"
            for k, v in chosen.items()
            if len(axes[k]) > 1 and k not in ("model", "image_size", "seed")
        )
        options = [a for k, v in chosen.items() for a in _arguments(k, v, actions[k])]
        runs.append(SweepRun(name=name, path=out / name, options=tuple(options)))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: two runs would share a folder name ({names})")
    return runs


def _default_image_size() -> int:
    from skinbench.config import TrainConfig

    return TrainConfig(data="", out="").image_size


def run_state(path: str | Path) -> str:
    """``done`` (metrics.json), ``partial`` (last.pt, no metrics) or ``new``.

    Example:
        >>> run_state("/nonexistent/run")
        'new'
    """
    path = Path(path)
    if (path / "metrics.json").is_file():
        return "done"
    return "partial" if (path / "last.pt").is_file() else "new"


def _command(spec: SweepSpec, run: SweepRun, nproc: int) -> list[str]:
    launcher = [sys.executable, "-m", "skinbench"]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        launcher += ["-m", "skinbench"]
    resume = ["--resume"] if run_state(spec.out / run.name) == "partial" else []
    return [*launcher, "train", *run.options, "--out", str(spec.out / run.name), *resume]


def run_sweep(
    spec: SweepSpec, *, nproc: int = 1, index: int | None = None, dry_run: bool = False, echo: bool = True
) -> dict[str, str]:
    """Train every run of ``spec`` that is not done, one job after the other.

    Args:
        spec: The sweep (:func:`load_sweep`).
        nproc: Processes per run; above 1 each job is ``torchrun --nproc-per-node nproc``.
        index: Run only run ``index`` (0-based, the order of ``spec.runs``).
        dry_run: List the runs, their state and command; train nothing.
        echo: Print one line per run.

    Returns:
        ``{run name: outcome}``: its state for a dry run, else ``done``, ``skipped`` or
        ``failed (exit N)``.

    Raises:
        ConfigError: ``index`` out of range.
    """
    runs = list(enumerate(spec.runs))
    if index is not None:
        if not 0 <= index < len(runs):
            raise ConfigError(f"--index {index} is out of range: the sweep has {len(runs)} runs (0..{len(runs) - 1})")
        runs = [runs[index]]
    outcome: dict[str, str] = {}
    for i, run in runs:
        state = run_state(spec.out / run.name)
        command = _command(spec, run, nproc)
        line = f"[{i + 1}/{len(spec.runs)}] {run.name}: {state}"
        if dry_run or state == "done":
            outcome[run.name] = state if dry_run else "skipped"
            if echo:
                print(line + (f"  {shlex.join(command)}" if dry_run and state != "done" else ""), flush=True)
            continue
        if echo:
            print(line + (", resuming" if state == "partial" else ", training") + " ...", flush=True)
        outcome[run.name] = _run_job(spec, run, command)
        if echo:
            print(f"    {run.name}: {outcome[run.name]}", flush=True)
    return outcome


def _run_job(spec: SweepSpec, run: SweepRun, command: list[str]) -> str:
    """Run one job with its output appended to ``out/logs/<run>.log``; return its outcome."""
    log = spec.out / "logs" / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        fh.flush()
        status = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if status == 0:
        metrics = spec.out / run.name / "metrics.json"
        accuracy = json.loads(metrics.read_text()).get("accuracy") if metrics.is_file() else None
        return "done" + (f" (test accuracy {accuracy:.4f})" if isinstance(accuracy, float) else "")
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    return f"failed (exit {status}): {lines[-1] if lines else 'no output'} (log: {log})"


def slurm_script(spec: SweepSpec, *, nproc: int = 1) -> str:
    """An ``sbatch`` script running the sweep as a job array, one task per run (``--index``).

    Example:
        >>> s = slurm_script(SweepSpec(Path("/s.yaml"), Path("/runs"), [SweepRun("a", Path("/runs/a"), ())] * 3))
        >>> "#SBATCH --array=0-2" in s and "--index $SLURM_ARRAY_TASK_ID" in s
        True
    """
    command = [sys.executable, "-m", "skinbench", "sweep", str(spec.source.absolute())]
    command += [f"--nproc-per-node={nproc}"] if nproc > 1 else []
    runs = "\n".join(f"#   {i}: {r.name}" for i, r in enumerate(spec.runs))
    return (
        "#!/bin/bash\n"
        f"# skinbench sweep {spec.source}: {len(spec.runs)} runs, one array task each:\n{runs}\n"
        "# A task skips a finished run and resumes an interrupted one, so resubmitting is safe.\n"
        "#SBATCH --job-name=skinbench-sweep\n"
        f"#SBATCH --array=0-{len(spec.runs) - 1}\n"
        f"#SBATCH --output={spec.out.absolute()}/logs/slurm-%A_%a.out\n"
        f"#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=8\n#SBATCH --gpus-per-task={nproc}\n"
        "#SBATCH --time=24:00:00\n"
        "# (add --partition/--account as your cluster needs; drop --gpus-per-task on CPU nodes)\n\n"
        f"{shlex.join(command)} --index $SLURM_ARRAY_TASK_ID\n"
    )


def add_sweep_command(sub: Any) -> None:
    """Add ``skinbench sweep`` to the command line (``sub``: the sub-command parsers)."""
    p = sub.add_parser(
        "sweep",
        help="train many runs (models x image sizes x seeds x ...) from a YAML file, each as its own job",
        description="Train every run of CONFIG (YAML: data, out, models, seeds, image_sizes and any train option, "
        "a list sweeping over it) into OUT/<model>-<size>px-seed<seed>, one subprocess each (a crash ends that "
        "run only): finished runs are skipped, interrupted ones resumed. Then: skinbench report OUT --out DIR.",
    )
    p.add_argument("config", help="the sweep's YAML file")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state (done/partial/new)")
    p.add_argument(
        "--nproc-per-node", type=int, default=1, metavar="N", help="run each job with torchrun on N processes"
    )
    p.add_argument("--index", type=int, metavar="I", help="run only run I (0-based; a SLURM array task)")
    p.add_argument("--print-slurm", action="store_true", help="write OUT/sweep.sbatch (a job array) and print it")
    p.set_defaults(func=sweep_command)


def sweep_command(args: argparse.Namespace) -> int:
    """Handler of ``skinbench sweep``: 0 when every run is done, 1 when a run failed."""
    spec = load_sweep(args.config)
    if args.nproc_per_node < 1:
        raise ConfigError(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    if args.print_slurm:
        script = write_text(spec.out / "sweep.sbatch", slurm_script(spec, nproc=args.nproc_per_node))
        print(script.read_text(), end="")
        print(f"# wrote {script}; submit it with: sbatch {script}", file=sys.stderr)
        return 0
    outcome = run_sweep(spec, nproc=args.nproc_per_node, index=args.index, dry_run=args.dry_run)
    failed = [name for name, result in outcome.items() if result.startswith("failed")]
    if failed:
        print(f"skinbench sweep: {len(failed)} of {len(outcome)} runs failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
