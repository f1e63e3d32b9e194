"""Transfer-set generators: MUNGE and GaussianNoise.

Statistical tolerances (MUNGE on conftest's 3,000 diamonds rows, 3 passes,
seed 0): each numeric column's mean within 0.1 of its standard deviation, its
standard deviation within 15 %, and a two-sample Kolmogorov-Smirnov statistic
below 0.05; each categorical column's frequencies within 0.05 in total
variation."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pandas.testing import assert_frame_equal
from scipy import sparse
from scipy.stats import ks_2samp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from sklearn_kd.augmentation import MUNGE, GaussianNoise, make_transfer_set

GENERATORS = [MUNGE, GaussianNoise]


@pytest.fixture(scope="module")
def mixed():
    """Every dtype the output must keep, 300 rows, no missing values."""
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame(
        {
            "f64": rng.normal(size=n),
            "f32": rng.normal(size=n).astype(np.float32),
            "i64": rng.integers(-50, 50, size=n),
            "u8": rng.integers(0, 3, size=n).astype(np.uint8),
            "nullable": pd.array(rng.integers(0, 10, size=n), dtype="Int64"),
            "s": pd.Series(rng.choice(["a", "b", "c"], size=n), dtype="str"),
            "cat": pd.Categorical(
                rng.choice(["lo", "mid"], size=n),
                categories=["lo", "mid", "hi"],
                ordered=True,
            ),
            "flag": rng.random(n) > 0.5,
            "obj": pd.Series(rng.choice(["x", "y"], size=n), dtype=object),
        }
    )


def _numeric(frame):
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


# --------------------------------------------------------------------------
# MUNGE: the procedure
# --------------------------------------------------------------------------
def test_munge_keeps_numeric_marginals(diamonds):
    out = MUNGE(random_state=0).fit(diamonds).sample(3 * len(diamonds))
    for col in _numeric(diamonds):
        train = diamonds[col].to_numpy(dtype=float)
        synth = out[col].to_numpy(dtype=float)
        std = train.std()
        assert abs(synth.mean() - train.mean()) < 0.1 * std, col
        assert 0.85 < synth.std() / std < 1.15, col
        assert ks_2samp(train, synth).statistic < 0.05, col


def test_munge_keeps_categories_and_their_frequencies(diamonds):
    out = MUNGE(random_state=0).fit(diamonds).sample(3 * len(diamonds))
    for col in ["cut", "color", "clarity"]:
        assert set(out[col]) <= set(diamonds[col]), col
        train = diamonds[col].value_counts(normalize=True)
        synth = out[col].value_counts(normalize=True).reindex(train.index)
        assert 0.5 * (train - synth.fillna(0)).abs().sum() < 0.05, col


def test_munge_neighbours_and_full_swap():
    """p=1 and a huge s: every synthetic row is (nearly) its row's neighbour."""
    X = pd.DataFrame({"v": [0.0, 1.0, 10.0], "c": ["a", "b", "c"]})
    munge = MUNGE(p=1.0, s=1e12, random_state=0).fit(X)
    # One mismatch (1) plus the standardised gap: 0 <-> 1 are mutual
    # neighbours and 10 is nearest to 1.
    assert_array_equal(munge.neighbors_, [1, 0, 1])
    out = munge.sample(3)
    assert sorted(out["c"]) == ["a", "b", "b"]
    assert_allclose(sorted(out["v"]), [0.0, 1.0, 1.0], atol=1e-9)


def test_munge_continuous_draw_is_normal_around_the_neighbour():
    """Two mutual neighbours 0 and 1, p=1, s=2: draws N(1, 0.5) and N(0, 0.5).

    Their mixture has mean 0.5 and variance 0.25 + 0.5**2 = 0.5.
    """
    X = np.array([[0.0], [1.0]])
    out = MUNGE(p=1.0, s=2.0, random_state=0).fit(X).sample(40_000)[:, 0]
    assert abs(out.mean() - 0.5) < 0.02
    assert abs(out.var() - 0.5) < 0.02


