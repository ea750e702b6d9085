"""nn.train.fit: history, determinism, L2, the engine against nn.reference epoch by epoch, divergence."""

import warnings

import numpy as np
import pytest

import nn
from nn import data, train


def _network(sizes=(2, 8, 2), fused=False):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Dense(a, b, seed=i + 1, fused=fused), nn.Sigmoid()]
    return nn.Sequential(*layers)


def test_fit_returns_a_per_epoch_history_and_learns_the_moons():
    (x, y), _, test = data.moons(seed=0)
    model = _network((2, 16, 2))
    history = train.fit(model, nn.CrossEntropyCost(), nn.SGD(model.parameters(), lr=2.0), (x, y),
                        epochs=20, batch_size=10, eval=test, seed=0)
    assert len(history) == 20 and history.stopped is None and history.form == "composed"
    assert set(history[0]) == set(train.COLUMNS) and history["epoch"] == list(range(1, 21))
    assert history["training_cost"][-1] < history["training_cost"][0]
    assert history["eval_accuracy"][-1] > 0.85 and all(s > 0 for s in history["seconds"])


def test_the_same_seed_gives_the_same_numbers_and_fused_says_so():
    (x, y), _, test = data.spirals(seed=1)
    runs = []
    for fused, seed in [(False, 3), (False, 3), (True, 3), (False, 4)]:
        model = _network((2, 10, 3), fused=fused)
        runs.append(train.fit(model, nn.QuadraticCost(fused=fused), nn.SGD(model.parameters(), lr=1.0),
                              (x, y), 3, 7, eval=test, seed=seed))
    assert runs[0]["eval_cost"] == runs[1]["eval_cost"]
    assert np.allclose(runs[0]["eval_cost"], runs[2]["eval_cost"], rtol=1e-12) and runs[2].form == "fused"
    assert runs[0]["eval_cost"] != runs[3]["eval_cost"]


@pytest.mark.parametrize("cost, name, lmbda", [(nn.QuadraticCost(), "quadratic", 0.0),
                                                (nn.CrossEntropyCost(), "cross-entropy", 5.0)])
def test_engine_and_reference_have_the_same_weights_after_every_epoch(cost, name, lmbda):
    (x, labels), _, _ = data.spirals(n=103, seed=2)
    model = _network((2, 6, 5, 3))
    W = [model[i].W.data.copy() for i in (0, 2, 4)]
    b = [model[i].b.data.copy() for i in (0, 2, 4)]
    reference = nn.reference.Network(W, b, cost=name)
    rng = np.random.default_rng(11)
    Y = np.eye(3)[labels]

    def same_as_reference(row, model):
        for X_batch, Y_batch in data.minibatches(x, Y, 10, rng):   # the order fit drew for this epoch
            reference.update_mini_batch(X_batch.T, Y_batch.T, eta=0.5, lmbda=lmbda, n=len(x))
        for i, layer in enumerate((0, 2, 4)):
            assert np.max(np.abs(model[layer].W.data - reference.weights[i])) < 1e-9
            assert np.max(np.abs(model[layer].b.data - reference.biases[i])) < 1e-9

    history = train.fit(model, cost, nn.SGD(model.parameters(), lr=0.5), (x, labels), 4, 10, seed=11,
                        lmbda=lmbda, callbacks=[same_as_reference])
    assert len(history) == 4


def test_softmax_costs_take_integer_labels():
    (x, y), _, test = data.spirals(seed=0)
    model = nn.Sequential(nn.Dense(2, 20, seed=1), nn.Tanh(), nn.Dense(20, 3, seed=2))
    history = train.fit(model, nn.SoftmaxCrossEntropy(), nn.Adam(model.parameters(), lr=0.02), (x, y),
                        10, 16, eval=test, seed=0)
    assert history["eval_accuracy"][-1] > 0.7


def test_a_diverging_cost_stops_with_advice_and_keeps_the_last_good_epoch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)) * 10
    y = rng.integers(0, 2, 40)
    model = nn.Sequential(nn.Dense(3, 2, seed=1), nn.Identity())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = train.fit(model, nn.QuadraticCost(), nn.SGD(model.parameters(), lr=100.0), (x, y), 5, 4)
    assert "learning rate is probably too large" in history.stopped and "smaller" in history.stopped
    assert sum("too large" in str(w.message) for w in caught) == 1 and len(history) < 5
    assert np.all(np.isfinite(model[0].W.data))     # put back to the last finite state


