"""nn as people use it: one example as a vector, a model called with other parameters,
frozen layers and unused branches in the optimizers, slices and reprs of modules.

Where PyTorch has the behaviour, it is the oracle: unbatched input to ``Linear`` and
``cross_entropy``, ``torch.func.functional_call`` with ``vmap(grad)``, and
``torch.optim`` skipping parameters whose ``.grad`` is None.
"""

import numpy as np
import pytest
from conftest import require

import nn
from autograd_core import BackwardError, Tensor, per_example_grads

RNG = np.random.default_rng(12)
TORCH_REASON = "PyTorch is the optional oracle for nn's conventions (pip install torch==2.13.0)"


def _model(sizes=(4, 5, 3), last_sigmoid=True, seed=0):
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Dense(n_in, n_out, seed=seed + index), nn.Sigmoid()]
    return nn.Sequential(*(layers if last_sigmoid else layers[:-1]))


def _grads(model, cost, x, y):
    model.zero_grad()
    loss = cost(model(x), y)
    loss.backward()
    return loss.item(), {name: p.grad.copy() for name, p in model.named_parameters()}


# --------------------------------------------------------- one example as a vector
# (cost, whether the model ends with a Sigmoid, targets: "probabilities" | "labels" | "one-hot")
COSTS = [
    (nn.QuadraticCost(), True, "probabilities"),
    (nn.QuadraticCost(fused=True), True, "probabilities"),
    (nn.CrossEntropyCost(), True, "probabilities"),
    (nn.CrossEntropyCost(from_logits=True), False, "probabilities"),
    (nn.CrossEntropyCost(from_logits=True, fused=True), False, "probabilities"),
    (nn.SoftmaxCrossEntropy(), False, "labels"),
    (nn.SoftmaxCrossEntropy(), False, "one-hot"),
    (nn.SoftmaxCrossEntropy(fused=True), False, "labels"),
    (nn.SoftmaxCrossEntropy(fused=True), False, "one-hot"),
]


def _data(targets, batch=6, sizes=(4, 5, 3)):
    x = RNG.standard_normal((batch, sizes[0]))
    labels = RNG.integers(0, sizes[-1], batch)
    y = {"probabilities": RNG.uniform(0, 1, (batch, sizes[-1])),
         "labels": labels, "one-hot": np.eye(sizes[-1])[labels]}[targets]
    return x, y


@pytest.mark.parametrize("dense_fused", [False, True])
@pytest.mark.parametrize(("cost", "last_sigmoid", "targets"), COSTS, ids=repr)
def test_one_example_as_a_vector_is_a_batch_of_one_row(cost, last_sigmoid, targets, dense_fused):
    model = _model(last_sigmoid=last_sigmoid)
    for layer in model[::2]:
        layer.fused = dense_fused
    x, y = _data(targets)
    one_value, one_grads = _grads(model, cost, x[0], y[0])
    row_value, row_grads = _grads(model, cost, x[:1], y[:1])
    np.testing.assert_allclose(one_value, row_value, rtol=1e-14)
    for name in row_grads:
        np.testing.assert_allclose(one_grads[name], row_grads[name], rtol=1e-13, atol=1e-16, err_msg=name)


@pytest.mark.parametrize(("cost", "last_sigmoid", "targets"), COSTS, ids=repr)
def test_the_batch_cost_is_the_mean_of_the_one_example_costs(cost, last_sigmoid, targets):
    """The bug this semantics prevents: averaging a vector over its output units made the
    cost and every gradient out_features times too small."""
    model = _model(last_sigmoid=last_sigmoid)
    x, y = _data(targets)
    batch_value, batch_grads = _grads(model, cost, x, y)
    singles = [_grads(model, cost, x[n], y[n]) for n in range(len(x))]
    np.testing.assert_allclose(np.mean([value for value, _ in singles]), batch_value, rtol=1e-13)
    for name in batch_grads:
        mean = np.mean([grads[name] for _, grads in singles], axis=0)
        np.testing.assert_allclose(mean, batch_grads[name], rtol=1e-12, atol=1e-16, err_msg=name)


