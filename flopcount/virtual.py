"""Virtual weights: fake tensors that stand in for a model's parameters and buffers.

The dispatch capture path runs a private copy of the model whose parameters and buffers
are fake tensors (``torch._subclasses.fake_tensor``: a shape, a dtype and a device, no
data) while the example inputs stay real. Every op that touches a weight then runs on
fake tensors (no real arithmetic, any model size), and every op whose inputs are all
real runs for real: the masks, position ids, sequence lengths and cache positions a
model derives from its inputs are tiny, and Python code can branch on their values.
Only a read of a weight-dependent value (routing a token by its score, say) needs a real
run; :func:`flopcount.meta.run_guarded` raises :class:`~flopcount.errors.CaptureLimitation`
there, by op identity.

Fake tensors report the device of the tensor they replace (meta weights report the
inputs' device, else ``cpu``), so ``torch.arange(n, device=hidden.device)`` builds a
real tensor, as it would in a real forward.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._pytree import tree_map

from flopcount.aten_shapes import pointwise_output
from flopcount.meta import clone_without_hooks, to_meta
from flopcount.values import map_tensors, tensors_in


class VirtualSpace:
    """Makes fake stand-ins for tensors; all of one capture share one fake mode.

    Args:
        device: The device that stand-ins of meta tensors report.

    Example:
        >>> import torch
        >>> space = VirtualSpace(torch.device("cpu"))
        >>> weight = space.tensor(torch.empty(3, 4, device="meta"))
        >>> out = torch.ones(2, 4) @ weight.t()
        >>> type(out).__name__, tuple(out.shape), out.device.type
        ('FakeTensor', (2, 3), 'cpu')
    """

    def __init__(self, device: torch.device) -> None:
        self.mode = FakeTensorMode(allow_non_fake_inputs=True)
        self.device = device
        self._kind: dict[torch._ops.OpOverload, str] = {}  # "fresh", "view" or "fake": see run()
        # id(fake) -> (weak reference to the fake, its meta tensor). Weak: with a strong one
        # held here, torch dispatched an extra aten.detach of some outputs (DETR's zeros_like).
        self._elems: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    def _wrap(self, meta: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A fake tensor over ``meta`` (sharing its storage), remembered for views of it."""
        fake = FakeTensor(self.mode, meta, device)
        self._elems[id(fake)] = (weakref.ref(fake), meta)
        return fake

    def tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """A fake tensor with the shape, strides and dtype of ``tensor`` (no data is copied)."""
        if isinstance(tensor, FakeTensor):
            return tensor
        device = self.device if tensor.device.type == "meta" else tensor.device
        meta = to_meta(tensor)  # a meta tensor is its own; no detach of it, which is an op the recorder would see
        return self._wrap(meta.detach() if meta.requires_grad else meta, device)

    def parameter(self, param: torch.Tensor) -> torch.Tensor:
        """A fake stand-in of a parameter: what ``nn.Parameter(self.tensor(param))`` makes, faster.

        ``nn.Parameter`` of a fake tensor detaches it through the fake mode (a quarter of a
        millisecond per parameter); the stand-in here is made from a meta tensor that
        already has ``requires_grad`` and gets the same ``_is_param`` flag.
        """
        if isinstance(param, FakeTensor):
            return nn.Parameter(param, requires_grad=param.requires_grad)
        device = self.device if param.device.type == "meta" else param.device
        meta = to_meta(param) if param.device.type != "meta" else param.detach()  # never the user's own tensor
        fake = self._wrap(meta.requires_grad_(param.requires_grad), device)
        fake._is_param = True  # isinstance(fake, nn.Parameter), as nn.Parameter marks tensor subclasses
        return fake

    def run(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run an op on fake tensors through its meta kernel (a shortcut past the fake mode).

        The fake mode's own dispatch (cache keys, aliasing bookkeeping) costs several
        times a meta kernel (a quarter of a millisecond for a ``view``). An op that
        neither writes to an input nor returns one of its inputs' storage runs on meta
        stand-ins here (common pointwise ops on a shape rule,
        :func:`flopcount.aten_shapes.pointwise_output`), its outputs wrapped as fake
        tensors. A view op of fake tensors made here runs on their own meta tensors, so
        its output shares their storage, as the fake mode's would. Any other op, and
        any op the shortcut cannot run, goes to the fake mode.
        """
        kind = self._kind.get(func) or self._kind.setdefault(func, _op_kind(func))
        if kind == "view":
            out = self._view(func, args, kwargs)
            return self._fake_mode_run(func, args, kwargs) if out is None else out
        if kind != "fresh":
            return self._fake_mode_run(func, args, kwargs)
        meta_out = pointwise_output(func, args, kwargs)  # a shape rule: pointwise meta kernels are Python
        if meta_out is None:
            try:
                meta_out = func(*to_meta(args), **to_meta(kwargs))
            except Exception:
                self._kind[func] = "fake"
                return self._fake_mode_run(func, args, kwargs)
        device = next((t.device for t in tensors_in(args) if isinstance(t, FakeTensor)), self.device)
        return map_tensors(lambda t: self._wrap(t, device), meta_out)

    def _fake_mode_run(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``func`` in the fake mode, with real tensors of more than one element made fake here first.

        The fake mode converts a real input itself, rebuilding a view from its base (over a
        millisecond per tensor); a stand-in of the same shape and strides does for shapes.
        One-element tensors are left to the fake mode, which may keep their value.
        """
        if tensors_in(kwargs) if kwargs else False:
            kwargs = map_tensors(self._stand_in, kwargs)
        return func(*map_tensors(self._stand_in, args), **kwargs)

    def _stand_in(self, tensor: torch.Tensor) -> torch.Tensor:
        if isinstance(tensor, FakeTensor) or tensor.numel() <= 1 or tensor.is_quantized or tensor.is_sparse:
            return tensor
        return self.tensor(tensor)

    def _view(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A view op on the meta tensors of fake tensors made here, or ``None`` when another tensor takes part."""
        if tensors_in(kwargs) if kwargs else False:
            return None
        metas, device = [], self.device
        for value in args:
            if isinstance(value, torch.Tensor):
                entry = self._elems.get(id(value))
                if entry is None or entry[0]() is not value or not _same_layout(entry[1], value):
                    return None  # not made here, or resized in place by the fake mode since
                metas.append(entry[1])
                device = value.device
            elif isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
                return None
            else:
                metas.append(value)
        return map_tensors(lambda t: self._wrap(t, device), func(*metas, **kwargs))

    def inputs(self, value: Any) -> Any:
        """Example inputs for the fake run: meta tensors become fake, real tensors stay real."""
        return tree_map(
            lambda leaf: self.tensor(leaf) if isinstance(leaf, torch.Tensor) and leaf.is_meta else leaf, value
        )


def _same_layout(meta: torch.Tensor, fake: torch.Tensor) -> bool:
    same_offset = bool(meta.storage_offset() == fake.storage_offset())
    return same_offset and meta.shape == fake.shape and meta.stride() == fake.stride()


def _op_kind(func: torch._ops.OpOverload) -> str:
    """``"fresh"``: writes no input and returns new tensors; ``"view"``: returns views of inputs; else ``"fake"``."""
    schema = func._schema
    if schema.is_mutable:
        return "fake"
    aliases = [r.alias_info for r in schema.returns]
    if all(a is None for a in aliases):
        return "fresh"
    return "view" if aliases and all(a is not None and not a.is_write for a in aliases) else "fake"


def script_forward(
    module: torch.jit.ScriptModule,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    recording: contextlib.AbstractContextManager[Any],
    space: VirtualSpace | None = None,
) -> Any:
    """Run a TorchScript module inside ``recording`` on fake stand-ins of meta inputs.

    TorchScript code cannot run on meta inputs next to its real weights, and cannot be
    copied onto meta; fake inputs let its real weights stay where they are (they are
    read as fake too, op by op, never computed on). ``space`` makes the stand-ins (a
    recorder that runs ops through its :meth:`VirtualSpace.run` passes it). Returns the
    outputs as meta tensors; the conversions happen outside ``recording`` (a recorder or
    guard).
    """
    space = space or VirtualSpace(torch.device("cpu"))
    fake_args, fake_kwargs = space.inputs(args), space.inputs(kwargs)
    with recording:
        output = module.forward(*fake_args, **fake_kwargs)
    return to_meta(output)


def _drop(record: logging.LogRecord) -> bool:
    return False


@contextlib.contextmanager
def quiet_fake_kernels() -> Iterator[None]:
    """Silence the fake-tensor logger's tracebacks for the block (a failed fake kernel is a fallback, not news).

    A fake kernel stricter than the real one (``_grouped_mm`` on float32, say) logs an
    error with a traceback before raising; flopcount catches the error and falls back.
    A filter drops the logger's records for the block (``setLevel`` would clear the
    level cache of every logger, twice per capture: over a millisecond with
    transformers' loggers).
    """
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    logger.addFilter(_drop)
    try:
        yield
    finally:
        logger.removeFilter(_drop)


def input_device(args: Any, default: str = "cpu") -> torch.device:
    """The device of the first real example input, else ``default``."""
    for tensor in tensors_in(args):
        if tensor.device.type != "meta":
            return tensor.device
    return torch.device(default)


def virtual_clone(module: nn.Module, space: VirtualSpace) -> nn.Module:
    """Copy of ``module`` with fake parameters and buffers and no hooks; ``module`` is not touched.

    Quantized modules keep their packed weights (they are not tensors); TorchScript
    modules are shared (see :func:`flopcount.meta.clone_without_hooks`).
    """
    replace: dict[int, Any] = {}
    for sub in _modules_outside_script(module):
        for param in sub._parameters.values():
            if param is not None and id(param) not in replace:
                replace[id(param)] = space.parameter(param)
        for buffer in sub._buffers.values():
            if buffer is not None and not buffer.is_quantized and id(buffer) not in replace:
                replace[id(buffer)] = space.tensor(buffer)
    return clone_without_hooks(module, replace)


def _modules_outside_script(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` and its submodules, without TorchScript modules and what they hold.

    The copy shares TorchScript modules with their real weights (their attributes live
    in C++), so stand-ins for those weights would never be used.
    """
    stack, seen = [module], set()
    while stack:
        sub = stack.pop()
        if id(sub) in seen or isinstance(sub, torch.jit.ScriptModule):
            continue
        seen.add(id(sub))
        yield sub
        stack.extend(child for child in reversed(sub._modules.values()) if child is not None)


def real_clone(module: nn.Module) -> nn.Module:
    """Copy of ``module`` for a real run: parameters shared (not copied), buffers copied, no hooks.

    The run is in eval mode under ``torch.no_grad()``: parameters are only read, and a
    buffer the forward updates in place is the copy's own (a plain ``clone()``: a tenth of
    ``deepcopy``'s time for a small tensor; quantized and sparse buffers are deep-copied).
    """
    replace: dict[int, Any] = {id(param): param for param in module.parameters()}
    for buffer in module.buffers():
        if id(buffer) not in replace and buffer.layout == torch.strided and not buffer.is_quantized:
            replace[id(buffer)] = buffer.detach().clone()
    return clone_without_hooks(module, replace)
