"""The distillation-term protocol: what a term declares, and the checks on it.

A term says what it needs of the distiller in class attributes of
:class:`DistillationTerm` (``computes_signals``, ``needs_input_grad``,
``has_adversary``); the distiller reads them and never inspects which methods
a term overrides. A class whose declarations disagree with its methods fails
when it is created.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sklearn_kd._batch import INPUT, SAMPLE_WEIGHT, student_key
from sklearn_kd.losses import (
    AdversarialGradientMatching,
    DistillationTerm,
    InputGradientMatching,
    LayerGradientMatching,
    Objective,
    available_terms,
    get_term,
)
from sklearn_kd.students import MLP, DistillationNet

PROTOCOL = ("computes_signals", "needs_input_grad", "has_adversary")


def _overrides(cls, name):
    return getattr(cls, name) is not getattr(DistillationTerm, name)


@pytest.mark.parametrize("name", available_terms())
def test_registered_terms_declare_what_they_override(name):
    """Each registered term's declarations match the methods it overrides."""
    cls = get_term(name)
    for attr in PROTOCOL:
        assert isinstance(getattr(cls, attr), bool), (cls.__name__, attr)
    assert cls.computes_signals == _overrides(cls, "teacher_signals")
    assert cls.has_adversary == _overrides(cls, "make_adversary")
    if cls.has_adversary:
        assert _overrides(cls, "adversary_loss")


def test_the_gradient_terms_declarations():
    """Input-gradient terms differentiate by the input; GREAT has an adversary."""
    assert InputGradientMatching.needs_input_grad
    assert AdversarialGradientMatching.needs_input_grad
    assert AdversarialGradientMatching.has_adversary
    assert not InputGradientMatching.has_adversary
    assert LayerGradientMatching.computes_signals
    assert not LayerGradientMatching.needs_input_grad


def test_defaults_declare_nothing():
    """A plain term computes nothing, differentiates nothing, has no adversary."""
    for attr in PROTOCOL:
        assert getattr(DistillationTerm, attr) is False


def test_undeclared_teacher_signals_fail_at_class_creation():
    """Overriding teacher_signals without computes_signals is a TypeError."""
    with pytest.raises(TypeError, match="computes_signals = True"):

        class Sneaky(DistillationTerm):
            def teacher_signals(self, probe):
                return {}


def test_declared_signals_without_the_method_fail():
    with pytest.raises(TypeError, match="does not override teacher_signals"):

        class Empty(DistillationTerm):
            computes_signals = True


def test_adversary_needs_both_methods():
    """has_adversary = True needs make_adversary and adversary_loss."""
    with pytest.raises(TypeError, match="make_adversary and adversary_loss"):

        class Lonely(DistillationTerm):
            has_adversary = True

    with pytest.raises(TypeError, match="adversary_loss"):

        class Half(DistillationTerm):
            has_adversary = True

            def make_adversary(self, context):
                return nn.Linear(1, 1)


def test_undeclared_adversary_fails():
    """An adversary the distiller would never train is a TypeError."""
    with pytest.raises(TypeError, match="has_adversary = True"):

        class Hidden(DistillationTerm):
            def make_adversary(self, context):
                return nn.Linear(1, 1)


def test_subclass_of_a_declaring_term_inherits_its_declarations():
    """A subclass that overrides teacher_signals again needs no new declaration."""

    class Zeroed(InputGradientMatching):
        def teacher_signals(self, probe):
            return super().teacher_signals(probe)

    assert Zeroed.computes_signals and Zeroed.needs_input_grad


def test_adversary_lr_is_the_terms_or_the_nets():
    """GREAT's discriminator has its own lr; other terms keep the net's."""
    assert AdversarialGradientMatching(lr=0.05).adversary_lr(1e-3) == 0.05
    assert InputGradientMatching().adversary_lr(1e-3) == 1e-3


class _Adversarial(DistillationTerm):
    """A term with a returned-by-test adversary."""

    has_adversary = True
    made = None

    def make_adversary(self, context):
        return self.made

    def adversary_loss(self, adversary):
        return adversary.weight.sum()

    def loss(self, y_pred, batch, student, module=None):
        return (y_pred**2).mean(dim=1)


def _objective(term):
    return Objective("mse", 1.0, [("adv", term)], context={"n_inputs": 3})


def test_objective_builds_adversaries_of_declaring_terms_only():
    """Only terms with has_adversary get an adversary; a None one is an error."""
    student = MLP(in_features=3, out_features=1, hidden_layer_sizes=(4,))
    term = _Adversarial()
    term.made = nn.Linear(2, 1)
    objective = _objective(term)
    objective.build(student)
    assert list(objective.adversaries) == ["adv"]

    term.made = None
    with pytest.raises(TypeError, match=r"must return a torch\.nn\.Module"):
        _objective(term).build(student)


def test_objective_reads_needs_input_grad():
    assert _objective(InputGradientMatching()).needs_input_grad
    assert not _objective(_Adversarial()).needs_input_grad
    assert not _objective(InputGradientMatching(weight=0)).needs_input_grad


def test_net_uses_the_terms_adversary_lr():
    """The adversary optimizer's learning rate comes from adversary_lr."""

    class Slow(_Adversarial):
        def adversary_lr(self, default):
            return default / 10

    term = Slow()
    term.made = nn.Linear(2, 1)
    net = DistillationNet(
        MLP,
        module__in_features=3,
        module__out_features=1,
        module__hidden_layer_sizes=(4,),
        criterion=_objective(term),
        lr=0.5,
        max_epochs=1,
        train_split=None,
    )
    net.initialize()
    groups = net.optimizer_adversary_.param_groups
    assert [g["lr"] for g in groups] == [0.05]


def test_batch_keys():
    """The batch keys the net and the terms share."""
    assert INPUT == "X"
    assert SAMPLE_WEIGHT == "sample_weight"
    assert student_key("hidden_1") == "student:hidden_1"
    x = torch.zeros(2, 3)
    assert {INPUT: x}[INPUT] is x