def test_munge_p0_cycles_through_the_training_rows(mixed):
    """p=0: the training rows exactly, each pass a permutation of them."""
    n = len(mixed)
    out = MUNGE(p=0.0, random_state=0).fit(mixed).sample(2 * n + n // 2)
    key = list(mixed.columns)

    def rows(frame):
        return frame.sort_values(key).reset_index(drop=True)

    assert_frame_equal(rows(out.iloc[:n]), rows(mixed))
    assert_frame_equal(rows(out.iloc[n : 2 * n]), rows(mixed))
    assert not out.iloc[:n].reset_index(drop=True).equals(out.iloc[n : 2 * n])
    last = out.iloc[2 * n :].merge(mixed, how="left", indicator=True)
    assert (last["_merge"] == "both").all()


def test_munge_p0_ndarray_rows_are_exact():
    X = np.arange(40, dtype=np.int64).reshape(20, 2) * 10**15 + 1
    out = MUNGE(p=0.0, random_state=0).fit(X).sample(20)
    assert out.dtype == np.int64
    assert_array_equal(np.sort(out, axis=0), X)


def test_munge_chunking_does_not_change_the_result(mixed):
    one = MUNGE(random_state=3).fit(mixed).sample(1000)
    many = MUNGE(random_state=3, chunk_size=7).fit(mixed).sample(1000)
    assert_frame_equal(one, many)


def test_munge_large_table_bounded_memory():
    """10x a 50k x 10 table: peak memory of sample about the output's size."""
    rng = np.random.default_rng(0)
    n = 50_000
    latent = rng.normal(size=(n, 2))
    values = latent @ rng.normal(size=(2, 8)) + 0.05 * rng.normal(size=(n, 8))
    X = pd.DataFrame(values, columns=[f"x{i}" for i in range(8)])
    X["x6"] = np.round(X["x6"] * 10).astype(np.int32)
    X["x7"] = X["x7"].astype(np.float32)
    X["c"] = pd.Series(np.where(latent[:, 0] > 0, "hi", "lo"), dtype="str")
    X["k"] = pd.Categorical(np.digitize(latent[:, 1], [-1, 0, 1]))
    munge = MUNGE(random_state=0).fit(X)
    tracemalloc.start()
    try:
        out = munge.sample(10 * n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (10 * n, 10)
    assert out.dtypes.equals(X.dtypes)
    # Output ~ 10 * n * (6*8 + 4 + 4 + 8 + 1) bytes = 33 MB; a copy of whole
    # intermediate arrays would at least double it.
    output_bytes = out.memory_usage(index=False).sum()
    assert peak < 2 * output_bytes


# --------------------------------------------------------------------------
# GaussianNoise
# --------------------------------------------------------------------------
def test_gaussian_noise_grows_std_by_sqrt_one_plus_scale_squared():
    rng = np.random.default_rng(0)
    n = 5000
    X = pd.DataFrame(
        {
            "a": rng.normal(3.0, 2.0, size=n),
            "b": rng.exponential(size=n),
            "const": np.full(n, 7.0),
            "id": pd.Series([f"r{i}" for i in range(n)], dtype="str"),
            "c": pd.Series(rng.choice(["u", "v"], size=n), dtype="str"),
        }
    )
    scale = 0.5
    noise = GaussianNoise(scale=scale, random_state=0).fit(X)
    out = noise.sample(40_000)
    assert_allclose(noise.std_, X[["a", "b", "const"]].std(ddof=0))
    for col in ["a", "b"]:
        ratio = out[col].std(ddof=0) / X[col].std(ddof=0)
        assert abs(ratio - np.sqrt(1 + scale**2)) < 0.03, col
        assert abs(out[col].mean() - X[col].mean()) < 0.05 * X[col].std(), col
    assert (out["const"] == 7.0).all()
    # Categorical columns come from one training row, unchanged.
    pairs = out[["id", "c"]].merge(X[["id", "c"]], how="left", indicator=True)
    assert (pairs["_merge"] == "both").all()


def test_gaussian_noise_scale_zero_is_a_bootstrap(mixed):
    out = GaussianNoise(scale=0.0, random_state=0).fit(mixed).sample(500)
    found = out.merge(mixed.drop_duplicates(), how="left", indicator=True)
    assert (found["_merge"] == "both").all()


# --------------------------------------------------------------------------
# Both: output form, integers, reproducibility
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Generator", GENERATORS)
def test_dataframe_keeps_columns_and_dtypes(Generator, mixed):
    gen = Generator(random_state=0).fit(mixed)
    out = gen.sample(700)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(mixed.columns)
    assert out.dtypes.equals(mixed.dtypes)
    assert out["cat"].cat.categories.tolist() == ["lo", "mid", "hi"]
    assert out["cat"].cat.ordered
    assert isinstance(out.index, pd.RangeIndex) and len(out) == 700
    assert out.notna().all().all()
    for col in ["s", "cat", "flag", "obj"]:
        assert set(out[col]) <= set(mixed[col]), col
    assert_array_equal(gen.feature_names_in_, mixed.columns)
    assert gen.categorical_columns_ == ["s", "cat", "flag", "obj"]
    assert gen.integer_columns_ == ["i64", "u8", "nullable"]


@pytest.mark.parametrize("Generator", GENERATORS)
def test_non_string_column_names_are_kept(Generator):
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=[2, 0, 1])
    X.columns.name = "features"
    out = Generator(random_state=0).fit(X).sample(10)
    assert out.columns.equals(X.columns)
    assert out.columns.name == "features"


@pytest.mark.parametrize("Generator", GENERATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.bool_])
def test_ndarray_stays_an_ndarray_of_its_dtype(Generator, dtype):
    X = np.random.default_rng(0).normal(0, 5, size=(50, 4)).astype(dtype)
    out = Generator(random_state=0).fit(X).sample(120)
    assert isinstance(out, np.ndarray)
    assert out.shape == (120, 4) and out.dtype == dtype


