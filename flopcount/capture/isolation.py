"""Nothing left behind: every attribute a capture touches on the user's model is put back.

Tracing runs the model's own ``forward`` with proxies, and a ``forward`` may write to
``self``: a cache filled on first use (``self.attention_bias_cache[device] = ...``), a
buffer rebuilt for a new input size (``self.rel_pos = ...``), a list of intermediate
results (``self.corr_pyramid = [...]``). :func:`preserved` snapshots, for every module,
its ``__dict__`` and a shallow copy of every container in it (``_parameters``,
``_buffers``, ``_modules`` and the model's own dicts, lists and sets), and restores
both on exit, whether the capture succeeded or not: attributes the capture added are
removed, replaced ones are put back, and containers get their old items back in place
(so other references to the same container see the restored items too).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterable, Iterator
from typing import Any

from torch import nn

_CONTAINERS = (dict, list, set)


def _shallow(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return set(value)


def _same_items(container: Any, saved: Any) -> bool:
    if len(container) != len(saved):
        return False
    if isinstance(container, dict):
        return list(container) == list(saved) and all(map(operator.is_, container.values(), saved.values()))
    if isinstance(container, list):
        return all(map(operator.is_, container, saved))
    return bool(container == saved)


def _put_back(container: Any, saved: Any) -> None:
    if isinstance(container, dict):
        container.clear()
        container.update(saved)
    elif isinstance(container, list):
        container[:] = saved
    else:
        container.clear()
        container.update(saved)


class ModuleState:
    """The attributes of every module of a model at one moment, to restore later.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2)
        >>> state = ModuleState(net)
        >>> net.cache = {"x": 1}
        >>> net._buffers["extra"] = torch.zeros(1)
        >>> handle = net.register_forward_hook(lambda *args: None)
        >>> state.restore()
        >>> hasattr(net, "cache"), list(net._buffers), len(net._forward_hooks)
        (False, [], 0)
    """

    def __init__(self, model: nn.Module, modules: Iterable[nn.Module] | None = None) -> None:
        # Checked on every profile() of every module: the usual case (nothing changed) is
        # decided by C-level comparisons of key lists and value identities.
        self._saved: list[tuple[dict[str, Any], list[str], list[Any]]] = []
        self._filled: list[tuple[Any, Any]] = []
        # empty containers, kept without a copy (most are hook dicts; one may be filled while
        # tracing, as transformers installs its output-capturing hooks on the first call)
        self._empty: list[Any] = []
        for module in modules or model.modules():
            attrs = vars(module)
            values = list(attrs.values())
            self._saved.append((attrs, list(attrs), values))
            for value in values:
                if isinstance(value, _CONTAINERS):
                    if value:
                        self._filled.append((value, _shallow(value)))
                    else:
                        self._empty.append(value)

    def restore(self) -> None:
        """Put every module's attributes and container items back as they were."""
        for current, names, values in self._saved:
            if list(current) != names or not all(map(operator.is_, current.values(), values)):
                current.clear()
                current.update(zip(names, values))
        if any(self._empty):
            for container in self._empty:
                container.clear()
        for container, saved in self._filled:
            if not _same_items(container, saved):
                _put_back(container, saved)


_MISSING = object()


@contextlib.contextmanager
def preserved(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> Iterator[None]:
    """Run the block, then restore every attribute of every module of ``model`` (see the module docstring).

    ``modules`` is ``model.modules()`` when the caller already has them.
    """
    state = ModuleState(model, modules)
    try:
        yield
    finally:
        state.restore()
