"""Route-constrained distillation: a teacher seen along its training route.

Checkpoint outputs are checked against the models' own staged or per-tree
predictions; the schedule through ``history_``; the targets the student
really trains on by spying on the objective; and what the fitted student
keeps, what fails before training and what ``memory`` saves.
"""

import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
from _shared import XC, XR, YC, YR, tiny
from sklearn.ensemble import (
    BaggingRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import (
    FeatureMatching,
    HPLoss,
    InputGradientMatching,
    SoftTargets,
)
from sklearn_kd.students import MLP
from sklearn_kd.teachers import RouteSchedule, TeacherRoute
from sklearn_kd.teachers._route import _Stage, route_starts

# _shared's small data: the regression as X, Y; the classes as XC, YC.
X, Y = XR, YR

# Four epochs (TINY has 3): the refusals below (6 checkpoints, a milestone at
# epoch 4) are set against four.
TINY = tiny(max_epochs=4)


def _logits(proba):
    return np.log(np.clip(proba, 1e-6, 1.0))


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def boosting():
    """12 stages of depth-2 trees."""
    return GradientBoostingRegressor(n_estimators=12, max_depth=2, random_state=0).fit(
        X, Y
    )


@pytest.fixture(scope="module")
def hgb_classifier():
    return HistGradientBoostingClassifier(max_iter=8, random_state=0).fit(XC, YC)


# ----------------------------------------------------------------------
# 1. The schedule
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "n_checkpoints,max_epochs,milestones,expected",
    [
        (3, 7, None, [0, 0, 1, 1, 2, 2, 2]),
        (4, 4, None, [0, 1, 2, 3]),
        (2, 5, None, [0, 0, 1, 1, 1]),
        (3, 6, [1, 5], [0, 1, 1, 1, 1, 2]),
        (4, 5, [1, 2, 3], [0, 1, 2, 3, 3]),
    ],
)
def test_route_visits_every_checkpoint_in_order(
    boosting, n_checkpoints, max_epochs, milestones, expected
):
    """teacher_checkpoint goes 0, ..., C-1 in order, evenly or at the milestones."""
    route = TeacherRoute.from_staged(boosting, n_checkpoints, milestones=milestones)
    model = DistilledRegressor(route, **{**TINY, "max_epochs": max_epochs}).fit(X, Y)
    visited = model.history_[:, "teacher_checkpoint"]
    assert visited == expected
    assert visited[0] == 0 and visited[-1] == n_checkpoints - 1
    assert all(b >= a for a, b in itertools.pairwise(visited))
    assert set(visited) == set(range(n_checkpoints))


def test_classifier_route_visits_every_checkpoint(hgb_classifier):
    """A classifier's route is followed the same way."""
    route = TeacherRoute.from_staged(hgb_classifier, 4)
    model = DistilledClassifier(route, **{**TINY, "max_epochs": 8}).fit(XC, YC)
    assert model.history_[:, "teacher_checkpoint"] == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    "n_checkpoints,max_epochs,milestones,expected",
    [
        (4, 8, None, [1, 3, 5, 7]),
        (3, 7, None, [1, 3, 5]),
        (2, 2, None, [1, 2]),
        (3, 2, None, [1, 1, 2]),  # more checkpoints than epochs: some skipped
        (3, 10, [2, 5], [1, 3, 6]),
        (2, 10, [9], [1, 10]),
    ],
)
def test_route_starts(n_checkpoints, max_epochs, milestones, expected):
    """route_starts: 1-based first epoch of each checkpoint."""
    assert route_starts(n_checkpoints, max_epochs, milestones) == expected


def test_even_route_starts_reach_the_final_checkpoint():
    """Evenly spread, the first checkpoint starts at epoch 1, each later one
    later, and the last one no later than the last epoch."""
    for n_checkpoints in range(2, 7):
        for max_epochs in range(n_checkpoints, 15):
            starts = route_starts(n_checkpoints, max_epochs)
            assert starts[0] == 1
            assert all(b > a for a, b in itertools.pairwise(starts))
            assert starts[-1] <= max_epochs


