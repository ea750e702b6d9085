"""``nn.Dropout`` (train and eval modes, seeded, in checkpoints), ``nn.Flatten`` and ``nn.gradcheck``."""

import numpy as np
import pytest
from conftest import require

import autograd_core as ac
import nn
from autograd_core import Function, GradcheckError, Tensor

RNG = np.random.default_rng(23)
TORCH_REASON = "PyTorch is the optional oracle for nn's conventions (pip install torch==2.13.0)"


# ------------------------------------------------------------------------ Dropout
def test_dropout_in_eval_mode_is_the_identity():
    drop = nn.Dropout(0.5, seed=0)
    x = Tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    model = nn.Sequential(drop)
    assert model.eval() is model and not drop.training
    assert drop(x) is x and model(x) is x
    assert int(drop.calls) == 0                      # no mask drawn
    model.train()
    assert drop.training and drop(x) is not x


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_in_training_zeroes_about_p_and_scales_the_rest_by_1_over_1_minus_p(p):
    drop = nn.Dropout(p, seed=1)
    x = RNG.uniform(1, 2, (200, 500))               # no zeros of its own
    out = drop(x).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    fraction = 1 - kept.mean()
    assert abs(fraction - p) < 4 * np.sqrt(p * (1 - p) / x.size)         # within 4 standard errors
    # inverted dropout keeps the expected value: the mean of x / (1 − p) over the kept entries
    assert abs(out.mean() / x.mean() - 1) < 0.02


def test_the_gradient_goes_through_the_kept_entries_scaled():
    drop = nn.Dropout(0.4, seed=2)
    x = Tensor(RNG.standard_normal((6, 7)), requires_grad=True)
    out = drop(x)
    g = RNG.standard_normal((6, 7))
    (out * g).sum().backward()
    mask = (out.data != 0) / 0.6
    np.testing.assert_allclose(x.grad, g * mask, rtol=1e-15)


def test_masks_are_repeatable_from_the_seed_and_differ_from_call_to_call():
    x = np.ones((10, 10))
    a, b = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3)
    first, second = a(x).data, a(x).data
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(b(x).data, first)
    np.testing.assert_array_equal(b(x).data, second)
    assert int(a.calls) == 2
    # The k-th mask is default_rng((seed, k)): documented, so a reader can reproduce it.
    expected = (np.random.default_rng((3, 1)).random((10, 10)) >= 0.5) / 0.5
    np.testing.assert_array_equal(second, expected)
    assert not np.array_equal(nn.Dropout(0.5, seed=4)(x).data, first)


def test_dropouts_seed_and_count_are_buffers_saved_in_checkpoints(tmp_path):
    model = nn.Sequential(nn.Dense(3, 4, seed=0), nn.Dropout(0.5, seed=11))
    x = RNG.standard_normal((5, 3))
    model(x)
    assert model.state_dict()["layers.1.seed"] == 11 and model.state_dict()["layers.1.calls"] == 1
    model.save(tmp_path / "m.npz")
    twin = nn.Sequential(nn.Dense(3, 4, seed=5), nn.Dropout(0.5))      # another seed
    twin.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(twin(x).data, model(x).data)          # the same next mask


def test_dropout_p_zero_is_the_identity_and_bad_arguments_are_refused():
    x = Tensor(np.ones(3))
    assert nn.Dropout(0.0)(x) is x
    for p in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match=r"p is the probability of dropping an entry, in \[0, 1\)"):
            nn.Dropout(p)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        nn.Dropout(0.5, seed=-1)
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


def test_dropout_keeps_float32_and_one_example():
    out = nn.Dropout(0.5, seed=0)(np.ones(8, dtype=np.float32))
    assert out.dtype == np.float32 and out.shape == (8,)
    assert set(np.unique(out.data)) <= {0.0, 2.0}


def test_dropout_scaling_matches_torch_in_training_and_eval():
    torch = require("torch", TORCH_REASON)
    x = RNG.uniform(1, 2, (50, 40))
    theirs = torch.nn.functional.dropout(torch.tensor(x), p=0.3, training=True).numpy()
    ours = nn.Dropout(0.3, seed=0)(x).data
    for out in (ours, theirs):                      # masks differ, the rule does not
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-12)
    np.testing.assert_array_equal(torch.nn.functional.dropout(torch.tensor(x), 0.3, training=False).numpy(),
                                  nn.Sequential(nn.Dropout(0.3)).eval()(x))


