"""Adapter for a plain ``torch.nn.Module`` teacher."""

from __future__ import annotations

import torch
from torch import nn

from sklearn_kd._utils import float32_values
from sklearn_kd.teachers._base import LOGITS, PREDICTION, Teacher
from sklearn_kd.teachers._features import torch_features


class TorchTeacher(Teacher):
    """A trained ``torch.nn.Module`` mapping a float32 batch to its outputs.

    The module gets the user's ``X`` as a float32 tensor on the module's device
    and runs in eval mode under ``torch.inference_mode``; its training flag is
    restored afterwards. Its outputs are the predictions of a regression teacher
    or the logits of a classification teacher (one column per class, in sorted
    label order).

    Parameters
    ----------
    module : torch.nn.Module
        The trained network.
    """

    signals = frozenset({PREDICTION, LOGITS})

    def __init__(self, module: nn.Module):
        self.module = module

    @property
    def name(self) -> str:
        return type(self.module).__name__

    def _device(self) -> torch.device:
        for tensor in (*self.module.parameters(), *self.module.buffers()):
            return tensor.device
        return torch.device("cpu")

    def _dtype(self) -> torch.dtype:
        for tensor in (*self.module.parameters(), *self.module.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def torch_module(self):
        return self.module

    def features(self, X, layer):
        return torch_features(
            self.module, self._device(), X, layer, f"teacher {self.name}"
        )

    def torch_function(self, task):
        module, device = self.module, self._device()

        def function(x):
            was_training = module.training
            module.eval()
            try:
                return module(x.to(device))
            finally:
                module.train(was_training)

        return function

    def _query_chunk(self, X, signal):
        values = float32_values(X, f"torch teacher {self.name}")
        # A copy: pandas 3 hands out read-only arrays, which torch warns about.
        # In the module's own floating dtype (a .double() teacher gets float64).
        batch = torch.tensor(values, device=self._device(), dtype=self._dtype())
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                out = self.module(batch)
        except RuntimeError as err:
            if not any(w in str(err) for w in ("shape", "size", "dtype")):
                raise
            raise ValueError(
                f"The torch teacher {self.name} failed on a batch of shape "
                f"{tuple(batch.shape)} ({batch.dtype}): {err}. It receives X's "
                f"{batch.shape[1]} columns as they are (the distiller's "
                "preprocessor feeds only the student), so it must take that many "
                "inputs."
            ) from err
        finally:
            self.module.train(was_training)
        return out.detach().to("cpu", torch.float64).numpy()