# ----------------------------------------------------------------------
# 2. Checkpoints
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        GradientBoostingRegressor(n_estimators=12, max_depth=2, random_state=0),
        HistGradientBoostingRegressor(max_iter=12, random_state=0),
    ],
    ids=["gb", "hgb"],
)
def test_staged_regressor_checkpoints_are_its_stages(model):
    """from_staged: checkpoint k predicts staged_predict at its stage; the last
    is the whole model."""
    model = copy.deepcopy(model).fit(X, Y)
    route = TeacherRoute.from_staged(model, n_checkpoints=4)
    staged = list(model.staged_predict(X))
    assert [c.size for c in route.checkpoints] == [3, 6, 9, 12]
    outputs = [c.query(X, ["prediction"])["prediction"] for c in route.checkpoints]
    for checkpoint, out in zip(route.checkpoints, outputs, strict=True):
        np.testing.assert_array_equal(out[:, 0], staged[checkpoint.size - 1])
    np.testing.assert_array_equal(outputs[-1][:, 0], model.predict(X))
    assert not np.allclose(outputs[0], outputs[-1])
    assert route.is_classifier is False


def test_staged_classifier_checkpoints_are_its_stage_probabilities(hgb_classifier):
    """HGB classifier checkpoints: log(clip(staged_predict_proba)) at each stage."""
    route = TeacherRoute.from_staged(hgb_classifier, n_checkpoints=4)
    staged = list(hgb_classifier.staged_predict_proba(XC))
    assert [c.size for c in route.checkpoints] == [2, 4, 6, 8]
    for checkpoint in route.checkpoints:
        logits = checkpoint.query(XC, ["logits"])["logits"]
        np.testing.assert_allclose(logits, _logits(staged[checkpoint.size - 1]))
    final = route.checkpoints[-1].query(XC, ["logits"])["logits"]
    np.testing.assert_allclose(final, _logits(hgb_classifier.predict_proba(XC)))
    np.testing.assert_array_equal(route.classes, hgb_classifier.classes_)
    assert route.is_classifier is True


def test_forest_checkpoints_are_tree_prefixes():
    """Forest checkpoints: the mean of the first k trees; the last, the forest."""
    forest = RandomForestRegressor(n_estimators=6, max_depth=3, random_state=0)
    forest.fit(X, Y)
    route = TeacherRoute.from_staged(forest, n_checkpoints=3)
    X32 = X.astype(np.float32)
    for checkpoint, k in zip(route.checkpoints, [2, 4, 6], strict=True):
        expected = np.mean([t.predict(X32) for t in forest.estimators_[:k]], axis=0)
        out = checkpoint.query(X, ["prediction"])["prediction"][:, 0]
        np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(out, forest.predict(X), rtol=1e-12)


def test_forest_classifier_checkpoints_average_tree_probabilities():
    """Classifier forest checkpoints: log of the mean class probabilities of
    the first k trees; the last, the forest's predict_proba."""
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0)
    forest.fit(XC, YC)
    route = TeacherRoute.from_staged(forest, n_checkpoints=2)
    X32 = XC.astype(np.float32)
    for checkpoint, k in zip(route.checkpoints, [2, 4], strict=True):
        proba = np.mean([t.predict_proba(X32) for t in forest.estimators_[:k]], 0)
        logits = checkpoint.query(XC, ["logits"])["logits"]
        np.testing.assert_allclose(logits, _logits(proba), rtol=1e-12)
    np.testing.assert_allclose(logits, _logits(forest.predict_proba(XC)), rtol=1e-12)


def test_bagging_checkpoints_use_each_estimators_features():
    """A bagging ensemble whose estimators saw feature subsets: each prefix
    averages its estimators on their own columns; the last is the model."""
    bagging = BaggingRegressor(
        DecisionTreeRegressor(max_depth=3),
        n_estimators=4,
        bootstrap_features=True,
        random_state=0,
    ).fit(X, Y)
    route = TeacherRoute.from_staged(bagging, n_checkpoints=4)
    final = route.checkpoints[-1].query(X, ["prediction"])["prediction"][:, 0]
    np.testing.assert_allclose(final, bagging.predict(X), rtol=1e-10)


def test_state_dict_checkpoints_restore_each_state():
    """from_state_dicts: checkpoint k is the module with state k; the module
    passed in is left as it was."""
    module = MLP(in_features=4, out_features=1, hidden_layer_sizes=(5,)).train()
    before = _state(module)
    states = []
    for seed in range(3):
        torch.manual_seed(seed)
        states.append(
            MLP(in_features=4, out_features=1, hidden_layer_sizes=(5,)).state_dict()
        )
    route = TeacherRoute.from_state_dicts(module, states)
    outputs = []
    for checkpoint, state in zip(route.checkpoints, states, strict=True):
        assert checkpoint.module is not module
        reference = copy.deepcopy(module)
        reference.load_state_dict(state)
        with torch.no_grad():
            expected = reference.eval()(torch.as_tensor(X, dtype=torch.float32))
        out = checkpoint.query(X, ["prediction"])["prediction"]
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-6)
        outputs.append(out)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(outputs[i], outputs[j])
    assert module.training
    after = module.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    model = DistilledRegressor(route, **{**TINY, "max_epochs": 3}).fit(X, Y)
    assert model.history_[:, "teacher_checkpoint"] == [0, 1, 2]


