"""The student's first module: numeric columns encoded inside the network.

A small ReLU network that sees each numeric column as one number has to
rebuild a tree ensemble's step functions out of a handful of kinks. The
piecewise-linear encoding (PLE) of Gorishniy, Rubachev and Babenko, "On
Embeddings for Numerical Features in Tabular Deep Learning" (NeurIPS 2022)
gives it one input per bin instead: with bins placed where the teacher
splits, a step of the teacher is one weight of the student.

The encoding is a torch module, so it trains on the student's device and
travels unchanged into ``to_deployable()``, ONNX and TorchScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: Encodings of the numeric columns, as named by the distillers' parameter.
ENCODINGS = ("piecewise_linear", "periodic", "none")


@dataclass(frozen=True)
class EncodingSpec:
    """What the student's encoding module is built from: plain, picklable data.

    Parameters
    ----------
    kind : {'piecewise_linear', 'periodic', 'none'}
        How the encoded columns are represented.
    columns : tuple of int
        Input columns that are encoded (``'piecewise_linear'``: those with at
        least two bins; ``'periodic'``: every numeric column).
    edges : tuple of tuple of float
        Bin edges of each encoded column, sorted, at least three
        (``'piecewise_linear'`` only; empty otherwise).
    missing : tuple of int
        Input columns that may hold NaN: each gets a missing-value indicator
        input, and its encoding on NaN rows is learned.
    """

    kind: str
    columns: tuple[int, ...] = ()
    edges: tuple[tuple[float, ...], ...] = ()
    missing: tuple[int, ...] = ()

    @property
    def is_identity(self) -> bool:
        """Whether the module would pass its input through unchanged."""
        return not self.missing and (self.kind == "none" or not self.columns)


class NumericEncoding(nn.Module):
    """Encode some input columns of the student; pass the others through.

    ::

        out = [encode(x[:, columns]), x[:, other columns], isnan(x[:, missing])]

    ``'piecewise_linear'`` (:class:`PiecewiseLinear`) maps a value in bin
    ``k`` of a column to
    ``[1, ..., 1, (x - e_k) / (e_{k+1} - e_k), 0, ..., 0]`` (one output per
    bin; below the first edge and above the last one the end components
    extrapolate linearly, so the encoding is monotone in ``x`` and defined
    everywhere). ``'periodic'`` is the periodic embedding of the same paper
    (:class:`Periodic`). A column in ``missing`` reads 0 where it is NaN,
    its encoding on those rows is replaced by a learned vector, and an
    indicator input says where it was missing.

    Parameters
    ----------
    in_features : int
        Width of the student's input.
    spec : EncodingSpec
        Which columns, how, and their bin edges.
    d_embedding : int, default=8
        Width of each column's periodic embedding.
    """

    def __init__(self, in_features: int, spec: EncodingSpec, d_embedding: int = 8):
        super().__init__()
        self.in_features = in_features
        self.kind = spec.kind
        encoded = list(spec.columns) if spec.kind != "none" else []
        other = [j for j in range(in_features) if j not in set(encoded)]
        self.register_buffer("encoded", torch.tensor(encoded, dtype=torch.long))
        self.register_buffer("other", torch.tensor(other, dtype=torch.long))
        self.register_buffer("missing", torch.tensor(spec.missing, dtype=torch.long))
        # A Python flag, not the buffer's length: tracing keeps the branch.
        self.has_missing = bool(spec.missing)
        self.encoder = _make_encoder(spec, encoded, d_embedding)
        widths = _encoded_widths(spec, encoded, d_embedding)
        self.out_features = sum(widths) + len(other) + len(spec.missing)
        # For each missing-value column: where its outputs sit among the
        # encoded ones (or among the passed-through ones), and a learned
        # vector for its NaN rows, zero at first (as a value of 0).
        starts = [0]
        for width in widths:
            starts.append(starts[-1] + width)
        slots, owners = [], []
        for k, j in enumerate(spec.missing):
            if j in encoded:
                i = encoded.index(j)
                span = range(starts[i], starts[i + 1])
            else:
                span = [starts[-1] + other.index(j)]
            slots.extend(span)
            owners.extend([k] * len(span))
        self.register_buffer("nan_slots", torch.tensor(slots, dtype=torch.long))
        self.register_buffer("nan_owner", torch.tensor(owners, dtype=torch.long))
        self.nan_code = nn.Parameter(torch.zeros(len(slots))) if slots else None

    def forward(self, X):
        if self.has_missing:
            nan = torch.isnan(X.index_select(1, self.missing))
            X = torch.where(torch.isnan(X), torch.zeros_like(X), X)
        parts = []
        if self.encoder is not None:
            parts.append(self.encoder(X.index_select(1, self.encoded)))
        parts.append(X.index_select(1, self.other))
        out = torch.cat(parts, dim=1)
        if self.has_missing:
            slot_nan = nan.index_select(1, self.nan_owner)
            current = out.index_select(1, self.nan_slots)
            replaced = torch.where(slot_nan, self.nan_code.to(out.dtype), current)
            out = out.index_copy(1, self.nan_slots, replaced)
            out = torch.cat([out, nan.to(out.dtype)], dim=1)
        return out


class PiecewiseLinear(nn.Module):
    """Piecewise-linear encoding of each column on its own bin edges.

    Bin ``k`` of a column with edges ``e`` gives
    ``clamp((x - e_k) / (e_{k+1} - e_k), 0, 1)``, except that the first bin is
    not clamped below and the last not above (linear extrapolation outside
    the fitted range). One gather and one clamp for every bin of every column:
    no Python branch on shapes, so tracing and ONNX export see one graph.

    Parameters
    ----------
    edges : sequence of sequence of float
        Sorted edges of each input column, at least three (two bins) each.
    """

    def __init__(self, edges: Sequence[Sequence[float]]):
        super().__init__()
        column, left, width, lower, upper = [], [], [], [], []
        for j, e in enumerate(edges):
            e = torch.tensor(e, dtype=torch.float64)
            n = len(e) - 1
            column += [j] * n
            left.append(e[:-1])
            width.append(e.diff())
            lower += [-math.inf] + [0.0] * (n - 1)
            upper += [1.0] * (n - 1) + [math.inf]
        self.register_buffer("column", torch.tensor(column, dtype=torch.long))
        for name, value in (
            ("left", torch.cat(left)),
            ("width", torch.cat(width)),
            ("lower", torch.tensor(lower)),
            ("upper", torch.tensor(upper)),
        ):
            self.register_buffer(name, value.to(torch.float32))

    def forward(self, X):
        z = (X.index_select(1, self.column) - self.left) / self.width
        return torch.minimum(torch.maximum(z, self.lower), self.upper)


class Periodic(nn.Module):
    """Periodic embeddings: ``ReLU(W_j [cos(2 pi c_j x), sin(2 pi c_j x)] + b_j)``.

    Each column ``j`` has its own learned frequencies ``c_j`` (initialised
    from a normal of scale ``sigma``, truncated at 3 sigma) and its own linear
    layer (Gorishniy et al., 2022).

    Parameters
    ----------
    n_features : int
        Input columns.
    d_embedding : int, default=8
        Output width per column.
    n_frequencies : int, default=16
        Frequencies per column.
    sigma : float, default=0.1
        Scale of the initial frequencies, for standardised inputs: low enough
        that the embedding starts smooth, high enough to learn steps.
    """

    def __init__(self, n_features, d_embedding=8, n_frequencies=16, sigma=0.1):
        super().__init__()
        self.frequencies = nn.Parameter(torch.empty(n_features, n_frequencies))
        nn.init.trunc_normal_(self.frequencies, 0.0, sigma, -3 * sigma, 3 * sigma)
        bound = (2 * n_frequencies) ** -0.5
        self.weight = nn.Parameter(
            torch.empty(n_features, 2 * n_frequencies, d_embedding).uniform_(
                -bound, bound
            )
        )
        self.bias = nn.Parameter(
            torch.empty(n_features, d_embedding).uniform_(-bound, bound)
        )

    def forward(self, X):
        z = 2 * math.pi * self.frequencies * X[..., None]
        z = torch.cat([torch.cos(z), torch.sin(z)], dim=-1)
        out = torch.einsum("bnk,nkd->bnd", z, self.weight) + self.bias
        return torch.relu(out).flatten(1)


def _make_encoder(spec: EncodingSpec, encoded: Sequence[int], d_embedding: int):
    if not encoded:
        return None
    if spec.kind == "piecewise_linear":
        return PiecewiseLinear(spec.edges)
    return Periodic(len(encoded), d_embedding)


def _encoded_widths(spec, encoded, d_embedding) -> list[int]:
    if spec.kind == "piecewise_linear":
        return [len(e) - 1 for e in spec.edges]
    return [d_embedding] * len(encoded)


def encoded_width(in_features: int, spec: EncodingSpec | None) -> int:
    """Width of the encoding's output for an input of ``in_features`` columns."""
    if spec is None or spec.is_identity:
        return in_features
    return NumericEncoding(in_features, spec).out_features