def test_a_vector_output_with_a_row_target_is_still_a_shape_error():
    with pytest.raises(ValueError, match=r"target has shape \(1, 3\) but the output has shape \(3,\)"):
        nn.QuadraticCost()(np.zeros(3), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="2 labels for a batch of 1 rows"):
        nn.SoftmaxCrossEntropy()(np.zeros(3), np.array([0, 1]))


def test_one_example_records_its_deltas_as_a_vector():
    model = _model()
    x, y = _data("probabilities")
    with model.record_deltas() as one:
        nn.QuadraticCost()(model(x[0]), y[0]).backward()
    with model.record_deltas() as row:
        nn.QuadraticCost()(model(x[:1]), y[:1]).backward()
    for key in row:
        assert one[key].shape == row[key].shape[1:]
        np.testing.assert_allclose(one[key], row[key][0], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(("cost", "last_sigmoid"), [
    (nn.QuadraticCost(), True), (nn.CrossEntropyCost(), True), (nn.CrossEntropyCost(from_logits=True), False),
])
def test_compare_works_on_one_example(cost, last_sigmoid):
    model = _model(last_sigmoid=last_sigmoid)
    x, y = _data("probabilities")
    report = nn.reference.compare(model, x[0], y[0], cost)
    assert report.batch == 1 and report.max_difference < 1e-12, str(report)
    assert "mini-batch of 1" in str(report)
    reports = nn.reference.compare(model, x[0], y[0], cost, lmbda=0.5, n=50, forms=("composed", "fused"))
    assert reports.max_difference < 1e-12, str(reports)


def test_one_example_gradients_are_network_py_backprop():
    """nn on one vector gives what Nielsen's per-example backprop(x, y) gives."""
    model = _model()
    x, y = _data("probabilities")
    _, grads = _grads(model, nn.QuadraticCost(), x[0], y[0])
    dense = list(model[::2])
    _, nabla_b, nabla_w = nn.reference.backprop_example(
        [d.W.data for d in dense], [d.b.data for d in dense], x[0], y[0], "quadratic")
    for index, (b, W) in enumerate(zip(nabla_b, nabla_w)):
        np.testing.assert_allclose(grads[f"layers.{2 * index}.b"], b, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(grads[f"layers.{2 * index}.W"], W, rtol=1e-12, atol=1e-16)


def test_one_example_agrees_with_pytorch_unbatched_input():
    torch = require("torch", TORCH_REASON)
    model = _model(last_sigmoid=False)
    x, labels = _data("labels")
    _, grads = _grads(model, nn.SoftmaxCrossEntropy(), x[0], labels[0])
    first, second = model[0], model[2]
    t = {name: torch.tensor(p.data, requires_grad=True) for name, p in model.named_parameters()}
    hidden = torch.sigmoid(torch.nn.functional.linear(torch.tensor(x[0]), t["layers.0.W"], t["layers.0.b"]))
    logits = torch.nn.functional.linear(hidden, t["layers.2.W"], t["layers.2.b"])
    assert logits.shape == (second.out_features,) and first.in_features == x.shape[1]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels[0]))   # unbatched: (C,), ()
    loss.backward()
    for name, tensor in t.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=name)


# -------------------------------------------------------------- functional_call
def test_functional_call_computes_with_the_given_parameters_and_leaves_the_model_alone():
    model = _model()
    twin = _model(seed=10)
    x = RNG.standard_normal((3, 4))
    own = {name: (p, p.data.copy(), p.version) for name, p in model.named_parameters()}
    params = {name: p.data for name, p in twin.named_parameters()}
    out = nn.functional_call(model, params, x)
    np.testing.assert_array_equal(out.data, twin(x).data)
    for p, (original, values, version) in zip(model.parameters(), own.values()):
        assert p is original and p.version == version
        np.testing.assert_array_equal(p.data, values)
    np.testing.assert_array_equal(model(x).data, nn.functional_call(model, {}, x).data)


