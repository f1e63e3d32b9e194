"""Distillation terms, the combined objective and the term registry.

Every reference value is computed by hand with numpy, never with the torch code
under test.
"""

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_kd.losses import (
    DistillationTerm,
    HPLoss,
    LogitMatching,
    Objective,
    OutputMatching,
    SoftTargets,
    _registry,
    available_terms,
    get_term,
    register_term,
    weighted_mean,
)

STUDENT = nn.Identity()

# Two rows, three outputs / classes.
S = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
T = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _np_log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _np_kl_rows(teacher, student, temp):
    log_pt = _np_log_softmax(np.asarray(teacher) / temp)
    log_ps = _np_log_softmax(np.asarray(student) / temp)
    return (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1)


# ----------------------------------------------------------------------
# Regression terms
# ----------------------------------------------------------------------
def test_hp_loss_is_mean_squared_difference_per_row():
    """HPLoss gives, per row, the mean over outputs of (student - teacher)^2."""
    out = HPLoss().loss(_t(S), {"prediction": _t(T)}, STUDENT)
    # Row 0: (0.5^2 + 1^2 + 1.5^2) / 3; row 1: (1 + 4 + 4) / 3.
    expected = [(0.25 + 1.0 + 2.25) / 3, (1.0 + 4.0 + 4.0) / 3]
    assert out.shape == (2,)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_hp_loss_single_output():
    """HPLoss on a single output column is the plain squared error."""
    out = HPLoss().loss(_t([[2.0], [-1.0]]), {"prediction": _t([[0.0], [1.0]])}, None)
    np.testing.assert_allclose(out.numpy(), [4.0, 4.0])


def test_output_matching_scales_difference_by_target_scale():
    """OutputMatching measures the error in y's units: (sigma_j * diff_j)^2."""
    scale = np.array([2.0, 0.5, 10.0])
    batch = {"prediction": _t(T), "target_scale": _t(scale)}
    out = OutputMatching().loss(_t(S), batch, STUDENT)
    diff = S - T
    expected = [
        sum((scale[j] * diff[i, j]) ** 2 for j in range(3)) / 3 for i in range(2)
    ]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_output_matching_with_unit_scale_equals_hp_loss():
    """With every target_scale equal to 1 OutputMatching is the HP loss."""
    batch = {"prediction": _t(T), "target_scale": _t(np.ones(3))}
    np.testing.assert_allclose(
        OutputMatching().loss(_t(S), batch, STUDENT).numpy(),
        HPLoss().loss(_t(S), batch, STUDENT).numpy(),
    )


# ----------------------------------------------------------------------
# Classification terms
# ----------------------------------------------------------------------
@pytest.mark.parametrize("temp", [1.0, 2.0, 4.0, 0.5])
def test_soft_targets_is_t_squared_kl_per_row(temp):
    """SoftTargets = T^2 KL(softmax(t/T) || softmax(s/T)), row by row."""
    out = SoftTargets(T=temp).loss(_t(S), {"logits": _t(T)}, STUDENT)
    expected = temp**2 * _np_kl_rows(T, S, temp)
    assert out.shape == (2,)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)


def test_soft_targets_against_hand_computed_value():
    """SoftTargets at T=1 on two classes matches a value computed with math."""
    s, t = [0.0, 1.0], [2.0, 0.0]
    pt = [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]
    ps = [1 / (1 + math.e), math.e / (1 + math.e)]
    kl = sum(p * math.log(p / q) for p, q in zip(pt, ps, strict=True))
    out = SoftTargets(T=1.0).loss(_t([s]), {"logits": _t([t])}, STUDENT)
    assert out.item() == pytest.approx(kl, rel=1e-12)


def test_soft_targets_t_squared_scaling():
    """Dividing SoftTargets by T^2 gives the plain KL at that temperature."""
    for temp in (1.0, 3.0, 10.0):
        out = SoftTargets(T=temp).loss(_t(S), {"logits": _t(T)}, STUDENT).numpy()
        np.testing.assert_allclose(out / temp**2, _np_kl_rows(T, S, temp))
    # At a high temperature T^2 KL tends to the logit-matching limit, which
    # stays of order one instead of vanishing like the bare KL.
    hot = SoftTargets(T=1000.0).loss(_t(S), {"logits": _t(T)}, STUDENT).numpy()
    cen = lambda z: z - z.mean(axis=1, keepdims=True)  # noqa: E731
    limit = ((cen(S) - cen(T)) ** 2).sum(axis=1) / (2 * 3)
    np.testing.assert_allclose(hot, limit, rtol=1e-2)


