"""Optimizer parameter groups and state: PyTorch's formats, checkpoints, identical resumption.

- Parameter groups in PyTorch's format; Nielsen's weight decay on weights only is
  network2.py's update; groups with their own options match ``torch.optim``.
- ``state_dict()`` has PyTorch's structure and names (``momentum_buffer``, ``exp_avg``,
  ``exp_avg_sq``, ``step``) and values equal to torch's after the same steps.
- ``model.save(path, optimizer=opt, schedule=schedule)`` and ``model.load(...)``: training
  resumed from a checkpoint gives exactly the parameters of an uninterrupted run, for SGD
  with momentum, Adam, parameter groups, a Dropout layer and a schedule.
- A mismatched state is refused with every problem listed, and nothing changes.
"""

import os

import numpy as np
import pytest
from conftest import require

import nn
from nn.checkpoint import flatten, unflatten

RNG = np.random.default_rng(47)
TORCH_REASON = "PyTorch is the optional oracle for nn's conventions (pip install torch==2.13.0)"


def _model(seed=0, dropout=False):
    layers = [nn.Dense(4, 6, seed=seed), nn.Sigmoid()]
    if dropout:
        layers.append(nn.Dropout(0.3, seed=seed + 100))
    return nn.Sequential(*layers, nn.Dense(6, 3, seed=seed + 1), nn.Sigmoid())


def _groups(model, weight_decay=0.05):
    """Nielsen's convention: weight decay on the weights (``decay=True``), none on the biases."""
    weights = [p for p in model.parameters() if p.decay]
    biases = [p for p in model.parameters() if not p.decay]
    return [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "lr": 0.3}]


OPTIMIZERS = {
    "sgd": lambda model: nn.SGD(model.parameters(), lr=0.5),
    "sgd-momentum": lambda model: nn.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.01),
    "sgd-groups": lambda model: nn.SGD(_groups(model), lr=0.5, momentum=0.8),
    "adam": lambda model: nn.Adam(model.parameters(), lr=0.05),
    "adam-groups": lambda model: nn.Adam([{"params": model[0].parameters(), "lr": 0.01},
                                          {"params": model[-2].parameters(), "betas": (0.8, 0.99)}], lr=0.05),
}

X = RNG.standard_normal((40, 4))
Y = RNG.uniform(0, 1, (40, 3))


def _epoch(model, opt, skip_first_layer_every=3):
    """One epoch of mini-batches of 8; every third batch freezes the first layer (no gradient),
    so that step counts and momentum differ between parameters."""
    cost = nn.CrossEntropyCost()
    for index, first in enumerate(range(0, 40, 8)):
        opt.zero_grad()
        cost(model(X[first:first + 8]), Y[first:first + 8]).backward()
        if index % skip_first_layer_every == 0:
            for p in model[0].parameters():
                p.grad = None
        opt.step()


# --------------------------------------------------------------- identical resumption
@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_training_resumes_identically_from_a_checkpoint(tmp_path, kind, dropout):
    model = _model(dropout=dropout)
    opt = OPTIMIZERS[kind](model)
    schedule = nn.PlateauSchedule(opt, patience=1)
    for epoch in range(6):
        _epoch(model, opt)
        schedule.step(-epoch % 3)                  # stalls: the rate is halved on the way
    uninterrupted = [p.data.copy() for p in model.parameters()]
    assert schedule.reductions > 0

    model = _model(dropout=dropout)
    opt = OPTIMIZERS[kind](model)
    schedule = nn.PlateauSchedule(opt, patience=1)
    for epoch in range(3):
        _epoch(model, opt)
        schedule.step(-epoch % 3)
    path = tmp_path / "run.npz"
    model.save(path, optimizer=opt, schedule=schedule)

    # A fresh process would build everything anew: other initial values, another dropout seed.
    model = _model(seed=7, dropout=dropout)
    opt = OPTIMIZERS[kind](model)
    schedule = nn.PlateauSchedule(opt, patience=1)
    model.load(path, optimizer=opt, schedule=schedule)
    for epoch in range(3, 6):
        _epoch(model, opt)
        schedule.step(-epoch % 3)
    for expected, p in zip(uninterrupted, model.parameters()):
        np.testing.assert_array_equal(p.data, expected)


