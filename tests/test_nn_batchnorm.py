"""BatchNorm: gradients against finite differences, statistics, modes, errors."""

import numpy as np
import pytest

import nn
from autograd_core import Tensor, gradcheck

RNG = np.random.default_rng(0)


def _bn_fn(training, upstream):
    def fn(x, gamma, beta):
        bn = nn.BatchNorm(x.shape[1])
        bn.gamma, bn.beta = gamma, beta
        bn.running_mean = np.array([0.3, -0.2, 0.1])
        bn.running_var = np.array([1.5, 0.7, 2.0])
        bn.train(training)
        return (bn(x) * upstream).sum()  # a random upstream gradient, not ones
    return fn


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_match_finite_differences(training):
    x = Tensor(RNG.standard_normal((5, 3)), requires_grad=True)
    gamma = Tensor(RNG.uniform(0.5, 1.5, 3), requires_grad=True)
    beta = Tensor(RNG.standard_normal(3), requires_grad=True)
    assert gradcheck(_bn_fn(training, RNG.standard_normal((5, 3))), [x, gamma, beta])


def test_batchnorm_couples_the_examples_of_a_batch():
    # Unlike a dense network, example 0's output depends on example 1's input.
    x = Tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    bn = nn.BatchNorm(3)
    bn(x)[0].sum().backward()
    assert np.abs(x.grad[1]).max() > 1e-3


def test_training_normalises_and_updates_running_statistics():
    bn = nn.BatchNorm(3, momentum=0.2)
    x = RNG.standard_normal((50, 3)) * 4 + 2
    out = bn(x).data
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean, 0.2 * x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * x.var(axis=0, ddof=1), rtol=1e-13)


def test_eval_uses_running_statistics_and_leaves_them():
    bn = nn.BatchNorm(2).eval()
    bn.running_mean, bn.running_var = np.array([1.0, -1.0]), np.array([4.0, 9.0])
    out = bn(np.array([[3.0, 2.0]])).data
    np.testing.assert_allclose(out, [[2 / np.sqrt(4 + 1e-5), 3 / np.sqrt(9 + 1e-5)]], rtol=1e-14)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -1.0])


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\): input has shape \(4, 2\)"):
        nn.BatchNorm(3)(np.ones((4, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        nn.BatchNorm(3)(np.ones((1, 3)))
    with pytest.raises(ValueError, match="num_features must be positive"):
        nn.BatchNorm(0)


def test_batchnorm_state_includes_buffers():
    assert sorted(nn.BatchNorm(2).state_dict()) == ["beta", "gamma", "running_mean", "running_var"]