def test_soft_targets_zero_when_student_equals_teacher():
    """SoftTargets is zero when the student's logits equal the teacher's."""
    out = SoftTargets(T=3.0).loss(_t(T), {"logits": _t(T)}, STUDENT)
    np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-12)


def test_soft_targets_invariant_to_row_shifts():
    """Adding a constant to a row of either side's logits leaves SoftTargets as is."""
    term = SoftTargets(T=2.0)
    base = term.loss(_t(S), {"logits": _t(T)}, STUDENT).numpy()
    shift = np.array([[5.0], [-3.0]])
    shifted_s = term.loss(_t(S + shift), {"logits": _t(T)}, STUDENT).numpy()
    shifted_t = term.loss(_t(S), {"logits": _t(T - 7 * shift)}, STUDENT).numpy()
    np.testing.assert_allclose(shifted_s, base, rtol=1e-10)
    np.testing.assert_allclose(shifted_t, base, rtol=1e-10)


def test_logit_matching_is_mse_of_row_centred_logits():
    """LogitMatching = mean over classes of (centred s - centred t)^2, per row."""
    out = LogitMatching().loss(_t(S), {"logits": _t(T)}, STUDENT)
    # Row 0: s mean -1/6, t mean 0.5; row 1: s mean 2/3, t mean 1.
    s0 = [1 + 1 / 6, -2 + 1 / 6, 0.5 + 1 / 6]
    t0 = [0.0, -1.5, 1.5]
    s1 = [-2 / 3, 3 - 2 / 3, -1 - 2 / 3]
    t1 = [0.0, 0.0, 0.0]
    expected = [
        sum((a - b) ** 2 for a, b in zip(s0, t0, strict=True)) / 3,
        sum((a - b) ** 2 for a, b in zip(s1, t1, strict=True)) / 3,
    ]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_logit_matching_invariant_to_row_shifts():
    """Shifting a row of student or teacher logits does not change LogitMatching."""
    term = LogitMatching()
    base = term.loss(_t(S), {"logits": _t(T)}, STUDENT).numpy()
    shift = np.array([[10.0], [-4.0]])
    np.testing.assert_allclose(
        term.loss(_t(S + shift), {"logits": _t(T)}, STUDENT).numpy(), base
    )
    np.testing.assert_allclose(
        term.loss(_t(S), {"logits": _t(T + 2 * shift)}, STUDENT).numpy(), base
    )
    # log(p) and raw logits of the same distribution are the same target.
    log_p = _np_log_softmax(T)
    np.testing.assert_allclose(
        term.loss(_t(S), {"logits": _t(log_p)}, STUDENT).numpy(), base
    )


# ----------------------------------------------------------------------
# Objective
# ----------------------------------------------------------------------
Y_PRED = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0], [-2.0, 0.5]])
Y_TRUE = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 3.0], [-1.0, 0.5]])
TEACH = np.array([[0.5, 0.0], [2.0, 1.0], [0.0, 1.0], [-2.0, -0.5]])
SCALE = np.array([3.0, 0.5])
SW = np.array([1.0, 2.0, 0.5, 0.0])

TASK_ROWS = ((Y_PRED - Y_TRUE) ** 2).mean(axis=1)
HP_ROWS = ((Y_PRED - TEACH) ** 2).mean(axis=1)
OUT_ROWS = (((Y_PRED - TEACH) * SCALE) ** 2).mean(axis=1)


def _regression_objective(alpha=0.3, hp=0.7, out=2.0):
    return Objective(
        "mse",
        alpha,
        [("hp", HPLoss(weight=hp)), ("outputs", OutputMatching(weight=out))],
        constants={"target_scale": _t(SCALE)},
    )


def test_objective_total_is_alpha_task_plus_weighted_terms():
    """total == alpha * task + sum_k w_k * term_k, each part a plain row mean."""
    total, parts = _regression_objective()(
        _t(Y_PRED), _t(Y_TRUE), {"prediction": _t(TEACH)}, STUDENT
    )
    assert set(parts) == {"task", "hp", "outputs"}
    assert parts["task"].item() == pytest.approx(TASK_ROWS.mean())
    assert parts["hp"].item() == pytest.approx(HP_ROWS.mean())
    assert parts["outputs"].item() == pytest.approx(OUT_ROWS.mean())
    expected = 0.3 * TASK_ROWS.mean() + 0.7 * HP_ROWS.mean() + 2.0 * OUT_ROWS.mean()
    assert total.item() == pytest.approx(expected)


