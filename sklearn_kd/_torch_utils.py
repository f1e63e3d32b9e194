"""Generic torch helpers: find a layer, catch its output, differentiate by rows.

Used by teachers (hidden features and layer derivatives of a torch teacher),
by losses (student Jacobians, layer widths) and by the student net (hidden
layers caught during the forward pass). This module imports nothing from the
rest of ``sklearn_kd``.
"""

from __future__ import annotations

import contextlib

import torch


def find_layer(module, name: str, owner: str):
    """The submodule ``name`` of ``module`` (a full dotted name or its last part).

    Raises
    ------
    ValueError
        If no submodule, or more than one, has that name.
    """
    named = dict(module.named_modules())
    if name in named and name:
        return named[name]
    matches = [k for k in named if k.split(".")[-1] == name]
    if len(matches) == 1:
        return named[matches[0]]
    listed = [k for k in named if k]
    raise ValueError(
        f"The {owner} has {'several layers' if matches else 'no layer'} named "
        f"{name!r}; give one of its layer names: {listed}."
    )


@contextlib.contextmanager
def capture_output(layer):
    """Hook ``layer`` for the duration of the block; yields a list that holds
    its latest output. The hook is always removed."""
    seen = []

    def hook(module, inputs, output):
        seen[:] = [output]

    handle = layer.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def layer_widths(student, names, n_inputs: int) -> dict:
    """Width (per row, flattened) of each named layer of ``student``, from one
    forward pass on two rows of zeros in eval mode.

    Raises
    ------
    ValueError
        If a layer is missing, or the student cannot take ``n_inputs`` columns.
    """
    layers = {name: find_layer(student, name, "student") for name in names}
    if not layers:
        return {}
    param = next(iter(student.parameters()), None)
    probe = torch.zeros(2, n_inputs)
    if param is not None:
        probe = probe.to(param.device, param.dtype)
    was_training = student.training
    student.eval()
    try:
        with contextlib.ExitStack() as stack, torch.no_grad():
            seen = {
                name: stack.enter_context(capture_output(layer))
                for name, layer in layers.items()
            }
            student(probe)
    except RuntimeError as err:
        raise ValueError(
            f"The student cannot take the {n_inputs} input columns the "
            f"preprocessed X has: {err}"
        ) from err
    finally:
        student.train(was_training)
    return {name: caught[0].reshape(2, -1).shape[1] for name, caught in seen.items()}


def jacobian_rows(outputs, wrt, *, create_graph=False):
    """Per-row Jacobian of ``outputs`` (b, n) by ``wrt`` (b, ...): (b, n, width).

    One backward pass per output column, of the column's sum: rows are
    independent (no batch statistics), so row ``i`` of the gradient is row
    ``i``'s own derivative. The graph is kept for the caller.
    """
    grads = [
        torch.autograd.grad(
            outputs[:, o].sum(), wrt, create_graph=create_graph, retain_graph=True
        )[0].reshape(len(wrt), -1)
        for o in range(outputs.shape[1])
    ]
    return torch.stack(grads, dim=1)