# ----------------------------------------------------------------------
# 3. The student trains on each checkpoint's targets in turn
# ----------------------------------------------------------------------
def _rows(batch_X, batch_values, reference_X):
    """``batch_values`` reordered to the rows of ``reference_X``."""
    order_batch = np.lexsort(batch_X.T)
    order_reference = np.lexsort(reference_X.T)
    np.testing.assert_array_equal(batch_X[order_batch], reference_X[order_reference])
    out = np.empty_like(batch_values)
    out[order_reference] = batch_values[order_batch]
    return out


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_batch_targets_are_the_current_checkpoints(monkeypatch, task, boosting):
    """Each epoch's batch targets are that checkpoint's (standardised) outputs."""
    if task == "regression":
        term, key, data, y = HPLoss, "prediction", X, Y
        teacher = boosting
        staged = [s[:, None] for s in boosting.staged_predict(X)]
        staged = [(s - Y.mean()) / Y.std() for s in staged]
        distiller = DistilledRegressor
    else:
        term, key, data, y = SoftTargets, "logits", XC, YC
        teacher = HistGradientBoostingClassifier(max_iter=12, random_state=0)
        teacher.fit(XC, YC)
        staged = [_logits(p) for p in teacher.staged_predict_proba(XC)]
        distiller = DistilledClassifier
    seen = []
    original = term.loss

    def spy(self, y_pred, batch, student, **kwargs):
        seen.append((batch["X"].numpy().copy(), batch[key].numpy().copy()))
        return original(self, y_pred, batch, student, **kwargs)

    monkeypatch.setattr(term, "loss", spy)
    route = TeacherRoute.from_staged(teacher, n_checkpoints=4)
    model = distiller(
        route, preprocessor=None, **{**TINY, "batch_size": 128, "max_epochs": 4}
    ).fit(data, y)
    assert model.history_[:, "teacher_checkpoint"] == [0, 1, 2, 3]
    assert len(seen) == 4  # one batch per epoch, no validation
    reference = data.astype(np.float32)
    for (batch_X, targets), size in zip(seen, [3, 6, 9, 12], strict=True):
        got = _rows(batch_X, targets, reference)
        np.testing.assert_allclose(got, staged[size - 1], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------
# 4. What the fitted student keeps
# ----------------------------------------------------------------------
def test_fitted_student_does_not_keep_the_route():
    """After fit RouteSchedule.routes is empty and student_ pickles no bigger
    than a student trained without a route."""
    rng = np.random.default_rng(1)
    X_big = rng.normal(size=(3000, 4))
    y_big = X_big[:, 0] - X_big[:, 1] ** 2
    boosting = GradientBoostingRegressor(n_estimators=6, max_depth=2, random_state=0)
    boosting.fit(X_big, y_big)
    settings = {**TINY, "max_epochs": 6, "batch_size": 1000}
    route = TeacherRoute.from_staged(boosting, n_checkpoints=6)
    routed = DistilledRegressor(route, **settings).fit(X_big, y_big)
    plain = DistilledRegressor(boosting, **settings).fit(X_big, y_big)
    [schedule] = [
        c for _, c in routed.student_.callbacks_ if isinstance(c, RouteSchedule)
    ]
    assert schedule.routes == {}
    # The route alone: 3000 rows x 6 checkpoints x 4 bytes = 72 kB.
    routed_size = len(pickle.dumps(routed.student_))
    plain_size = len(pickle.dumps(plain.student_))
    assert routed_size < plain_size + 4096, (routed_size, plain_size)


# ----------------------------------------------------------------------
# 5. Errors
# ----------------------------------------------------------------------
def test_route_needs_two_checkpoints(boosting):
    """A route of fewer than two checkpoints is refused."""
    for checkpoints in ([], [boosting]):
        with pytest.raises(ValueError, match="at least two checkpoints"):
            TeacherRoute(checkpoints)


@pytest.mark.parametrize(
    "milestones", [[3], [3, 5, 7], [5, 3], [2, 2], [0, 2], [-1, 2]]
)
def test_bad_milestones_are_refused(boosting, milestones):
    """milestones must be C-1 increasing positive epochs."""
    with pytest.raises(ValueError, match="2 increasing positive"):
        TeacherRoute([boosting, boosting, boosting], milestones=milestones)
    with pytest.raises(ValueError, match="2 increasing positive"):
        TeacherRoute.from_staged(boosting, 3, milestones=milestones)


def test_route_with_more_checkpoints_than_epochs_is_refused(boosting):
    """Every checkpoint needs an epoch; fewer epochs fail before any epoch."""
    route = TeacherRoute.from_staged(boosting, 6)
    model = DistilledRegressor(route, **TINY)  # max_epochs=4
    with pytest.raises(ValueError, match="every checkpoint needs at least one"):
        model.fit(X, Y)


def test_staged_route_serves_features_from_the_whole_model(boosting):
    """A from_staged route gives FitNets the final (whole) ensemble's trees."""
    route = TeacherRoute.from_staged(boosting, 2)
    term = FeatureMatching(teacher_layer="trees")
    model = DistilledRegressor(route, terms=[("fit", term)], **TINY).fit(X, Y)
    assert model.teacher_rows_evaluated_ == {"features[trees]": len(X)}
    with pytest.raises(ValueError, match="exposes no hidden features"):
        route.checkpoints[0].features(X, "trees")


def test_route_terms_read_the_final_teachers_outputs(boosting, monkeypatch):
    """Terms computing their own signals on a route see the final checkpoint's
    outputs (matching its derivatives), not the earliest one's."""
    from sklearn_kd.teachers._probe import TeacherProbe

    seen = []
    original = TeacherProbe.teacher_outputs

    def spy(self):
        seen.append(original(self))
        return seen[-1]

    monkeypatch.setattr(TeacherProbe, "teacher_outputs", spy)
    route = TeacherRoute.from_staged(boosting, 2)
    term = InputGradientMatching(target="loss")
    model = DistilledRegressor(route, terms=[("g", term)], **TINY).fit(X, Y)
    final = (boosting.predict(X) - model._target_mean_) / model._target_scale_
    np.testing.assert_allclose(seen[0][:, 0], final)
    assert model.history_[:, "teacher_checkpoint"][0] == 0


def test_milestones_beyond_training_are_refused(boosting):
    """A route whose last move comes after the last epoch fails before any epoch."""
    route = TeacherRoute.from_staged(boosting, 3, milestones=[2, 4])
    model = DistilledRegressor(route, **TINY)  # max_epochs=4
    with pytest.raises(ValueError, match="never reach the final checkpoint"):
        model.fit(X, Y)
    assert not hasattr(model, "history_")


def test_from_staged_needs_stages_or_trees():
    """from_staged on a model without stages or trees raises TypeError."""
    linear = LinearRegression().fit(X, Y)
    with pytest.raises(TypeError, match=r"neither stages .* nor trees"):
        TeacherRoute.from_staged(linear)


@pytest.mark.parametrize("n_checkpoints", [0, 1, 13])
def test_n_checkpoints_out_of_range(boosting, n_checkpoints):
    """n_checkpoints must be between 2 and the number of stages."""
    with pytest.raises(ValueError, match="between 2 and the 12 stages"):
        TeacherRoute.from_staged(boosting, n_checkpoints)


def test_route_of_the_wrong_task_fails_before_training(boosting, no_training):
    """A regression route cannot teach a classifier; fit says so before training."""
    route = TeacherRoute.from_staged(boosting, 3)
    with pytest.raises(ValueError, match="needs a classification teacher"):
        DistilledClassifier(route, **TINY).fit(X, (Y > 0).astype(int))


# ----------------------------------------------------------------------
# 6. memory caches the checkpoints' outputs
# ----------------------------------------------------------------------
def test_memory_reuses_checkpoint_outputs(monkeypatch, tmp_path, boosting):
    """With memory a second fit queries no checkpoint and predicts the same;
    another route is queried afresh."""
    calls = []
    original = _Stage._query_chunk

    def counting(self, X, signal):
        calls.append(self.size)
        return original(self, X, signal)

    monkeypatch.setattr(_Stage, "_query_chunk", counting)
    route = TeacherRoute.from_staged(boosting, 4)
    settings = {**TINY, "memory": str(tmp_path)}
    first = DistilledRegressor(route, **settings).fit(X, Y)
    assert sorted(calls) == [3, 6, 9, 12]
    second = DistilledRegressor(route, **settings).fit(X, Y)
    assert sorted(calls) == [3, 6, 9, 12]  # nothing queried again
    np.testing.assert_array_equal(second.predict(X), first.predict(X))
    assert second.history_[:, "teacher_checkpoint"] == [0, 1, 2, 3]
    other = TeacherRoute.from_staged(boosting, 2)
    DistilledRegressor(other, **settings).fit(X, Y)
    assert sorted(calls) == [3, 6, 6, 9, 12, 12]