@pytest.mark.parametrize("Generator", GENERATORS)
def test_integer_columns_are_rounded_and_clipped_to_their_dtype(Generator, mixed):
    wide = {"scale": 3.0} if Generator is GaussianNoise else {"s": 0.2}
    out = Generator(random_state=0, **wide).fit(mixed).sample(3000)
    # uint8 values 0..2 with wide noise: clipped at 0, never wrapped to 255.
    assert out["u8"].min() == 0
    assert out["u8"].max() < 50
    assert out["i64"].dtype == np.int64 and out["nullable"].dtype == "Int64"


@pytest.mark.parametrize("Generator", GENERATORS)
def test_reproducible_with_random_state(Generator, mixed):
    first = Generator(random_state=0).fit(mixed)
    a = first.sample(400)
    assert_frame_equal(a, Generator(random_state=0).fit(mixed).sample(400))
    # The stream continues across sample calls and restarts at fit.
    b = first.sample(400)
    assert not a.equals(b)
    assert_frame_equal(a, first.fit(mixed).sample(400))
    assert not a.equals(Generator(random_state=1).fit(mixed).sample(400))


# --------------------------------------------------------------------------
# make_transfer_set and scikit-learn conventions
# --------------------------------------------------------------------------
def test_make_transfer_set(mixed):
    expected = MUNGE(random_state=0).fit(mixed).sample(600)
    assert_frame_equal(make_transfer_set("munge", mixed, 600, random_state=0), expected)
    munge = MUNGE()
    assert_frame_equal(make_transfer_set(munge, mixed, 600, random_state=0), expected)
    assert not hasattr(munge, "neighbors_")  # a clone was fitted
    assert munge.random_state is None
    # The generator's own seed wins over the fallback.
    own = make_transfer_set(MUNGE(random_state=0), mixed, 600, random_state=5)
    assert_frame_equal(own, expected)
    noise = make_transfer_set("noise", mixed, 50, random_state=0)
    assert_frame_equal(noise, GaussianNoise(random_state=0).fit(mixed).sample(50))


@pytest.mark.parametrize("Generator", GENERATORS)
def test_sklearn_conventions(Generator):
    check_no_attributes_set_in_init(Generator.__name__, Generator())
    check_parameters_default_constructible(Generator.__name__, Generator())
    gen = clone(Generator(random_state=3))
    assert gen.get_params()["random_state"] == 3


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Generator", GENERATORS)
@pytest.mark.parametrize("column", ["f64", "s", "cat", "nullable"])
def test_nan_names_the_column(Generator, mixed, column):
    X = mixed.copy()
    X.loc[3, column] = None
    with pytest.raises(ValueError, match=f"NaN.*'{column}'"):
        Generator().fit(X)


@pytest.mark.parametrize("Generator", GENERATORS)
def test_infinity_in_an_array_names_the_column(Generator):
    X = np.zeros((10, 3))
    X[4, 1] = np.inf
    with pytest.raises(ValueError, match="column 1 "):
        Generator().fit(X)


@pytest.mark.parametrize("Generator", GENERATORS)
def test_sample_before_fit(Generator):
    with pytest.raises(NotFittedError):
        Generator().sample(5)


@pytest.mark.parametrize("Generator", GENERATORS)
@pytest.mark.parametrize("n_samples", [0, -3, 2.5, "10", True, None])
def test_n_samples_must_be_a_positive_int(Generator, n_samples):
    gen = Generator().fit(np.zeros((5, 2)) + np.arange(5)[:, None])
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        gen.sample(n_samples)
    assert gen.sample(np.int64(3)).shape == (3, 2)


def test_munge_needs_two_rows():
    with pytest.raises(ValueError, match="at least 2 training row"):
        MUNGE().fit(np.ones((1, 3)))
    assert GaussianNoise(random_state=0).fit(np.ones((1, 3))).sample(2).shape == (2, 3)


@pytest.mark.parametrize(
    "gen",
    [
        MUNGE(p=1.5),
        MUNGE(p=-0.1),
        MUNGE(s=0),
        MUNGE(chunk_size=0),
        MUNGE(random_state="seed"),
        GaussianNoise(scale=-1.0),
    ],
)
def test_invalid_parameters(gen):
    with pytest.raises(ValueError, match="parameter"):
        gen.fit(np.arange(10.0).reshape(5, 2))


@pytest.mark.parametrize("Generator", GENERATORS)
def test_bad_inputs(Generator):
    with pytest.raises(ValueError, match="2-D"):
        Generator().fit(np.arange(5.0))
    with pytest.raises(ValueError, match="no columns"):
        Generator().fit(np.zeros((5, 0)))
    with pytest.raises(ValueError, match="Pass a DataFrame"):
        Generator().fit(np.array([["a", "b"], ["c", "d"]], dtype=object))
    with pytest.raises(TypeError, match="Sparse"):
        Generator().fit(sparse.csr_matrix(np.eye(3)))


def test_make_transfer_set_errors():
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(ValueError, match="Unknown transfer-set generator 'smote'"):
        make_transfer_set("smote", X, 10)
    with pytest.raises(TypeError, match="fit and sample"):
        make_transfer_set(object(), X, 10)
    with pytest.raises(ValueError, match="n_samples"):
        make_transfer_set("munge", X, 0)
