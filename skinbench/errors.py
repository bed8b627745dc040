"""skinbench's errors: one base class, so the command line catches one type and prints one line.

Every error a user can cause (bad settings, bad data, an unknown model, a run folder that
is missing files) is a :class:`SkinbenchError` whose message is one line naming what is
wrong. The subclasses also derive from the built-in exception callers caught before
(``ValueError``, ``RuntimeError``, ``KeyError``, ``ZeroDivisionError``), so existing
``except ValueError`` code keeps working.

Hierarchy::

    SkinbenchError
    ├── ConfigError (ValueError)            invalid setting, resume mismatch, run already there
    │   └── UnknownBaselineError (KeyError) report baseline that names no run
    ├── DataError (ValueError)              dataset folder, metadata, split file, image, array
    ├── ModelError
    │   ├── UnknownModelError (ValueError)  name is not a model skinbench builds
    │   └── PretrainedUnavailable (RuntimeError)  ImageNet weights cannot be obtained
    ├── RunError (ValueError)               run folder missing a file, unreadable, incompatible
    ├── ExportError (RuntimeError)          export extra missing, exported model disagrees with PyTorch
    └── ZeroBaselineError (ZeroDivisionError)  relative change against 0

The classes stay importable where they were defined before (``skinbench.config.ConfigError``,
``skinbench.data.DataError``, ``skinbench.models.UnknownModelError``,
``skinbench.reports.runs.RunFormatError`` (= :class:`RunError`), ...).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ExportError",
    "ModelError",
    "PretrainedUnavailable",
    "RunError",
    "SkinbenchError",
    "UnknownBaselineError",
    "UnknownModelError",
    "ZeroBaselineError",
]


class SkinbenchError(Exception):
    """An error the user can fix, reported as one line (its message) without a traceback."""

    def __str__(self) -> str:
        # KeyError would quote its message; every skinbench error prints it as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(SkinbenchError, ValueError):
    """A configuration value is invalid or a run folder does not match its configuration."""


class UnknownBaselineError(ConfigError, KeyError):
    """The baseline run of a comparison is not one of the runs."""


class DataError(SkinbenchError, ValueError):
    """Bad input data; the one-line message names the offending file, row or column."""


class ModelError(SkinbenchError):
    """A model cannot be built."""


class UnknownModelError(ModelError, ValueError):
    """The model name is neither a skinbench model nor a supported torchvision model."""


class PretrainedUnavailable(ModelError, RuntimeError):
    """ImageNet weights could not be obtained (no network, no cached copy)."""


class RunError(SkinbenchError, ValueError):
    """A run folder is missing, lacks a file, or holds a file this version cannot read."""


class ExportError(SkinbenchError, RuntimeError):
    """A model cannot be exported, or the exported model's outputs do not match PyTorch's."""


class ZeroBaselineError(SkinbenchError, ZeroDivisionError):
    """A relative change was asked for against a baseline of zero."""