def test_functional_call_keeps_unnamed_parameters_and_strict_requires_all():
    model = _model()
    x = RNG.standard_normal((3, 4))
    replaced = nn.functional_call(model, {"layers.2.b": np.zeros(3)}, x)
    model[2].b.data[...] = 0.0
    np.testing.assert_allclose(replaced.data, model(x).data, rtol=1e-15)
    with pytest.raises(ValueError, match=r"missing \(strict=True\): layers.0.W, layers.0.b, layers.2.W"):
        nn.functional_call(model, {"layers.2.b": np.zeros(3)}, x, strict=True)


def test_functional_call_puts_the_parameters_back_when_the_call_raises():
    model = _model()
    params = {name: np.zeros(p.shape) for name, p in model.named_parameters()}
    originals = model.parameters()
    with pytest.raises(ValueError, match="last axis must have 4 features"):
        nn.functional_call(model, params, np.zeros((2, 7)))
    assert model.parameters() == originals
    assert all(type(p) is nn.Parameter for p in originals)
    assert [layer.W for layer in model[::2]] == [originals[0], originals[2]]


def test_functional_call_refuses_unknown_names_and_wrong_shapes():
    model = _model()
    x = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"unknown: 'layer.0.W'.*parameters are layers.0.W, layers.0.b"):
        nn.functional_call(model, {"layer.0.W": np.zeros((5, 4))}, x)
    with pytest.raises(ValueError, match=r"params\['layers.0.W'\] has shape \(4, 5\) but the parameter has "
                                         r"shape \(5, 4\)"):
        nn.functional_call(model, {"layers.0.W": np.zeros((4, 5))}, x)
    with pytest.raises(TypeError, match="params is a list"):
        nn.functional_call(model, [np.zeros((5, 4))], x)


def test_functional_call_replaces_a_shared_layer_everywhere():
    shared = nn.Dense(3, 3, seed=0)
    model = nn.Sequential(shared, nn.Sigmoid(), shared)
    assert [name for name, _ in model.named_parameters()] == ["layers.0.W", "layers.0.b"]
    W, b = RNG.standard_normal((3, 3)), RNG.standard_normal(3)
    x = RNG.standard_normal((2, 3))
    expected = (1 / (1 + np.exp(-(x @ W.T + b)))) @ W.T + b
    out = nn.functional_call(model, {"layers.0.W": W, "layers.0.b": b}, x)
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)


def _per_example_loop(model, cost, x, y):
    """One ordinary backward pass per example, each a batch of one row."""
    result = {name: [] for name, _ in model.named_parameters()}
    for n in range(len(x)):
        _, grads = _grads(model, cost, x[n : n + 1], y[n : n + 1])
        for name, g in grads.items():
            result[name].append(g)
    return {name: np.stack(gs) for name, gs in result.items()}


def test_per_example_grads_of_a_model_through_functional_call():
    model, cost = _model(), nn.QuadraticCost()
    x, y = _data("probabilities", batch=5)
    per = per_example_grads(lambda p, X, Y: cost(nn.functional_call(model, p, X), Y),
                            dict(model.named_parameters()), x, y)
    loop = _per_example_loop(model, cost, x, y)
    assert list(per) == list(loop)
    for name in loop:
        assert per[name].shape == (5, *model.state_dict()[name].shape)
        np.testing.assert_allclose(per[name], loop[name], rtol=1e-13, atol=1e-16, err_msg=name)
    assert np.abs(per["layers.0.W"]).max() > 1e-3       # not the zeros of the bug


def test_per_example_grads_without_functional_call_is_refused():
    """The bug: the model used its own parameters, and every gradient came out zero."""
    model, cost = _model(), nn.QuadraticCost()
    x, y = _data("probabilities", batch=3)
    with pytest.raises(BackwardError, match=r"does not depend on params\['layers.0.W'\].*"
                                            r"nn.functional_call\(model, params, x\).*allow_unused=True"):
        per_example_grads(lambda p, X, Y: cost(model(X), Y), dict(model.named_parameters()), x, y)