def test_without_the_optimizer_state_momentum_restarts_and_the_run_differs(tmp_path):
    """The control for the test above: loading the model alone does not resume identically."""
    runs = []
    for with_state in (True, False):
        model = _model()
        opt = OPTIMIZERS["sgd-momentum"](model)
        _epoch(model, opt)
        model.save(tmp_path / "run.npz", optimizer=opt)
        model = _model(seed=3)
        opt = OPTIMIZERS["sgd-momentum"](model)
        model.load(tmp_path / "run.npz", optimizer=opt if with_state else None)
        _epoch(model, opt)
        runs.append(model[0].W.data.copy())
    assert not np.array_equal(*runs)


def test_the_checkpoint_holds_the_optimizer_under_its_own_names_and_no_pickle(tmp_path):
    model = _model()
    opt = nn.Adam(model.parameters(), lr=0.01)
    _epoch(model, opt)
    model.save(tmp_path / "run.npz", optimizer=opt)
    with np.load(tmp_path / "run.npz", allow_pickle=False) as archive:
        names = sorted(archive.files)
        assert all(archive[name].dtype.kind in "biufU" for name in names)
    assert "layers.0.W" in names and "optimizer/state/0/exp_avg" in names
    assert "optimizer/param_groups/[0]/lr" in names and "optimizer/t" in names
    # The model alone still loads from it, and a model-only checkpoint has no optimizer part.
    _model(seed=5).load(tmp_path / "run.npz")
    model.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match=r"holds no optimizer state; it was saved without optimizer="):
        model.load(tmp_path / "model.npz", optimizer=opt)


def test_a_checkpoint_that_does_not_fit_changes_nothing(tmp_path):
    model = _model()
    sgd = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _epoch(model, sgd)
    model.save(tmp_path / "sgd.npz", optimizer=sgd)
    other = _model(seed=9)
    adam = nn.Adam(other.parameters())
    _epoch(other, adam)
    before = [p.data.copy() for p in other.parameters()]
    adam_state = adam.state_dict()
    with pytest.raises(ValueError, match=r"cannot load state into Adam; nothing was changed.*betas, eps, lr "
                                         r"here"):
        other.load(tmp_path / "sgd.npz", optimizer=adam)
    for p, b in zip(other.parameters(), before):          # the model was not loaded either
        np.testing.assert_array_equal(p.data, b)
    _assert_same_state(adam.state_dict(), adam_state)


def _assert_same_state(a, b):
    assert flatten(a, "s").keys() == flatten(b, "s").keys()
    for name, value in flatten(a, "s").items():
        np.testing.assert_array_equal(value, flatten(b, "s")[name], err_msg=name)


# ------------------------------------------------------------------ state_dict
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_state_dict_round_trips_through_load_state_dict_and_the_checkpoint_names(kind):
    model = _model()
    opt = OPTIMIZERS[kind](model)
    _epoch(model, opt)
    state = opt.state_dict()
    twin = OPTIMIZERS[kind](model)
    twin.load_state_dict(unflatten(flatten(state, "optimizer"), "optimizer"))
    _assert_same_state(twin.state_dict(), state)
    assert twin.param_groups[0].keys() == opt.param_groups[0].keys()
    assert [g["params"] for g in twin.param_groups] == [g["params"] for g in opt.param_groups]


def test_state_dict_arrays_are_copies():
    model = _model()
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _epoch(model, opt)
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"][...] = 0
    assert not np.all(opt.velocity[0] == 0)


@pytest.mark.parametrize("kind", ["sgd-momentum", "adam"])
def test_state_dict_has_pytorchs_structure_names_and_values(kind):
    torch = require("torch", TORCH_REASON)
    shapes = [(3, 2), (2,), (4,)]
    starts = [RNG.standard_normal(s) for s in shapes]
    grads = [[RNG.standard_normal(s) for s in shapes] for _ in range(3)]
    grads[0][2] = None                                      # parameter 2 misses a step
    ours_params = [nn.Parameter(s.copy()) for s in starts]
    theirs_params = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    groups = lambda ps: [{"params": ps[:2], "lr": 0.1}, {"params": ps[2:]}]      # noqa: E731
    if kind == "adam":
        ours, theirs = nn.Adam(groups(ours_params), lr=0.05), torch.optim.Adam(groups(theirs_params), lr=0.05)
    else:
        ours = nn.SGD(groups(ours_params), lr=0.05, momentum=0.9)
        theirs = torch.optim.SGD(groups(theirs_params), lr=0.05, momentum=0.9)
    for step in grads:
        for p, q, g in zip(ours_params, theirs_params, step):
            p.grad = None if g is None else g.copy()
            q.grad = None if g is None else torch.tensor(g.copy())
        ours.step()
        theirs.step()
    mine, torchs = ours.state_dict(), theirs.state_dict()
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in torchs["param_groups"]]
    assert [g["lr"] for g in mine["param_groups"]] == [g["lr"] for g in torchs["param_groups"]]
    assert mine["state"].keys() == torchs["state"].keys()
    for index, entry in mine["state"].items():
        assert entry.keys() <= torchs["state"][index].keys()
        for name, value in entry.items():
            np.testing.assert_allclose(value, np.asarray(torchs["state"][index][name]), rtol=1e-12,
                                       err_msg=f"{index}/{name}")


