"""Tests of ppo_ref.core.layers: linear and tanh forward/backward pairs, orthogonal init.

Backward passes are checked against central finite differences in float64
(testing.check_grads) with a random upstream gradient ``dout``
(loss = (out * dout).sum()), so that a wrong transpose or a missing sum cannot hide
behind an all-ones upstream.
"""

import numpy as np
import pytest

from ppo_ref.core.layers import linear_backward, linear_forward, orthogonal, tanh_backward, tanh_forward
from ppo_ref.testing import FLOAT64_RTOL, check_grads


def test_linear_forward_is_x_at_W_plus_b_by_naive_loop(rng):
    """Pins the (in, out) weight layout: y_mj = sum_i x_mi W_ij + b_j."""
    x = rng.normal(size=(4, 3))
    W = rng.normal(size=(3, 5))
    b = rng.normal(size=5)
    y, _ = linear_forward(x, W, b)
    expected = np.zeros((4, 5))
    for m in range(4):
        for j in range(5):
            expected[m, j] = b[j] + sum(x[m, i] * W[i, j] for i in range(3))
    np.testing.assert_allclose(y, expected, rtol=FLOAT64_RTOL)


@pytest.mark.finite_differences
def test_linear_backward_matches_finite_differences(rng):
    """dL/dx, dL/dW and dL/db of L = sum(linear(x, W, b) * dout) for random dout,
    each of its array's shape."""
    x = rng.normal(size=(7, 4))
    W = rng.normal(size=(4, 3))
    b = rng.normal(size=3)
    dout = rng.normal(size=(7, 3))

    def loss():
        return float(np.sum(linear_forward(x, W, b)[0] * dout))

    _, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(dout, cache)
    check_grads(loss, {"x": x, "W": W, "b": b}, {"x": dx, "W": dW, "b": db})


@pytest.mark.finite_differences
def test_tanh_forward_and_backward(rng):
    """tanh forward is np.tanh; dL/dx of L = sum(tanh(x) * dout) matches finite
    differences, including large |x| where tanh saturates."""
    x = rng.normal(0.0, 2.0, size=(6, 5))
    dout = rng.normal(size=(6, 5))
    y, cache = tanh_forward(x)
    np.testing.assert_array_equal(y, np.tanh(x))

    def loss():
        return float(np.sum(tanh_forward(x)[0] * dout))

    check_grads(loss, x, tanh_backward(dout, cache))


@pytest.mark.parametrize("n_in, n_out", [(3, 64), (64, 64), (64, 2), (64, 1), (17, 5)])
@pytest.mark.parametrize("gain", [np.sqrt(2.0), 0.01, 1.0])
def test_orthogonal_shape_and_gram_matrix(n_in, n_out, gain):
    """W is (in, out) and its smaller Gram matrix is gain^2 I: orthonormal columns
    (W.T W) when in >= out, orthonormal rows (W W.T) otherwise."""
    W = orthogonal(np.random.default_rng(0), n_in, n_out, gain)
    assert W.shape == (n_in, n_out)
    gram = W.T @ W if n_in >= n_out else W @ W.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(n_in, n_out)), rtol=FLOAT64_RTOL, atol=FLOAT64_RTOL)


@pytest.mark.parametrize("n_in, n_out", [(3, 8), (8, 3), (5, 5)])
def test_orthogonal_is_torch_qr_with_positive_diagonal(n_in, n_out):
    """Pins torch.nn.init.orthogonal_'s construction: the Gaussian G is drawn in
    torch's (out, in) layout, the taller of G and G.T is factored as Q R, and the
    signs are fixed so that diag(R) > 0 (the unique such factorisation).

    Characterised without re-running the code: from the same seed, recover R =
    Q.T G_tall and check that it is upper triangular with a positive diagonal and
    that Q R reproduces G_tall.
    """
    gain = 1.7
    W = orthogonal(np.random.default_rng(5), n_in, n_out, gain)
    G = np.random.default_rng(5).standard_normal((n_out, n_in))  # torch's (out, in)
    if n_out >= n_in:
        g_tall, q = G, W.T / gain  # torch weight (out, in) = W.T
    else:
        g_tall, q = G.T, W / gain
    r = q.T @ g_tall
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=FLOAT64_RTOL)
    assert np.all(np.diag(r) > 0)
    np.testing.assert_allclose(q @ r, g_tall, rtol=FLOAT64_RTOL, atol=FLOAT64_RTOL)


def test_orthogonal_same_seed_same_matrix():
    """All randomness comes from the Generator passed in."""
    a = orthogonal(np.random.default_rng(3), 4, 6, 1.0)
    b = orthogonal(np.random.default_rng(3), 4, 6, 1.0)
    c = orthogonal(np.random.default_rng(4), 4, 6, 1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
