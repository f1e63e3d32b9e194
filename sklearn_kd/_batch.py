"""The keys of the batch dictionary a distillation term receives.

Training runs on dictionaries of tensors, one row per transfer row. The net
feeds :data:`INPUT` to the student and hands the whole dictionary to the
objective, which passes it to every term's ``loss(y_pred, batch, student)``:

=========================  ====================================================
key                        value, per row unless said otherwise
=========================  ====================================================
``INPUT`` ``"X"``          the student's input (preprocessed, float32)
``TARGET`` ``"y"``         the task target: standardised values (regression)
                           or class indices (classification); set by the
                           objective
``SAMPLE_WEIGHT``          the row's weight, when ``fit`` had ``sample_weight``
``LABELED``                1.0 for rows with a label, 0.0 for unlabeled and
                           synthetic rows (present only when there are some)
``PREDICTION``             the teacher's standardised predictions (regression)
``LOGITS``                 the teacher's class logits aligned to ``classes_``
``TEACHER_OUTPUTS``        the teacher's targets, for terms that ask for them in
                           ``teacher_signals``
``TARGET_SCALE``           the regression targets' scale, one value per output
                           (a constant, not per row)
``"student:<layer>"``      a student layer's output caught during the forward
                           pass, flattened per row (:func:`student_key`)
``"shared:<name>"``        a term's signal with one value for every row
                           (:data:`SHARED_PREFIX`)
other keys                 whatever the terms' ``teacher_signals`` returned
=========================  ====================================================

``PREDICTION`` and ``LOGITS`` are also the names of the teacher's signals
(``Teacher.signals``, ``Teacher.query``); :mod:`sklearn_kd.teachers`
re-exports them. This module imports nothing from the rest of ``sklearn_kd``.
"""

from __future__ import annotations

#: The student's input.
INPUT = "X"
#: The task target (standardised values or class indices).
TARGET = "y"
#: Per-row sample weights.
SAMPLE_WEIGHT = "sample_weight"
#: 1.0 where the row has a label, 0.0 otherwise.
LABELED = "labeled"
#: Regression predictions, shape (n_samples, n_outputs).
PREDICTION = "prediction"
#: Class scores whose softmax gives the teacher's class probabilities, shape
#: (n_samples, n_teacher_classes), columns in the order of ``Teacher.classes``.
LOGITS = "logits"
#: The teacher's targets (``PREDICTION`` or ``LOGITS`` after alignment), for
#: terms that compute their own signals and also need the outputs.
TEACHER_OUTPUTS = "teacher_outputs"
#: The regression targets' scale (a constant of the objective).
TARGET_SCALE = "target_scale"
#: Prefix of a student layer's output caught during the forward pass.
STUDENT_PREFIX = "student:"
#: Prefix of a term signal that is one value for every row.
SHARED_PREFIX = "shared:"


def student_key(layer: str) -> str:
    """The batch key of the student layer ``layer``'s output."""
    return f"{STUDENT_PREFIX}{layer}"