# ------------------------------------------------------------------------ Flatten
def test_flatten_keeps_the_batch_axis_and_gradients_come_back_in_shape():
    x = Tensor(RNG.standard_normal((2, 3, 4, 5)), requires_grad=True)
    out = nn.Flatten()(x)
    assert out.shape == (2, 60)
    g = RNG.standard_normal((2, 60))
    (out * g).sum().backward()
    np.testing.assert_array_equal(x.grad, g.reshape(2, 3, 4, 5))
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten()(np.ones((3, 4))).shape == (3, 4)
    assert nn.Flatten()(np.ones(4)).shape == (4,)     # one example, already flat
    assert repr(nn.Flatten()) == "Flatten()" and repr(nn.Flatten(0, 1)) == "Flatten(start_axis=0, end_axis=1)"


def test_flatten_then_dense_trains_on_images():
    model = nn.Sequential(nn.Flatten(), nn.Dense(12, 2, seed=0), nn.Sigmoid())
    x, y = RNG.standard_normal((5, 3, 4)), RNG.uniform(0, 1, (5, 2))
    nn.QuadraticCost()(model(x), y).backward()
    assert model[1].W.grad.shape == (2, 12)


@pytest.mark.parametrize("start, end", [(1, -1), (0, -1), (1, 2), (2, 3), (-3, -2)])
def test_flatten_matches_torch(start, end):
    torch = require("torch", TORCH_REASON)
    x = RNG.standard_normal((2, 3, 4, 5))
    assert nn.Flatten(start, end)(x).shape == tuple(torch.nn.Flatten(start, end)(torch.tensor(x)).shape)


# ---------------------------------------------------------------------- gradcheck
def _network(dropout=False, batchnorm=False):
    layers = [nn.Dense(3, 4, seed=0)]
    layers += [nn.BatchNorm(4)] if batchnorm else []
    layers += [nn.Sigmoid()]
    layers += [nn.Dropout(0.5, seed=1)] if dropout else []
    return nn.Sequential(*layers, nn.Dense(4, 2, seed=2), nn.Sigmoid())


@pytest.mark.parametrize("dropout, batchnorm", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("cost", [nn.QuadraticCost(), nn.CrossEntropyCost(reduction="none")], ids=repr)
def test_gradcheck_passes_on_a_model_and_leaves_it_unchanged(dropout, batchnorm, cost):
    model = _network(dropout, batchnorm)
    x, y = RNG.standard_normal((5, 3)), RNG.uniform(0, 1, (5, 2))
    state = model.state_dict()
    assert nn.gradcheck(model, cost, x, y)
    assert nn.gradcheck(model, cost, x, y, fast_mode=True)
    for name, value in model.state_dict().items():       # parameters and buffers as they were
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    assert all(p.grad is None for p in model.parameters())


def test_gradcheck_checks_a_float32_model_in_float64_and_skips_frozen_parameters():
    model = _network()
    for p in model.parameters():
        p.data = p.data.astype(np.float32)
    model[0].W.requires_grad = False
    assert nn.gradcheck(model, nn.QuadraticCost(), RNG.standard_normal((4, 3)), RNG.uniform(0, 1, (4, 2)))
    assert model[0].W.dtype == np.float32


class _Halved(Function):
    """x · w with a deliberately wrong gradient for w (half of it)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        return g * w, 0.5 * (g * x).sum(axis=0)


class _Scaled(nn.Module):
    def __init__(self):
        self.w = nn.Parameter(RNG.uniform(1, 2, 3))

    def forward(self, x):
        return _Halved.apply(x, self.w)


def test_gradcheck_catches_a_wrong_gradient_and_names_the_parameter():
    model = nn.Sequential(nn.Dense(3, 3, seed=0), _Scaled())
    x, y = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    with pytest.raises(GradcheckError, match=r"gradcheck failed for input 2 'layers.1.w'"):
        nn.gradcheck(model, nn.QuadraticCost(), x, y)
    assert nn.gradcheck(model, nn.QuadraticCost(), x, y, raise_exception=False) is False


def test_gradcheck_argument_errors():
    with pytest.raises(TypeError, match="not a Module"):
        nn.gradcheck(lambda x: x, nn.QuadraticCost(), np.ones(2), np.ones(2))
    with pytest.raises(GradcheckError, match="no parameter that requires grad"):
        nn.gradcheck(nn.Sequential(nn.Sigmoid()), nn.QuadraticCost(), np.ones((1, 2)), np.ones((1, 2)))
    assert ac.gradcheck is not nn.gradcheck