def test_callbacks_can_stop_and_bad_arguments_are_refused():
    (x, y), _, _ = data.moons(n=50)
    model = _network()
    history = train.fit(model, nn.QuadraticCost(), nn.SGD(model.parameters(), lr=1.0), (x, y), 10, 5,
                        callbacks=[lambda row, m: row["epoch"] == 2])
    assert len(history) == 2 and "callback after epoch 2" in history.stopped
    with pytest.raises(ValueError, match="epochs and batch_size must be positive"):
        train.fit(model, nn.QuadraticCost(), nn.SGD(model.parameters(), lr=1.0), (x, y), 0, 5)


def test_ctrl_c_restores_the_last_completed_epoch():
    (x, y), _, _ = data.moons(n=50)
    model = _network()
    after = {}

    def interrupt(row, model):
        if row["epoch"] == 1:
            after.update(model.state_dict())
            return False
        raise KeyboardInterrupt

    history = train.fit(model, nn.QuadraticCost(), nn.SGD(model.parameters(), lr=1.0), (x, y), 5, 5,
                        callbacks=[interrupt])
    assert "interrupted" in history.stopped and len(history) == 2


def test_progress_bar_shows_the_running_cost(capsys, require):
    require("tqdm", "the progress bar is tqdm's (extra `progress`)")
    (x, y), _, _ = data.moons(n=40)
    model = _network()
    train.fit(model, nn.QuadraticCost(), nn.SGD(model.parameters(), lr=1.0), (x, y), 2, 10, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "cost=" in err


def test_against_reference_records_the_difference_each_epoch():
    (x, labels), _, _ = data.moons(n=64, seed=5)
    model = _network((2, 5, 2))
    cost = nn.CrossEntropyCost()
    twin = train.against_reference(model, cost, (x, labels), 8, eta=0.7, lmbda=1.0, seed=3)
    history = train.fit(model, cost, nn.SGD(model.parameters(), lr=0.7), (x, labels), 3, 8, seed=3,
                        lmbda=1.0, callbacks=[twin])
    assert len(history["reference_difference"]) == 3 and max(history["reference_difference"]) < 1e-9
    with pytest.raises(ValueError, match="quadratic and the cross-entropy cost"):
        train.against_reference(model, nn.SoftmaxCrossEntropy(), (x, labels), 8, eta=0.7)


def test_learning_speed_is_recorded_per_layer():
    (x, labels), _, _ = data.spirals(n=100, seed=0)
    model = _network((2, 6, 6, 3))
    cost = nn.QuadraticCost()
    history = train.fit(model, cost, nn.SGD(model.parameters(), lr=1.0), (x, labels), 2, 10,
                        callbacks=[train.learning_speed(cost, (x, labels))])
    speed = history[-1]["speed"]
    assert sorted(speed) == ["layers.0", "layers.2", "layers.4"] and all(v > 0 for v in speed.values())
    assert model[0].W.grad is None                                   # the measurement leaves no gradient


def test_the_l2_term_of_each_measured_cost_divides_by_the_size_of_that_data():
    # network2.py's total_cost(data, lmbda) adds 0.5 * (lmbda / len(data)) * sum ||W||^2.
    (x, y), _, test = data.moons(n=200, seed=1)
    model = _network((2, 4, 2))
    cost = nn.QuadraticCost()
    history = train.fit(model, cost, nn.SGD(model.parameters(), lr=0.5), (x, y), 1, 10, eval=test,
                        lmbda=3.0)
    squares = sum(np.sum(model[i].W.data ** 2) for i in (0, 2))
    assert len(x) != len(test[0])
    for (X, labels), column in [((x, y), "training_cost"), (test, "eval_cost")]:
        plain, _ = train.evaluate(model, cost, X, labels)
        assert history[0][column] == pytest.approx(plain + 0.5 * 3.0 / len(X) * squares, rel=1e-12)