def test_objective_sample_weight_gives_weighted_means():
    """With sample_weight every part is sum(w * loss) / sum(w)."""
    batch = {"prediction": _t(TEACH), "sample_weight": _t(SW)}
    total, parts = _regression_objective()(_t(Y_PRED), _t(Y_TRUE), batch, STUDENT)

    def wmean(rows):
        return (rows * SW).sum() / SW.sum()

    assert parts["task"].item() == pytest.approx(wmean(TASK_ROWS))
    assert parts["hp"].item() == pytest.approx(wmean(HP_ROWS))
    assert parts["outputs"].item() == pytest.approx(wmean(OUT_ROWS))
    expected = 0.3 * wmean(TASK_ROWS) + 0.7 * wmean(HP_ROWS) + 2 * wmean(OUT_ROWS)
    assert total.item() == pytest.approx(expected)
    # Not the unweighted mean: the weights matter here.
    assert parts["hp"].item() != pytest.approx(HP_ROWS.mean())


class _MustNotRun(DistillationTerm):
    """A term whose loss fails if computed."""

    requires = ("prediction",)

    def loss(self, y_pred, batch, student):
        raise AssertionError("a term with weight 0 was computed")


def test_objective_skips_terms_with_zero_weight():
    """A term of weight 0 is never computed and is absent from the parts."""
    objective = Objective(
        "mse", 0.5, [("hp", HPLoss(weight=1.0)), ("off", _MustNotRun(weight=0.0))]
    )
    total, parts = objective(_t(Y_PRED), _t(Y_TRUE), {"prediction": _t(TEACH)}, STUDENT)
    assert set(parts) == {"task", "hp"}
    assert total.item() == pytest.approx(0.5 * TASK_ROWS.mean() + HP_ROWS.mean())


def test_objective_alpha_zero_reports_but_does_not_train_on_task():
    """alpha=0: the task loss is reported (for early stopping) but not trained on."""
    y_pred = _t(Y_PRED).requires_grad_(True)
    total, parts = Objective("mse", 0.0, [("hp", HPLoss(weight=2.0))])(
        y_pred, _t(Y_TRUE), {"prediction": _t(TEACH)}, STUDENT
    )
    assert set(parts) == {"task", "hp"}
    assert parts["task"].item() == pytest.approx(TASK_ROWS.mean())
    assert not parts["task"].requires_grad
    assert total.item() == pytest.approx(2 * HP_ROWS.mean())


def test_objective_labeled_mask_only_affects_task_loss():
    """Unlabeled rows are left out of the task loss but still count for terms."""
    labeled = np.array([1.0, 0.0, 1.0, 1.0])
    batch = {"prediction": _t(TEACH), "labeled": _t(labeled)}
    _, parts = Objective("mse", 0.5, [("hp", HPLoss())])(
        _t(Y_PRED), _t(Y_TRUE), batch, STUDENT
    )
    assert parts["task"].item() == pytest.approx(TASK_ROWS[labeled == 1].mean())
    assert parts["hp"].item() == pytest.approx(HP_ROWS.mean())

    # Together with sample weights: task uses w * labeled, terms use w.
    batch["sample_weight"] = _t(SW)
    _, parts = Objective("mse", 0.5, [("hp", HPLoss())])(
        _t(Y_PRED), _t(Y_TRUE), batch, STUDENT
    )
    w_task = SW * labeled
    assert parts["task"].item() == pytest.approx(
        (TASK_ROWS * w_task).sum() / w_task.sum()
    )
    assert parts["hp"].item() == pytest.approx((HP_ROWS * SW).sum() / SW.sum())


def test_objective_cross_entropy_task_on_class_indices():
    """The classification task loss is the mean cross-entropy on class indices."""
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.5]])
    y = np.array([0, 2, 1])
    _, parts = Objective("cross_entropy", 1.0)(_t(logits), torch.tensor(y), {}, STUDENT)
    expected = -_np_log_softmax(logits)[np.arange(3), y].mean()
    assert parts["task"].item() == pytest.approx(expected)


def test_weighted_mean_keeps_reduced_values():
    """weighted_mean passes an already reduced (0-d) loss through unchanged."""
    value = torch.tensor(3.5)
    assert weighted_mean(value, _t([1.0, 2.0])) is value
    assert weighted_mean(_t([1.0, 3.0]), None).item() == 2.0
    assert weighted_mean(_t([1.0, 3.0]), _t([3.0, 1.0])).item() == 1.5


# ----------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, cls",
    [
        ("hp", HPLoss),
        ("outputs", OutputMatching),
        ("soft", SoftTargets),
        ("logits", LogitMatching),
    ],
)
def test_get_term_returns_registered_class(name, cls):
    """The built-in terms are registered under their short names."""
    assert get_term(name) is cls
    assert name in available_terms()


