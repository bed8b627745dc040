"""Capture: model + example inputs -> one :class:`~flopcount.records.LayerRecord` per op.

Two paths produce the same records:

* :func:`capture_fx` (:mod:`flopcount.capture.fx`): trace with concrete shapes and walk
  each node on meta values (:mod:`flopcount.capture.walker`); nothing runs on the model.
* :func:`capture_dispatch` (:mod:`flopcount.capture.dispatch`): run a private clone
  under the aten op recorder (:mod:`flopcount.capture.recorder`), on meta tensors or,
  as a last resort, on the real example inputs.

:func:`flopcount.profile` tries them in that order; the errors of
:mod:`flopcount.errors` decide when to move on.
"""

from flopcount.capture.dispatch import capture_dispatch
from flopcount.capture.fx import capture_fx
from flopcount.errors import CaptureLimitation
from flopcount.records import CaptureInfo

__all__ = ["CaptureInfo", "CaptureLimitation", "capture_dispatch", "capture_fx"]