def test_per_example_grads_through_functional_call_match_torch_vmap_grad():
    torch = require("torch", TORCH_REASON)
    from torch.func import functional_call, grad, vmap

    model, cost = _model(last_sigmoid=False), nn.SoftmaxCrossEntropy()
    x, labels = _data("labels", batch=5)
    per = per_example_grads(lambda p, X, Y: cost(nn.functional_call(model, p, X), Y),
                            dict(model.named_parameters()), x, labels)

    twin = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 3)).double()
    names = {"0.weight": "layers.0.W", "0.bias": "layers.0.b",
             "2.weight": "layers.2.W", "2.bias": "layers.2.b"}
    state = model.state_dict()
    params = {theirs: torch.tensor(state[ours]) for theirs, ours in names.items()}

    def loss(p, one_x, one_label):     # one example, unbatched, as vmap hands it over
        logits = functional_call(twin, p, (one_x,))
        return torch.nn.functional.cross_entropy(logits, one_label)

    theirs = vmap(grad(loss), in_dims=(None, 0, 0))(params, torch.tensor(x), torch.tensor(labels))
    for their_name, our_name in names.items():
        np.testing.assert_allclose(per[our_name], theirs[their_name].numpy(), rtol=1e-12, atol=1e-15,
                                   err_msg=our_name)


# --------------------------------------------------------------- the optimizers
def test_a_frozen_layer_is_accepted_and_left_alone():
    model, cost = _model(), nn.QuadraticCost()
    x, y = _data("probabilities")
    frozen = model[0]
    frozen.W.requires_grad = False
    frozen.b.requires_grad = False
    before = {name: (p.data.copy(), p.version) for name, p in model.named_parameters()}
    for make in (lambda ps: nn.SGD(ps, lr=0.5, momentum=0.9), lambda ps: nn.Adam(ps, lr=0.01)):
        opt = make(model.parameters())
        opt.zero_grad()
        cost(model(x), y).backward()
        assert frozen.W.grad is None and model[2].W.grad is not None
        opt.step()
    for name, p in model.named_parameters():
        values, version = before[name]
        if name.startswith("layers.0"):
            np.testing.assert_array_equal(p.data, values)
            assert p.version == version
        else:
            assert not np.array_equal(p.data, values) and p.version == version + 2
    frozen.W.requires_grad = True                     # unfrozen, it trains again
    opt = nn.SGD(model.parameters(), lr=0.5)
    cost(model(x), y).backward()
    opt.step()
    assert frozen.W.version == before["layers.0.W"][1] + 1


def _run_with_missing_grads(make, params, schedule, as_grad):
    """Step ``make(params)`` with the gradients of ``schedule`` (per step, an array or None
    per parameter, each given to the parameter as ``as_grad(array)``); the final values."""
    opt = make(params)
    for grads in schedule:
        for p, g in zip(params, grads):
            p.grad = None if g is None else as_grad(g.copy())
        opt.step()
    return [np.array(p.data if isinstance(p, Tensor) else p.detach().numpy()) for p in params]


@pytest.mark.parametrize("kind", ["sgd", "sgd-momentum", "adam"])
def test_parameters_without_gradient_are_skipped_as_in_pytorch(kind):
    """An unused branch: some steps give some parameters no gradient. PyTorch leaves them,
    their momentum and their Adam step count alone; the next gradient resumes from there."""
    torch = require("torch", TORCH_REASON)
    shapes = [(3, 2), (2,), (4,)]
    starts = [RNG.standard_normal(s) for s in shapes]
    schedule = []
    for step in range(6):
        schedule.append([None if (index == step % 3 or (index == 2 and step < 3)) else RNG.standard_normal(s)
                         for index, s in enumerate(shapes)])
    ours_make = {"sgd": lambda ps: nn.SGD(ps, lr=0.1),
                 "sgd-momentum": lambda ps: nn.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                 "adam": lambda ps: nn.Adam(ps, lr=0.05)}[kind]
    theirs_make = {"sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
                   "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                   "adam": lambda ps: torch.optim.Adam(ps, lr=0.05)}[kind]
    ours = _run_with_missing_grads(ours_make, [nn.Parameter(s.copy()) for s in starts], schedule, np.asarray)
    their_params = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    theirs = _run_with_missing_grads(theirs_make, their_params, schedule, torch.tensor)
    for index, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"parameter {index}")


