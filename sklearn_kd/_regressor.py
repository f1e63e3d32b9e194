"""``DistilledRegressor``: distil any regression teacher into a small network."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array, check_consistent_length

from sklearn_kd._base import _BaseDistiller
from sklearn_kd._batch import PREDICTION, TARGET_SCALE
from sklearn_kd._compat import StrOptions
from sklearn_kd._inference import _RegressionOutputs
from sklearn_kd.losses import get_term


class DistilledRegressor(RegressorMixin, _RegressionOutputs, _BaseDistiller):
    """A small neural network trained to behave like a regression teacher.

    The student minimises

    .. math::

        L = \\alpha \\, \\mathrm{MSE}(s(x), y) + \\beta \\, L_{distill}(s(x), t(x))
        + \\sum_k w_k L_k

    on targets standardised per output, where :math:`t` is the teacher and
    :math:`L_{distill}` the HP loss (``loss="hp"``) or output matching in the
    units of ``y`` (``loss="outputs"``).

    Parameters
    ----------
    teacher : object
        What to distil. A fitted estimator or Pipeline with ``predict`` (used
        as it is, never refitted, kept as the same object by ``clone``); an
        unfitted estimator (a clone of it is fitted on ``(X, y)``); a
        ``torch.nn.Module`` or a fitted skorch net; a callable ``X -> y``; or
        a :class:`~sklearn_kd.teachers.Teacher` adapter. The teacher always
        gets ``X`` as passed to ``fit`` (a DataFrame stays a DataFrame).
    student : None, torch.nn.Module class or instance, or skorch NeuralNet, default=None
        The network to train. None builds an :class:`~sklearn_kd.students.MLP`
        from ``hidden_layer_sizes``, ``activation`` and ``dropout``. A module
        class gets its input and output widths from the data (through an
        ``in_features``/``out_features``-style constructor argument); an
        instance is copied, its weights used as the starting point. An
        unfitted skorch net is a template whose module, optimizer, callbacks
        and training settings (``max_epochs``, ``lr``, ``batch_size``,
        ``train_split``) replace the flat parameters below.
    alpha : float, default=0.5
        Weight of the task loss (MSE to the true ``y``), in [0, 1].
        ``alpha=1`` with ``beta=0`` trains the same student from scratch.
    beta : float or None, default=None
        Weight of the main distillation term; None means ``1 - alpha``.
    loss : {'hp', 'outputs'}, default='hp'
        Main distillation term: ``'hp'`` is the MSE to the teacher's
        predictions on standardised targets (:class:`~sklearn_kd.losses.HPLoss`);
        ``'outputs'`` the MSE in the units of ``y``
        (:class:`~sklearn_kd.losses.OutputMatching`).
    terms : list of (str, DistillationTerm) or None, default=None
        Extra distillation terms, each with its own ``weight``, searchable as
        ``terms__<name>__<param>``: e.g. the gradient terms of
        :mod:`sklearn_kd.losses` (``InputGradientMatching``,
        ``AdversarialGradientMatching``, ``LayerGradientMatching``).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the default student.
    activation : {'relu', 'gelu', 'silu', 'tanh', 'leaky_relu'}, default='relu'
        Activation of the default student.
    dropout : float, default=0.0
        Dropout of the default student.
    max_epochs : int or 'auto', default='auto'
        Training epochs (the most, with early stopping). ``'auto'``: at most
        1000 with early stopping, which ends most fits far sooner (it lets a
        small table, a few batches an epoch, train until its validation loss
        stops improving), and 300 without it.
    batch_size : int, default=256
        Rows per training batch.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay.
    early_stopping : bool or 'auto', default='auto'
        Hold out ``validation_fraction`` of the rows, stop when the
        student's objective on them (``valid_loss``; the task loss alone for a
        student from scratch) has not improved for ``patience`` epochs, and
        restore the best weights. ``'auto'`` (as in
        HistGradientBoosting) turns it on from 200 labelled rows (every class
        with two or more), except for a ``TeacherRoute``, whose checkpoints
        follow the epochs; ``early_stopping_`` says what was done. On the
        benchmark it let mid-sized tables train longer (Yogurt accuracy 0.80
        -> 0.83) and stopped small noisy ones before they
        overfit (Diabetes R^2 0.22 -> 0.31).
    validation_fraction : float, default=0.1
        Share of rows held out when ``early_stopping`` is on.
    patience : int, default=20
        Epochs without improvement before early stopping (10 stopped a
        4-class student at a noisy plateau: 0.58 accuracy against 0.83).
    numeric_encoding : {'piecewise_linear', 'periodic', 'none'}, \
            default='piecewise_linear'
        How the default student's first module encodes each numeric column
        (:class:`~sklearn_kd.students.NumericEncoding`, inside the network, so
        it trains on ``device`` and travels into every export).
        ``'piecewise_linear'`` (Gorishniy et al., 2022) gives a column one
        input per bin, so that a step of a tree teacher is one weight of the
        student; ``'periodic'`` learns ``cos``/``sin`` features of each column;
        ``'none'`` feeds the standardised number as it is. One-hot encoded
        string columns pass through. Ignored for a ``student`` of your own.
    n_bins : int >= 2 or 'auto', default='auto'
        Piecewise-linear bins per numeric column, on average: with bins from
        a tree teacher's splits, the columns it uses most get more (an id
        column a forest splits on everywhere may get dozens). ``'auto'``, when
        training holds out a validation set (``early_stopping_``): one student
        for each of 8, 16, 32 and 64 bins (the same seed, the same validation
        rows; counts that give the same bins are trained once), and the one
        with the lowest validation loss is kept; no count wins on every table,
        and this costs up to four trainings. Without a validation set,
        ``'auto'`` takes about one bin per 50 training rows, between 8 and 32.
        Either way the first layer gets at most 256 inputs, encoded or not
        (at least two bins a column); ``n_bins_`` says which count was used.
    binning : {'auto', 'splits', 'outputs', 'quantile'}, default='auto'
        Where the bin edges come from. ``'splits'``: the thresholds a tree
        ensemble teacher splits each column on (scikit-learn forests, extra
        trees, bagged trees, gradient boosting, HistGradientBoosting, XGBoost,
        LightGBM, also as the last step of a Pipeline that passes the column
        through), thinned to ``n_bins`` by how often the teacher uses them;
        a column the teacher never splits on passes through unbinned.
        ``'outputs'``: the thresholds of a small tree fit per column to the
        teacher's outputs on the whole transfer set (any teacher).
        ``'quantile'``: quantiles of each column. ``'auto'``: ``'splits'``
        when the teacher has them, else ``'outputs'``. A student trained from
        scratch (no distillation term active) never looks at the teacher:
        its bins come from a tree fit to the labels. ``bins_source_`` says
        which was used.
    preprocessor : 'auto', None or transformer, default='auto'
        The student's view of ``X``. ``'auto'`` standardises numeric columns
        and one-hot encodes non-numeric DataFrame columns; None uses ``X`` as
        it is (numeric only); a transformer is cloned and fitted on ``X``.
    memory : str, joblib.Memory or None, default=None
        Where to cache what is asked of the teacher, like
        ``Pipeline(memory=...)``: a directory or a ``joblib.Memory``; None
        caches nothing. Cached: the teacher's outputs on the transfer rows (and
        its derivatives, features and route checkpoints), the synthetic rows of
        ``augment`` and the out-of-fold outputs of ``teacher_cv``, so every
        candidate of a grid over ``alpha`` and ``T`` queries the teacher and
        generates synthetic rows once per fold, also across processes. Keys
        are content hashes of the teacher's fingerprint, the rows, the target
        encoding and, for synthetic rows, the generator and the seed drawn from
        ``random_state`` (with ``random_state=None`` every fit draws new rows,
        which are not reused). The fingerprint covers an estimator's
        parameters and fitted state (a refitted teacher, or one given other
        parameters, is another teacher; it is hashed once per object and
        process), a torch module's or skorch net's weights (read at every fit,
        so weights changed in place are seen), and a Pipeline, list or ensemble
        member by member. It does not see an array inside a fitted estimator
        modified in place without being replaced (``est.coef_ *= 2``), nor a
        class redefined under the same name. A teacher that is or holds a
        Python function of your own (a callable, ``CallableTeacher``,
        ``functools.partial``, a ``FunctionTransformer(func)``) is never
        cached: its behaviour can change while its name stays, so ``memory``
        is ignored for it with a warning. Functions of numpy, scipy, pandas,
        scikit-learn and torch are fine.
    teacher_cv : int, cross-validation generator or None, default=None
        Out-of-fold teacher outputs for the training rows. None: the teacher
        labels the rows it was trained on, where a forest or boosted ensemble
        mostly repeats ``y``. An int or a splitter (as ``cv`` in
        ``cross_val_predict``): clones of an unfitted teacher are fitted on the
        other folds to label each fold, and the teacher fitted on all rows
        labels only the transfer rows. Needs an unfitted teacher.
    teacher_labels : {'auto', 'in_sample', 'oob'}, default='auto'
        What the teacher says about the rows of ``X``. ``'in_sample'``: its
        outputs, as for any row. ``'oob'``: a bagging ensemble's out-of-bag
        outputs, each row labelled by the members that did not draw it, since
        a forest nearly repeats ``y`` on its own training rows (Breiman,
        "Random Forests", 2001). They are its ``oob_prediction_`` /
        ``oob_decision_function_`` when it was fitted with ``oob_score=True``;
        a scikit-learn random forest or extra-trees model fitted with
        ``bootstrap=True`` has them rebuilt from its bootstrap samples (one
        pass of its trees over ``X``). Either way ``X`` must be the rows the
        teacher was fitted on, in the same order; for a forest that is checked
        against its trees' leaf counts, and a mismatch raises. ``'auto'``:
        ``'oob'`` for such a forest (also the last step of a Pipeline) when
        that check passes, else ``'in_sample'``. Rows that every member drew
        keep their in-sample output; transfer rows are always labelled by the
        whole teacher. ``teacher_labels_`` says what was used.
    augment : {'munge', 'noise'}, generator or None, default=None
        Grow the transfer set with synthetic rows that the teacher labels and
        that enter the distillation terms only: ``'munge'`` is Bucilua et al.'s
        MUNGE (:class:`~sklearn_kd.augmentation.MUNGE`), ``'noise'`` adds
        per-feature Gaussian noise to resampled rows
        (:class:`~sklearn_kd.augmentation.GaussianNoise`); an object with
        ``fit(X)`` and ``sample(n)`` is cloned and used. None adds nothing.
    augment_size : float, default=1.0
        Synthetic rows per training row when ``augment`` is set.
    device : str or torch.device, default='cpu'
        Where the student trains: ``'cpu'``, ``'cuda'``, ``'cuda:N'``, or
        ``'auto'`` (CUDA when available).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split. Torch's
        global RNG is left untouched.
    verbose : int, default=0
        0 prints nothing. 1 prints progress: the teacher's fit and query (and
        how long they took), the logged columns explained once, one row per
        epoch with the epoch count, the losses and the time left, and how
        early stopping ended training; plain text when the output is not a
        terminal. 2 adds a progress bar over the epochs on a terminal.

    Attributes
    ----------
    teacher_ : object
        The teacher used: the fitted ``teacher`` itself, or a fitted clone of
        an unfitted one.
    student_ : skorch.NeuralNet
        The trained student net.
    history_ : skorch.History
        Per-epoch ``train_loss`` (total), ``train_task``, ``train_<term>``
        (unweighted parts) and ``dur``, plus ``valid_*`` with early stopping.
    preprocessor_ : transformer or None
        The fitted preprocessor.
    encoding_ : EncodingSpec or None
        The default student's encoding: encoded columns, their bin edges (in
        standardised units) and columns with missing values; None for a
        ``student`` of your own.
    early_stopping_ : bool
        Whether training stopped early on a validation set (what
        ``early_stopping='auto'`` decided).
    bins_source_ : {'splits', 'outputs', 'labels', 'quantile'} or None
        Where the piecewise-linear bins came from: the teacher's split
        thresholds, a tree on the teacher's outputs, a tree on the labels
        (a student trained from scratch), or quantiles; None when no column
        is binned.
    n_bins_ : int or None
        The bins per numeric column the kept student was trained with (before
        the cap of 256 inputs); None when no column is binned.
    n_bins_search_ : dict of int to float or None
        For ``n_bins='auto'`` with a validation set: each count tried and the
        best validation loss of its student; None when one student was
        trained.
    teacher_labels_ : {'oob', 'in_sample', 'out_of_fold'}
        What labelled the training rows for the distillation terms: out-of-bag
        outputs, in-sample outputs, or out-of-fold outputs (``teacher_cv``).
    device_ : torch.device
        The device the student lives on.
    teacher_query_seconds_ : float
        Wall time spent getting the teacher's outputs in this fit (reading
        them from ``memory`` included; teacher derivatives for gradient terms
        included).
    teacher_rows_evaluated_ : dict of str to int
        Rows the teacher evaluated for signals the terms compute themselves
        (e.g. ``'input_gradient[central]'``: ``2 * d`` per transfer row for
        ``d`` numeric columns); 0 rows when ``memory`` had them, empty when
        no term asks.
    n_outputs_ : int
        Number of regression outputs.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names seen during fit, when ``X`` had string column names.

    See Also
    --------
    DistilledClassifier : The same for classification teachers.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn_kd import DistilledRegressor
    >>> X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    >>> forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> student = DistilledRegressor(forest, max_epochs=20, random_state=0)
    >>> student.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    _task = "regression"
    _task_loss = "mse"

    _parameter_constraints: ClassVar[dict] = {
        **_BaseDistiller._parameter_constraints,
        "loss": [StrOptions({"hp", "outputs"})],
    }

    def __init__(
        self,
        teacher,
        student=None,
        *,
        alpha=0.5,
        beta=None,
        loss="hp",
        terms=None,
        hidden_layer_sizes=(64, 64),
        activation="relu",
        dropout=0.0,
        max_epochs="auto",
        batch_size=256,
        lr=1e-3,
        weight_decay=0.0,
        early_stopping="auto",
        validation_fraction=0.1,
        patience=20,
        numeric_encoding="piecewise_linear",
        n_bins="auto",
        binning="auto",
        preprocessor="auto",
        memory=None,
        teacher_cv=None,
        teacher_labels="auto",
        augment=None,
        augment_size=1.0,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.teacher = teacher
        self.student = student
        self.alpha = alpha
        self.beta = beta
        self.loss = loss
        self.terms = terms
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.numeric_encoding = numeric_encoding
        self.n_bins = n_bins
        self.binning = binning
        self.preprocessor = preprocessor
        self.memory = memory
        self.teacher_cv = teacher_cv
        self.teacher_labels = teacher_labels
        self.augment = augment
        self.augment_size = augment_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _y_check_params(self):
        return {"multi_output": True, "y_numeric": True}

    @property
    def _n_student_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, X, y):
        y = check_array(
            y, ensure_2d=False, dtype=np.float64, input_name="y", estimator=self
        )
        check_consistent_length(X, y)
        self._y_was_1d_ = y.ndim == 1
        y = y.reshape(len(y), -1)
        self.n_outputs_ = y.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            self._target_mean_ = y.mean(axis=0)
            scale = y.std(axis=0)
        if not (np.isfinite(self._target_mean_).all() and np.isfinite(scale).all()):
            j = int(np.flatnonzero(~np.isfinite(self._target_mean_ + scale))[0])
            raise ValueError(
                f"y{'' if y.shape[1] == 1 else f' column {j}'} is too large to "
                f"standardise (values up to {np.abs(y[:, j]).max():.3g}): its mean "
                "or standard deviation overflows. Rescale y (for example divide it "
                "by a power of ten) before fitting."
            )
        self._target_scale_ = np.where(scale > 0, scale, 1.0)
        return ((y - self._target_mean_) / self._target_scale_).astype(np.float32)

    def _check_teacher(self, teacher):
        if teacher.is_classifier:
            raise ValueError(
                f"DistilledRegressor needs a regression teacher, but {teacher.name} "
                "is a classifier (it has predict_proba or decision_function). Use "
                "DistilledClassifier to distil a classifier."
            )

    def _teacher_targets(self, teacher, signals):
        if PREDICTION not in signals:
            return signals
        pred = signals[PREDICTION]
        if pred.shape[1] != self.n_outputs_:
            raise ValueError(
                f"The teacher {teacher.name} gives {pred.shape[1]} output(s) per row "
                f"but y has {self.n_outputs_}; a regression teacher must predict "
                "every target (a multiclass or probability output cannot teach "
                "DistilledRegressor)."
            )
        return {PREDICTION: (pred - self._target_mean_) / self._target_scale_}

    def _main_term(self):
        beta = 1.0 - self.alpha if self.beta is None else self.beta
        return get_term(self.loss)(weight=beta)

    def _objective_constants(self):
        return {TARGET_SCALE: np.asarray(self._target_scale_, dtype=np.float32)}
