"""``fit`` replays its mini-batch steps with ``jit`` when the model allows: same numbers, or eager."""

import numpy as np
import pytest

import nn
from autograd_core import JitError
from nn import data, train


def _network(seed: int, *extra) -> nn.Sequential:
    return nn.Sequential(nn.Dense(2, 8, seed=seed), nn.Sigmoid(), *extra, nn.Dense(8, 2, seed=seed + 1),
                         nn.Sigmoid())


def _fit(model, cost, jit, lmbda=0.0, optimizer=nn.SGD, **options):
    x, y = data.moons(90, noise=0.2, seed=3).training
    history = train.fit(model, cost, optimizer(model.parameters(), **options), (x, y), 3, 16,
                        eval=(x[:20], y[:20]), seed=5, lmbda=lmbda, jit=jit)
    return history, {name: p.data.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("cost, lmbda, optimizer, options", [
    (nn.QuadraticCost(), 0.0, nn.SGD, {"lr": 3.0}),
    (nn.CrossEntropyCost(from_logits=True), 2.0, nn.SGD, {"lr": 0.5, "momentum": 0.9}),
    (nn.SoftmaxCrossEntropy(), 0.0, nn.Adam, {"lr": 0.02}),
], ids=["quadratic", "cross-entropy from logits, L2, momentum", "softmax, integer labels, Adam"])
def test_a_jitted_fit_gives_the_eager_numbers(cost, lmbda, optimizer, options):
    jitted, jitted_weights = _fit(_network(1), cost, None, lmbda, optimizer=optimizer, **options)
    eager, eager_weights = _fit(_network(1), cost, False, lmbda, optimizer=optimizer, **options)
    assert jitted.jit and not eager.jit and eager.jit_reason == "jit=False"
    for name in eager_weights:
        np.testing.assert_allclose(jitted_weights[name], eager_weights[name], rtol=1e-12, atol=1e-14)
    for column in ("training_cost", "eval_accuracy"):
        np.testing.assert_allclose(jitted[column], eager[column], rtol=1e-12)
    assert not np.allclose(eager_weights["layers.0.W"], _network(1).layers[0].W.data)   # it trained


def test_a_model_jit_cannot_trace_trains_eagerly_and_says_why():
    history, weights = _fit(_network(2, nn.Dropout(0.2, seed=0)), nn.QuadraticCost(), None, lr=1.0)
    assert not history.jit and "Dropout" in history.jit_reason
    assert len(history) == 3 and np.isfinite(history["training_cost"]).all()
    with pytest.raises(JitError, match="Dropout"):
        _fit(_network(2, nn.Dropout(0.2, seed=0)), nn.QuadraticCost(), True, lr=1.0)


def test_the_cross_entropy_on_probabilities_replays_with_the_eager_numbers():
    # It finds the 0 · ln 0 terms from the values, through an operation jit replays.
    jitted, jitted_weights = _fit(_network(3), nn.CrossEntropyCost(), None, lmbda=1.0, lr=1.0)
    eager, eager_weights = _fit(_network(3), nn.CrossEntropyCost(), False, lmbda=1.0, lr=1.0)
    assert jitted.jit
    for name in eager_weights:
        np.testing.assert_allclose(jitted_weights[name], eager_weights[name], rtol=1e-12, atol=1e-14)


def test_frozen_parameters_stay_as_they_were_and_an_unused_one_trains_eagerly():
    for jit in (None, False):
        model = _network(4)
        model.layers[0].W.requires_grad = False
        before = model.layers[0].W.data.copy()
        history, _ = _fit(model, nn.QuadraticCost(), jit, lr=1.0)
        np.testing.assert_array_equal(model.layers[0].W.data, before)
        assert history.jit == (jit is None)
    model = _network(5)
    model.spare = nn.Parameter(np.zeros(3), name="spare")     # registered, never used
    history, _ = _fit(model, nn.QuadraticCost(), None, lr=1.0)
    assert not history.jit and "does not depend on" in history.jit_reason and len(history) == 3
