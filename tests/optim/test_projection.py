import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asyndbt.errors import AlgorithmError
from asyndbt.optim import on_simplex, project_simplex


def sort_projection(x: np.ndarray) -> np.ndarray:
    """Reference: the sort-based Euclidean projection onto the simplex (Held et al. / Duchi et al.)."""
    u = np.sort(x)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, len(x) + 1)
    rho = np.nonzero(u * k > css - 1)[0][-1]
    theta = (css[rho] - 1) / (rho + 1)
    return np.maximum(x - theta, 0)


floats = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)), elements=floats))
def test_projection_is_euclidean_and_on_simplex(x):
    out = project_simplex(x)
    assert out.shape == x.shape
    assert on_simplex(out, atol=1e-9)
    assert np.all(out >= 0) and np.all(out <= 1)
    ref = np.stack([sort_projection(row) for row in x])
    np.testing.assert_allclose(out, ref, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 10), elements=st.floats(0, 1)))
def test_projection_is_idempotent(x):
    once = project_simplex(x)
    np.testing.assert_allclose(project_simplex(once), once, atol=1e-12)


def test_axis_and_empty_rows():
    x = np.array([[0.2, 5.0], [0.1, 0.3]])
    np.testing.assert_allclose(project_simplex(x, axis=0), project_simplex(x.T).T)
    assert project_simplex(np.zeros((0, 7))).shape == (0, 7)


def test_bad_input_raises():
    with pytest.raises(AlgorithmError, match="NaN"):
        project_simplex(np.array([np.nan, 1.0]))
    with pytest.raises(AlgorithmError, match="empty axis"):
        project_simplex(np.zeros((3, 0)))