def test_load_state_dict_reports_every_mismatch_and_changes_nothing():
    model = _model()
    opt = nn.SGD(_groups(model), lr=0.5, momentum=0.9)
    _epoch(model, opt)
    good = opt.state_dict()
    one_group = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match=r"the state has 2 parameter group\(s\), SGD has 1"):
        one_group.load_state_dict(good)

    bad = opt.state_dict()
    bad["state"][0]["momentum_buffer"] = np.zeros((2, 2))
    bad["param_groups"][1]["lr"] = -1.0
    bad["state"][99] = {"momentum_buffer": np.zeros(3)}
    fresh = nn.SGD(_groups(model), lr=0.5, momentum=0.9)
    with pytest.raises(ValueError) as caught:
        fresh.load_state_dict(bad)
    message = str(caught.value)
    assert "nothing was changed" in message and "group 1: learning rate must be >= 0" in message
    bad["param_groups"][1]["lr"] = 0.3
    with pytest.raises(ValueError) as caught:
        fresh.load_state_dict(bad)
    message = str(caught.value)
    assert "momentum_buffer of layers.0.W has shape (2, 2)" in message
    assert "state for parameter 99, which no group lists" in message
    assert fresh.velocity == [None] * 4 and fresh.param_groups[1]["lr"] == 0.3

    with pytest.raises(ValueError, match=r"the state of layers.0.W has \['exp_avg'"):
        nn.SGD(_groups(model), lr=0.5).load_state_dict(
            {"state": {0: {"exp_avg": np.zeros((6, 4))}}, "param_groups": good["param_groups"]})
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"lr": 0.1})


def test_loading_takes_the_saved_options_as_pytorch_does():
    model = _model()
    opt = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    opt.lr = 0.125                                  # changed by hand (or by a schedule)
    twin = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    twin.load_state_dict(opt.state_dict())
    assert twin.lr == 0.125


