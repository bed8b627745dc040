"""One error base: the hierarchy, the old names, built-in compatibility, and the CLI's one line."""

from __future__ import annotations

import argparse

import pytest

from skinbench import cli, errors
from skinbench.errors import (
    ConfigError,
    DataError,
    ExportError,
    ModelError,
    PretrainedUnavailable,
    RunError,
    SkinbenchError,
    UnknownBaselineError,
    UnknownModelError,
    ZeroBaselineError,
)


def test_every_error_is_a_skinbench_error_and_keeps_its_builtin_base() -> None:
    builtin = {
        ConfigError: ValueError,
        UnknownBaselineError: KeyError,
        DataError: ValueError,
        UnknownModelError: ValueError,
        PretrainedUnavailable: RuntimeError,
        RunError: ValueError,
        ExportError: RuntimeError,
        ZeroBaselineError: ZeroDivisionError,
    }
    assert set(builtin) | {ModelError, SkinbenchError} == {
        getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)
    }
    for cls, base in builtin.items():
        assert issubclass(cls, SkinbenchError) and issubclass(cls, base), cls
    assert issubclass(UnknownModelError, ModelError) and issubclass(PretrainedUnavailable, ModelError)
    assert not issubclass(PretrainedUnavailable, ValueError)  # a download failure is not a bad value


def test_old_names_are_the_same_classes() -> None:
    from skinbench.config import ConfigError as config_error
    from skinbench.data import DataError as data_error
    from skinbench.data.ham10000 import DataError as ham_error
    from skinbench.models import PretrainedUnavailable as pretrained
    from skinbench.models import UnknownModelError as unknown
    from skinbench.models.transfer import PretrainedUnavailable as transfer_pretrained
    from skinbench.reports.deviation import ZeroBaselineError as zero
    from skinbench.reports.runs import RunFormatError

    assert config_error is ConfigError and data_error is ham_error is DataError
    assert pretrained is transfer_pretrained is PretrainedUnavailable and unknown is UnknownModelError
    assert zero is ZeroBaselineError and RunFormatError is RunError


def test_message_is_printed_as_written_even_for_a_key_error() -> None:
    assert str(UnknownBaselineError("baseline 'x' is not one of a, b")) == "baseline 'x' is not one of a, b"
    assert str(ConfigError()) == "" and str(DataError("a", "b")) == "('a', 'b')"


def _cli_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(cli, "_run_synth", handler)


@pytest.mark.parametrize(
    "exc, line",
    [
        (DataError("bad.csv line 3: empty dx"), "skinbench: error: bad.csv line 3: empty dx"),
        (RunError("run is not a run folder:\nmissing x"), "skinbench: error: run is not a run folder: missing x"),
        (UnknownBaselineError("baseline 'x' is not one of a"), "skinbench: error: baseline 'x' is not one of a"),
        (
            PretrainedUnavailable("ImageNet weights for resnet50 could not be obtained: offline"),
            "skinbench: error: ImageNet weights for resnet50 could not be obtained: offline; "
            "pass --no-pretrained to train from random initialisation",
        ),
        (PermissionError(13, "Permission denied", "/out"), "skinbench: error: [Errno 13] Permission denied: '/out'"),
    ],
)
def test_cli_prints_every_user_error_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: BaseException, line: str
) -> None:
    _cli_with(monkeypatch, exc)
    assert cli.main(["synth", "--out", "unused"]) == 2
    assert capsys.readouterr().err == line + "\n"


def test_cli_lets_programming_errors_through(monkeypatch: pytest.MonkeyPatch) -> None:
    _cli_with(monkeypatch, TypeError("a bug"))
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["synth", "--out", "unused"])
