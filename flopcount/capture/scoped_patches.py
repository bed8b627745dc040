"""fx's two ``nn.Module`` patches, set on the traced model's own classes instead of on ``nn.Module``.

While it traces, ``torch.fx.Tracer.trace`` replaces ``nn.Module.__call__`` (a submodule
call becomes ``call_module``) and ``nn.Module.__getattr__`` (a parameter read becomes a
``get_attr`` proxy), and puts both back afterwards: four writes of a special method on
``nn.Module``. CPython then updates the type slot of every ``nn.Module`` subclass loaded
in the process, which costs 25-380 us per write (measured with torch alone, 405
subclasses, up to timm and transformers imported, 1,400 subclasses): up to 1 ms per
trace, most of a small model's profile.

:func:`own_class_patches` makes fx set the same two wrappers on each class of the
traced model instead, where only that class's few subclasses are updated. Inside the
traced model nothing changes: each of its modules finds the wrapper on its own class,
as it found it on ``nn.Module``. It applies only where that equivalence is plain (see
:func:`patchable_classes`); otherwise fx patches ``nn.Module`` as it always did.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn
from torch.fx import _symbolic_trace

__all__ = ["own_class_patches", "patchable_classes"]

_PATCHED = ("__call__", "__getattr__")
_NONE = object()


def patchable_classes(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> list[type[nn.Module]] | None:
    """The classes of ``model``'s modules, when fx's patches can be set on them instead of ``nn.Module``.

    That is when every class inherits ``__call__`` and ``__getattr__`` from ``nn.Module``
    unchanged (a class with its own version may call ``super()``, which only the patch
    on ``nn.Module`` reaches) and none is ``nn.Module`` itself. ``modules`` is
    ``model.modules()`` when the caller already has them.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
        >>> sorted(c.__name__ for c in patchable_classes(net))
        ['Linear', 'ReLU', 'Sequential']
        >>> patchable_classes(nn.ModuleDict({"a": nn.Module()})) is None  # a bare nn.Module
        True
    """
    classes = list(dict.fromkeys(map(type, modules or model.modules())))
    for cls in classes:
        if cls is nn.Module:
            return None
        for name in _PATCHED:
            if any(name in base.__dict__ for base in cls.__mro__[: cls.__mro__.index(nn.Module)]):
                return None
    return classes


class _ClassPatch:
    """One wrapper set on one class for a trace; the ``patch``/``revert`` pair fx's patcher calls."""

    def __init__(self, cls: type, name: str, new_fn: Callable[..., Any]) -> None:
        self.cls, self.name, self.new_fn = cls, name, new_fn
        self.previous = cls.__dict__.get(name, _NONE)  # a nested trace's wrapper, else none

    def patch(self) -> None:
        setattr(self.cls, self.name, self.new_fn)

    def revert(self) -> None:
        if self.previous is not _NONE:
            setattr(self.cls, self.name, self.previous)
        elif self.name in self.cls.__dict__:  # it inherits nn.Module's again
            delattr(self.cls, self.name)


@contextlib.contextmanager
def own_class_patches(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> Iterator[bool]:
    """While the block runs, fx's ``nn.Module`` patches from this thread go on ``model``'s classes.

    Yields whether they do: False (fx unchanged) when :func:`patchable_classes` says no or
    this torch's fx has no ``_Patcher.patch_method`` to redirect. Every other patch fx
    makes (wrapped functions, other classes) goes through unchanged, and fx reverts the
    redirected ones with the rest, on its usual schedule.
    """
    classes = patchable_classes(model, modules)
    patcher_cls = getattr(_symbolic_trace, "_Patcher", None)
    original = getattr(patcher_cls, "patch_method", None)
    if classes is None or patcher_cls is None or original is None:
        yield False
        return
    thread = threading.get_ident()

    def patch_method(patcher: Any, cls: type, name: str, new_fn: Callable[..., Any], deduplicate: bool = True) -> None:
        if cls is not nn.Module or name not in _PATCHED or threading.get_ident() != thread:
            return original(patcher, cls, name, new_fn, deduplicate)  # type: ignore[no-any-return]
        new_fn.__fx_already_patched = deduplicate  # type: ignore[attr-defined]  # as fx marks its own
        for own in classes:
            patch = _ClassPatch(own, name, new_fn)
            patcher.patches_made.append(patch)
            patch.patch()
        return None

    patcher_cls.patch_method = patch_method
    try:
        yield True
    finally:
        patcher_cls.patch_method = original