def test_a_step_with_no_gradient_at_all_is_a_forgotten_backward():
    model = _model()
    for make in (lambda ps: nn.SGD(ps, lr=0.1), lambda ps: nn.Adam(ps)):
        opt = make(model.parameters())
        with pytest.raises(ValueError, match=r"none of the 4 parameters has a gradient.*loss.backward\(\)"):
            opt.step()


def test_passing_the_parameters_method_says_to_call_it():
    model = _model()
    with pytest.raises(TypeError, match=r"got the method parameters itself.*SGD\(model.parameters\(\), lr="):
        nn.SGD(model.parameters, lr=0.1)
    with pytest.raises(TypeError, match=r"method named_parameters itself.*Adam\(model.parameters\(\)"):
        nn.Adam(model.named_parameters)
    with pytest.raises(TypeError, match=r"parameter 0 is a tuple, not a Tensor; pass model.parameters\(\), "
                                        r"not named_parameters\(\)"):
        nn.SGD(model.named_parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 0 is a Dense, not a Tensor; pass model.parameters\(\), "
                                        "not the model's layers"):
        nn.SGD(model, lr=0.1)
    with pytest.raises(TypeError, match=r"params is a float.*SGD\(model.parameters\(\), lr=...\)"):
        nn.SGD(0.1, lr=0.1)


# ------------------------------------------------------------ slices and reprs
def test_a_slice_of_a_sequential_is_a_sequential_of_the_same_layers():
    model = _model(sizes=(4, 5, 3, 2))
    head = model[0:2]
    assert type(head) is nn.Sequential and len(head) == 2
    assert head[0] is model[0] and head[1] is model[1]
    assert [type(layer).__name__ for layer in model[::2]] == ["Dense", "Dense", "Dense"]
    assert model[-2:][1] is model[-1] and len(model[10:]) == 0
    x = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(model[2:](head(x)).data, model(x).data)
    head[0].W.data[...] = 0.0                         # the same layer objects: shared
    np.testing.assert_array_equal(model[0].W.data, np.zeros((5, 4)))


class _Net(nn.Module):
    def __init__(self):
        self.hidden = nn.Dense(4, 3, seed=0)
        self.act = nn.Sigmoid()
        self.out = nn.Sequential(nn.Dense(3, 2, seed=1), nn.Softmax())
        self.scale = nn.Parameter(np.ones(2))         # parameters are not listed, as in PyTorch

    def forward(self, x):
        return self.out(self.act(self.hidden(x))) * self.scale


def test_a_custom_module_repr_shows_its_children_as_pytorch_does():
    assert repr(_Net()) == (
        "_Net(\n"
        "  (hidden): Dense(4, 3)\n"
        "  (act): Sigmoid()\n"
        "  (out): Sequential(\n"
        "    (0): Dense(3, 2)\n"
        "    (1): Softmax(axis=-1)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Sequential()) == "Sequential()" and repr(nn.Sigmoid()) == "Sigmoid()"
    assert repr(nn.Sequential(nn.Dense(2, 1))) == "Sequential(\n  (0): Dense(2, 1)\n)"


def test_the_repr_layout_is_pytorchs():
    torch = require("torch", TORCH_REASON)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Identity()
            self.out = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Identity())

    class Ours(nn.Module):
        def __init__(self):
            self.hidden = nn.Identity()
            self.out = nn.Sequential(nn.Identity(), nn.Identity())

    assert repr(Ours()).replace("Ours", "Net") == repr(Net())