def test_get_term_unknown_name_lists_known_names():
    """An unknown term name raises ValueError listing every registered name."""
    with pytest.raises(ValueError, match="No distillation term") as info:
        get_term("no_such_term_xyz")
    for name in available_terms():
        assert repr(name) in str(info.value)
    assert "Did you mean" not in str(info.value)


def test_get_term_near_miss_suggests_name():
    """A near miss of a registered name gets a 'did you mean' hint."""
    with pytest.raises(ValueError, match=r"Did you mean 'soft'\?"):
        get_term("sofft")


@pytest.fixture
def clean_registry(monkeypatch):
    """Let a test register terms without leaking them to the other tests."""
    monkeypatch.setattr(_registry, "_TERMS", dict(_registry._TERMS))


def test_register_custom_term_with_key(clean_registry):
    """register_term(key=...) makes a user term available by that name."""
    assert "l1_to_teacher_test" not in available_terms()

    @register_term(key="l1_to_teacher_test")
    class L1ToTeacher(DistillationTerm):
        """Mean absolute error to the teacher."""

        requires = ("prediction",)

        def loss(self, y_pred, batch, student):
            return (y_pred - batch["prediction"]).abs().mean(dim=1)

    assert get_term("l1_to_teacher_test") is L1ToTeacher
    assert "l1_to_teacher_test" in available_terms()
    out = L1ToTeacher().loss(_t(S), {"prediction": _t(T)}, STUDENT)
    np.testing.assert_allclose(out.numpy(), np.abs(S - T).mean(axis=1))


def test_register_bare_uses_class_name(clean_registry):
    """Bare @register_term registers the class under its own name."""

    @register_term
    class MyBareTerm(DistillationTerm):
        """A term."""

    assert get_term("MyBareTerm") is MyBareTerm


def _inputs_for(term_cls, n_outputs=3, seed=0):
    """A student output, and a batch whose teacher signals equal it."""
    gen = torch.Generator().manual_seed(seed)
    y_pred = torch.randn(4, n_outputs, generator=gen, dtype=torch.float64)
    batch = {
        "X": torch.randn(4, 5, generator=gen, dtype=torch.float64),
        "sample_weight": torch.ones(4, dtype=torch.float64),
        "target_scale": torch.rand(n_outputs, generator=gen, dtype=torch.float64) + 0.5,
    }
    known = {"prediction", "logits"}
    unknown = set(term_cls.requires) - known
    assert not unknown, (
        f"{term_cls.__name__} requires {sorted(unknown)}: teach this meta-test "
        "how to build those batch entries."
    )
    for signal in term_cls.requires:
        batch[signal] = y_pred.detach().clone()
    return y_pred, batch


REGISTERED = available_terms()
#: Terms that read the teacher's outputs from the batch (the gradient terms
#: compute their own teacher signals and are tested in test_gradients.py).
OUTPUT_TERMS = [
    name
    for name in REGISTERED
    if get_term(name).teacher_signals is DistillationTerm.teacher_signals
]


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_term_is_documented(name):
    """Every registered term documents its formula and its paper."""
    cls = get_term(name)
    doc = inspect.getdoc(cls) or ""
    assert "References" in doc, f"{cls.__name__} docstring lacks References"
    assert ".. math::" in doc, f"{cls.__name__} docstring lacks a math block"
    assert issubclass(cls, DistillationTerm)
    # A term reads teacher signals, or computes its own before training.
    assert cls.requires or cls.teacher_signals is not DistillationTerm.teacher_signals
    assert set(cls.tasks) <= {"regression", "classification"}


@pytest.mark.parametrize("name", OUTPUT_TERMS)
def test_registered_term_is_zero_at_teacher_and_differentiable(name):
    """Every registered term is 0 when student == teacher and has a gradient."""
    cls = get_term(name)
    term = cls()
    term.validate()
    y_pred, batch = _inputs_for(cls)
    at_teacher = term.loss(y_pred, batch, STUDENT)
    np.testing.assert_allclose(at_teacher.detach().numpy(), 0.0, atol=1e-10)

    away = y_pred + torch.linspace(-1.0, 2.0, y_pred.numel()).reshape(y_pred.shape)
    away = away.detach().requires_grad_(True)
    value = term.loss(away, batch, STUDENT)
    assert value.ndim in (0, 1)
    assert (value.detach() >= 0).all()
    value.sum().backward()
    assert away.grad is not None
    assert torch.isfinite(away.grad).all()
    assert away.grad.abs().sum() > 0
