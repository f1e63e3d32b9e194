"""The per-call state of ``fit`` and the helpers that commit its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Beyond this magnitude a squared difference overflows float32.
_SQUARE_LIMIT = float(np.sqrt(np.finfo(np.float32).max))


@dataclass(eq=False)
class _FitRun:
    """What one call of ``fit`` works on, filled step by step; dropped after.

    The fitted state goes on the distiller; this holds the per-call data the
    steps hand each other: the validated input, the transfer rows, the seed,
    the device, the teacher's adapter, store and signals, the packed tensors.
    """

    X: Any
    y: Any
    sample_weight: np.ndarray | None
    seed: int
    device: torch.device
    extra: Any = None
    y_train: np.ndarray | None = None
    terms: list = field(default_factory=list)
    active: list = field(default_factory=list)
    required: list = field(default_factory=list)
    adapter: Any = None
    X_all: Any = None
    Xs: np.ndarray | None = None
    store: Callable | None = None
    signals: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)
    routes: dict | None = None
    dataset: Any = None
    y_tensor: torch.Tensor | None = None
    objective: Any = None
    encodings: list = field(default_factory=list)


def fitted_keys(est) -> list:
    """Names of the fitted attributes (``x_``, ``_x_``), not dunder ones."""
    return [k for k in vars(est) if k.endswith("_") and not k.endswith("__")]


def finite_float32(values, key: str, teacher: str) -> torch.Tensor:
    """``values`` as a float32 tensor; a ``ValueError`` naming the teacher and
    the signal if any value is not finite there (NaN, or beyond float32)."""
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if not (tensor.abs() < _SQUARE_LIMIT).all():
        raw = np.asarray(values, dtype=np.float64)
        what = (
            "NaN or infinite values"
            if not np.isfinite(raw).all()
            else f"values too large to train on in float32 (up to "
            f"{np.abs(raw).max():.3g}, whose squares overflow)"
        )
        raise ValueError(
            f"The teacher {teacher} gives {what} in its {key!r} signal (in the "
            "student's units: targets standardised by y's mean and scale). The "
            "student trains in float32; check the teacher's outputs on X."
        )
    return tensor