# ------------------------------------------------------------------- parameter groups
def test_weight_decay_on_the_weights_only_is_network2s_update():
    """SGD([{weights, weight_decay=λ/n}, {biases}]) is network2.py: w → (1 − ηλ/n) w − η ∂C/∂w."""
    model = _model()
    eta, lmbda, n = 0.7, 3.0, 40
    nn.CrossEntropyCost()(model(X[:5]), Y[:5]).backward()
    grads = [p.grad.copy() for p in model.parameters()]
    before = [p.data.copy() for p in model.parameters()]
    weights = [p for p in model.parameters() if p.decay]
    biases = [p for p in model.parameters() if not p.decay]
    nn.SGD([{"params": weights, "weight_decay": lmbda / n}, {"params": biases}], lr=eta).step()
    for (name, p), w, g in zip(model.named_parameters(), before, grads):
        decay = (1 - eta * lmbda / n) if name.endswith("W") else 1.0
        np.testing.assert_allclose(p.data, decay * w - eta * g, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_groups_with_their_own_options_match_pytorch(kind):
    torch = require("torch", TORCH_REASON)
    starts = [RNG.standard_normal(s) for s in [(3, 2), (2,), (4,)]]
    ours_params = [nn.Parameter(s.copy()) for s in starts]
    theirs_params = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    if kind == "sgd":
        def make(module, ps):
            return module.SGD([{"params": ps[:1], "weight_decay": 0.1, "momentum": 0.5},
                               {"params": ps[1:], "lr": 0.2}], lr=0.05, momentum=0.9)
    else:
        def make(module, ps):
            return module.Adam([{"params": ps[:1], "betas": (0.5, 0.9)}, {"params": ps[1:], "lr": 0.2}],
                               lr=0.05)
    ours, theirs = make(nn, ours_params), make(torch.optim, theirs_params)
    for _ in range(4):
        for p, q in zip(ours_params, theirs_params):
            g = RNG.standard_normal(p.shape)
            p.grad, q.grad = g.copy(), torch.tensor(g)
        ours.step()
        theirs.step()
    for p, q in zip(ours_params, theirs_params):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_a_changed_group_option_takes_effect_at_the_next_step():
    p = nn.Parameter(np.ones(2))
    opt = nn.SGD([{"params": [p]}], lr=0.5)
    opt.param_groups[0]["lr"] = 0.25
    p.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(p.data, [0.75, 0.75])


def test_lr_reads_and_sets_every_group():
    model = _model()
    opt = nn.SGD(_groups(model), lr=0.5)
    with pytest.raises(ValueError, match=r"different learning rates \[0.3, 0.5\]; read param_groups"):
        print(opt.lr)
    opt.lr = 0.1
    assert opt.lr == 0.1 and [g["lr"] for g in opt.param_groups] == [0.1, 0.1]
    with pytest.raises(ValueError, match="learning rate must be >= 0 and finite"):
        opt.lr = float("nan")


def test_group_errors_say_what_to_write():
    model = _model()
    weights, biases = model[0].W, model[0].b
    with pytest.raises(TypeError, match="params mixes groups"):
        nn.SGD([{"params": [weights]}, biases], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: group 1 has unknown option\(s\) 'betas'; SGD's options are "
                                         "lr, momentum, weight_decay"):
        nn.SGD([{"params": [weights]}, {"params": [biases], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match="appears more than once"):
        nn.SGD([{"params": [weights]}, {"params": [weights, biases]}], lr=0.1)
    with pytest.raises(ValueError, match=r"group 0 has no \"params\""):
        nn.SGD([{"lr": 0.1}, {"params": [biases]}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: group 1: no learning rate"):
        nn.SGD([{"params": [weights], "lr": 0.1}, {"params": [biases]}])
    with pytest.raises(ValueError, match=r"group 0: momentum and weight_decay must be >= 0"):
        nn.SGD([{"params": [weights], "momentum": -1}, {"params": [biases]}], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: group 1: betas must lie in \[0, 1\)"):
        nn.Adam([{"params": [weights]}, {"params": [biases], "betas": (1.0, 0.9)}])
    with pytest.raises(TypeError, match=r"group 0: got the method parameters itself"):
        nn.SGD([{"params": model.parameters}, {"params": [biases]}], lr=0.1)
    nn.SGD([{"params": weights}], lr=0.1)            # one tensor as a group's params, as in PyTorch


def test_optimizer_repr_shows_the_groups():
    model = _model()
    assert repr(nn.SGD(model.parameters(), lr=0.5)) == "SGD(lr=0.5, momentum=0.0, weight_decay=0.0)"
    assert repr(nn.SGD(_groups(model), lr=0.5)).splitlines() == [
        "SGD(", "  group 0: 2 parameters, lr=0.5, momentum=0.0, weight_decay=0.05",
        "  group 1: 2 parameters, lr=0.3, momentum=0.0, weight_decay=0.0", ")"]


# ---------------------------------------------------------- the checkpoint's names
def test_flatten_and_unflatten_are_inverses():
    tree = {"state": {0: {"step": 3, "exp_avg": np.ones((2, 2))}, 12: {"step": 1, "exp_avg": np.zeros(3)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0, 1]},
                             {"lr": 0.2, "betas": (0.9, 0.99), "params": [12]}],
            "t": 4, "mode": "max", "empty": {}, "none_yet": []}
    flat = flatten(tree, "optimizer")
    assert "optimizer/state/12/exp_avg" in flat and "optimizer/param_groups/[1]/lr" in flat
    back = unflatten(flat, "optimizer")
    assert back["t"] == 4 and back["mode"] == "max" and back["empty"] == {} and back["none_yet"] == []
    assert sorted(back["state"]) == [0, 12] and back["state"][12]["step"] == 1
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], np.ones((2, 2)))
    assert back["param_groups"][1]["lr"] == 0.2 and list(back["param_groups"][0]["params"]) == [0, 1]
    assert unflatten(flat, "schedule") is None
    with pytest.raises(TypeError, match="cannot be a name in a checkpoint"):
        flatten({"a/b": 1.0}, "x")
    with pytest.raises(TypeError, match="holds numbers, strings and numeric arrays only"):
        flatten({"a": None}, "x")


def test_save_is_still_atomic_with_an_optimizer(tmp_path):
    model = _model()
    opt = nn.SGD(model.parameters(), lr=0.1)
    model.save(tmp_path / "run.npz", optimizer=opt)
    assert os.listdir(tmp_path) == ["run.npz"]
