"""Module bookkeeping, Dense, record_deltas, and checkpoints (round trip, atomicity, mismatches)."""

import os

import numpy as np
import pytest

import autograd_core as ac
import nn
import nn.module
from autograd_core import Tensor, no_grad


def _model(sizes=(3, 4, 2), seed=0):
    return nn.Sequential(nn.Dense(sizes[0], sizes[1], seed=seed), nn.Sigmoid(),
                         nn.Dense(sizes[1], sizes[2], seed=seed + 1), nn.Sigmoid())


def _values(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


def _assert_same(model, values):
    current = _values(model)
    assert current.keys() == values.keys()
    for name in values:
        np.testing.assert_array_equal(current[name], values[name])


def test_named_parameters_use_dotted_paths_and_name_the_tensors():
    model = _model()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]
    assert [p.name for p in model.parameters()] == names
    assert model[0].W.node.name == "layers.0.W"  # what diagrams read
    assert all(p.requires_grad and isinstance(p, nn.Parameter) for p in model.parameters())


def test_nested_sequential_names():
    inner = nn.Sequential(nn.Dense(2, 2), nn.Tanh())
    outer = nn.Sequential(inner, nn.Dense(2, 1))
    assert [name for name, _ in outer.named_parameters()] == [
        "layers.0.layers.0.W", "layers.0.layers.0.b", "layers.1.W", "layers.1.b"]


def test_sequential_is_indexable_iterable_and_sized():
    model = _model()
    assert len(model) == 4 and model[2] is model.layers[2] and list(model) == model.layers
    assert isinstance(model[1], nn.Sigmoid)
    with pytest.raises(TypeError, match="argument 1 is a int, not a Module"):
        nn.Sequential(nn.Dense(2, 2), 3)


def test_dense_shapes_forward_and_initialisation():
    layer = nn.Dense(400, 300, seed=1)
    assert layer.W.shape == (300, 400) and layer.b.shape == (300,)
    assert abs(layer.W.data.std() - 1 / np.sqrt(400)) < 0.005
    assert abs(nn.Dense(400, 300, init="large", seed=1).W.data.std() - 1.0) < 0.02
    np.testing.assert_array_equal(nn.Dense(5, 3, seed=7).W.data, nn.Dense(5, 3, seed=7).W.data)
    x = np.random.default_rng(0).standard_normal((6, 400))
    np.testing.assert_allclose(layer(x).data, x @ layer.W.data.T + layer.b.data, rtol=1e-13)
    with pytest.raises(ValueError, match="init must be"):
        nn.Dense(2, 2, init="xavier")
    with pytest.raises(ValueError, match="sizes must be positive"):
        nn.Dense(0, 2)


def test_dense_width_mismatch_names_layer_and_shapes():
    model = _model((3, 4, 2))
    with pytest.raises(ValueError, match=r"Dense 'layers.0' \(3 → 4\): input has shape \(5, 7\)"):
        model(np.ones((5, 7)))
    broken = nn.Sequential(nn.Dense(3, 4), nn.Sigmoid(), nn.Dense(5, 2))
    with pytest.raises(ValueError, match=r"'layers.2' \(5 → 2\): input has shape \(1, 4\)"):
        broken(np.ones((1, 3)))


@pytest.mark.parametrize("kind", ["tensor", "array", "list", "float32 array"])
def test_dense_checks_the_width_of_every_kind_of_input(kind):
    """Tensors and ndarrays take the .shape path, anything else np.shape: same checks."""
    def make(shape):
        values = np.ones(shape)
        return {"tensor": Tensor(values), "array": values, "list": values.tolist(),
                "float32 array": values.astype(np.float32)}[kind]

    layer = nn.Dense(3, 2, seed=0)
    np.testing.assert_allclose(layer(make((4, 3))).data, np.ones((4, 3)) @ layer.W.data.T + layer.b.data,
                               rtol=1e-6)
    np.testing.assert_allclose(layer(make(3)).data, layer.W.data.sum(axis=1) + layer.b.data, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(3 → 2\): input has shape \(4, 5\)"):
        layer(make((4, 5)))
    with pytest.raises(ValueError, match=r"input has shape \(\)"):
        layer(make(()))


def test_zero_grad_and_train_eval():
    model = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm(2))
    nn.QuadraticCost()(model(np.ones((4, 3)) * np.arange(4)[:, None]), np.zeros((4, 2))).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.eval() is model and not model[1].training and not model.training
    model.train()
    assert model[1].training


def test_record_deltas_collects_gradient_at_each_weighted_input():
    model = _model()
    x, y = np.random.default_rng(1).standard_normal((5, 3)), np.zeros((5, 2))
    with model.record_deltas() as deltas:
        nn.QuadraticCost()(model(x), y).backward()
    assert sorted(deltas) == ["layers.0", "layers.2"]
    assert deltas["layers.0"].shape == (5, 4) and deltas["layers.2"].shape == (5, 2)
    # BP3 from the recorded deltas: the bias gradient is their sum over the batch.
    np.testing.assert_allclose(model[2].b.grad, deltas["layers.2"].sum(axis=0), rtol=1e-13)
    # Outside the block nothing is recorded any more.
    model.zero_grad()
    nn.QuadraticCost()(model(x), y).backward()
    assert all(layer._delta_sink is None for layer in (model[0], model[2]))


def test_record_deltas_hooks_z_in_both_forms_of_dense():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 2))
    recorded = []
    for fused in (False, True):
        model = _model()
        for layer in (model[0], model[2]):
            layer.fused = fused
        with model.record_deltas() as deltas:
            nn.QuadraticCost(fused=fused)(model(x), y).backward()
        recorded.append(deltas)
    assert sorted(recorded[0]) == sorted(recorded[1]) == ["layers.0", "layers.2"]
    for path in ("layers.0", "layers.2"):
        np.testing.assert_allclose(recorded[1][path], recorded[0][path], rtol=1e-12, atol=1e-17)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class _TwiceThrough(nn.Module):
    """One square Dense applied twice, with a Sigmoid after each: d(σ(d(x)))."""

    def __init__(self, d):
        self.d = d

    def forward(self, x):
        return ac.sigmoid(self.d(ac.sigmoid(self.d(x))))


def _shared_model(form, d):
    return nn.Sequential(d, nn.Sigmoid(), d, nn.Sigmoid()) if form == "sequential" else _TwiceThrough(d)


@pytest.mark.parametrize("form", ["sequential", "nested calls"])
def test_record_deltas_keeps_every_use_of_a_shared_layer_in_forward_order(form):
    d = nn.Dense(3, 3, seed=4)
    model = _shared_model(form, d)
    name = "layers.0" if form == "sequential" else "d"
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 3))
    with model.record_deltas() as deltas:
        nn.QuadraticCost()(model(x), y).backward()
    assert sorted(deltas) == [f"{name}#0", f"{name}#1"]
    # Independently, BP1 and BP2 by hand in numpy (batch as rows, mean cost over 5 rows).
    W, b = d.W.data, d.b.data
    z0 = x @ W.T + b
    a0 = _sigmoid(z0)
    z1 = a0 @ W.T + b
    a1 = _sigmoid(z1)
    delta1 = (a1 - y) / 5 * a1 * (1 - a1)           # BP1, at the second call's z
    delta0 = (delta1 @ W) * a0 * (1 - a0)           # BP2, at the first call's z
    np.testing.assert_allclose(deltas[f"{name}#0"], delta0, rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(deltas[f"{name}#1"], delta1, rtol=1e-12, atol=1e-17)
    assert not np.allclose(delta0, delta1)          # so the order is really checked
    # BP3 and BP4 for a shared layer: its gradients are the sums over its uses.
    np.testing.assert_allclose(d.b.grad, delta0.sum(axis=0) + delta1.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d.W.grad, delta0.T @ x + delta1.T @ a0, rtol=1e-12)
    with pytest.raises(KeyError, match=rf"called 2 times.*'{name}#0', '{name}#1'"):
        deltas[name]


def test_record_deltas_of_a_shared_layer_match_the_engines_gradients_at_each_z():
    d = nn.Dense(4, 4, seed=1)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), rng.uniform(0, 1, (6, 4))
    weight = rng.standard_normal()     # a random upstream gradient, not 1
    with d.record_deltas() as deltas:
        (nn.QuadraticCost()(ac.sigmoid(d(ac.tanh(d(x)))), y) * weight).backward()
    assert sorted(deltas) == ["dense#0", "dense#1"]  # a lone Dense recording itself
    z0 = d(x)
    z1 = d(ac.tanh(z0))
    expected = ac.gradients(nn.QuadraticCost()(ac.sigmoid(z1), y) * weight, [z0, z1])
    np.testing.assert_allclose(deltas["dense#0"], expected[0], rtol=1e-13, atol=1e-17)
    np.testing.assert_allclose(deltas["dense#1"], expected[1], rtol=1e-13, atol=1e-17)


def test_record_deltas_numbers_the_uses_of_several_passes_in_one_block():
    model = _model()
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 2))) for _ in range(2)]
    alone = []
    for x, y in batches:           # each pass recorded in a block of its own: plain keys
        with model.record_deltas() as deltas:
            nn.QuadraticCost()(model(x), y).backward()
        alone.append(deltas)
    with model.record_deltas() as deltas:
        for x, y in batches:       # the first pass's deltas arrive before the second call
            nn.QuadraticCost()(model(x), y).backward()
    assert sorted(deltas) == ["layers.0#0", "layers.0#1", "layers.2#0", "layers.2#1"]
    for index, single in enumerate(alone):
        for path in ("layers.0", "layers.2"):
            np.testing.assert_array_equal(deltas[f"{path}#{index}"], single[path])


def test_record_deltas_counts_only_calls_that_record_a_graph():
    model = _model()
    x, y = np.ones((2, 3)), np.zeros((2, 2))
    with model.record_deltas() as deltas:
        with no_grad():
            model(x)               # no graph, so no delta can arrive: not a use
        nn.QuadraticCost()(model(x), y).backward()
    assert sorted(deltas) == ["layers.0", "layers.2"]


def test_nested_record_deltas_blocks_leave_the_outer_one_recording():
    model = _model()
    x, y = np.ones((2, 3)), np.zeros((2, 2))
    with model.record_deltas() as outer:
        with model[2].record_deltas() as inner:
            nn.QuadraticCost()(model(x), y).backward()
        nn.QuadraticCost()(model(x), y).backward()
    assert sorted(inner) == ["dense"]
    assert sorted(outer) == ["layers.0#0", "layers.0#1", "layers.2"]
    np.testing.assert_array_equal(inner["dense"], outer["layers.2"])
    assert model[0]._delta_sink is None and model[2]._delta_sink is None


def test_a_shared_layer_is_one_module_with_its_parameters_listed_once():
    d = nn.Dense(3, 3, seed=0)
    model = nn.Sequential(d, nn.Sigmoid(), d)
    assert [path for path, _ in model.named_modules()] == ["", "layers.0", "layers.1"]
    assert [name for name, _ in model.named_parameters()] == ["layers.0.W", "layers.0.b"]
    assert d.W.name == "layers.0.W" and list(model.state_dict()) == ["layers.0.W", "layers.0.b"]
    # So SGD updates a shared weight once per step, by lr times its summed gradient.
    before = d.W.data.copy()
    nn.QuadraticCost()(model(np.ones((2, 3))), np.zeros((2, 3))).backward()
    nn.SGD(model.parameters(), lr=0.1).step()
    np.testing.assert_allclose(d.W.data, before - 0.1 * d.W.grad, rtol=1e-15)
    # Tied weights (one Parameter in two layers) are listed once too.
    e = nn.Dense(3, 3, seed=1)
    e.W = d.W
    assert [name for name, _ in nn.Sequential(d, e).named_parameters()] == [
        "layers.0.W", "layers.0.b", "layers.1.b"]


# ------------------------------------------------------------------ checkpoints
def test_state_dict_round_trip_and_copies():
    a, b = _model(seed=0), _model(seed=5)
    state = a.state_dict()
    state["layers.0.W"][...] = 0  # a copy: the model is not touched
    assert np.abs(a[0].W.data).sum() > 0
    b.load_state_dict(a.state_dict())
    _assert_same(b, _values(a))


def test_load_state_dict_bumps_version_counters():
    model = _model()
    before = model[0].W.version
    model.load_state_dict(_model(seed=3).state_dict())
    assert model[0].W.version == before + 1


def test_save_and_load_round_trip(tmp_path):
    a = nn.Sequential(nn.Dense(3, 4, seed=0), nn.BatchNorm(4), nn.Sigmoid())
    a(np.random.default_rng(0).standard_normal((6, 3)))  # moves the running statistics
    path = tmp_path / "model.npz"
    a.save(path)
    b = nn.Sequential(nn.Dense(3, 4, seed=9), nn.BatchNorm(4), nn.Sigmoid())
    b.load(path)
    _assert_same(b, _values(a))
    np.testing.assert_array_equal(b[1].running_mean, a[1].running_mean)
    np.testing.assert_array_equal(b[1].running_var, a[1].running_var)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind


def test_mismatched_checkpoint_lists_every_problem_and_changes_nothing(tmp_path):
    path = tmp_path / "small.npz"
    _model((3, 4, 2)).save(path)
    target = nn.Sequential(nn.Dense(3, 5), nn.Sigmoid(), nn.Dense(5, 2), nn.Sigmoid(), nn.Dense(2, 1))
    before = _values(target)
    with pytest.raises(ValueError) as error:
        target.load(path)
    message = str(error.value)
    assert "nothing was changed" in message
    assert "shape mismatch: layers.0.W is (5, 3) in the model, (4, 3) in the state" in message
    assert "shape mismatch: layers.2.W" in message and "missing: layers.4.W" in message
    _assert_same(target, before)
    with pytest.raises(ValueError, match="unexpected: extra"):
        _model().load_state_dict({**_model().state_dict(), "extra": np.zeros(1)})


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    state = _model().state_dict()
    state["layers.0.W"] = np.array([object()] * 12, dtype=object).reshape(4, 3)
    np.savez(path, **state)
    model = _model(seed=4)
    before = _values(model)
    with pytest.raises(ValueError, match="allow_pickle"):
        model.load(path)
    _assert_same(model, before)


def test_crash_during_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    _model(seed=0).save(path)
    original = path.read_bytes()

    def crash_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(nn.module.np, "savez", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        _model(seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    restored = _model(seed=2)
    restored.load(path)
    _assert_same(restored, _values(_model(seed=0)))


def test_failed_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    _model(seed=0).save(path)
    original = path.read_bytes()

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(nn.module.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        _model(seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_parameter_converts_integers_and_tensor_targets_work():
    p = nn.Parameter([1, 2, 3], name="w")
    assert p.dtype == np.float64 and p.requires_grad and p.name == "w" and "Parameter" in repr(p)
    model = _model()
    model.load_state_dict({k: Tensor(v) for k, v in _model(seed=8).state_dict().items()})
    _assert_same(model, _values(_model(seed=8)))


def test_deepcopy_of_a_model_gives_independent_parameters_of_the_same_kind():
    import copy

    model = nn.Sequential(nn.Dense(3, 2, seed=0), nn.Sigmoid())
    twin = copy.deepcopy(model)
    W, twin_W = model.layers[0].W, twin.layers[0].W
    assert type(twin_W) is nn.Parameter and twin_W.decay is True and twin_W.requires_grad
    np.testing.assert_array_equal(twin_W.data, W.data)
    twin_W.data += 1.0
    assert not np.allclose(twin_W.data, W.data)


def test_activation_modules_repr_as_their_constructor_call():
    assert [repr(m) for m in (nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.Identity(), nn.Softmax(axis=0))] == \
        ["Sigmoid()", "Tanh()", "ReLU()", "Identity()", "Softmax(axis=0)"]


def test_calling_a_module_runs_its_forward():
    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    class Quadruple(Double):
        def forward(self, x):
            return super().forward(super().forward(x))

    class Inherits(Double):
        pass

    class OwnCall(Double):
        def forward(self, x):
            return 3 * x

        def __call__(self, x):
            return self.forward(x) + 1

    assert (Double()(3), Quadruple()(3), Inherits()(3), OwnCall()(3)) == (6, 12, 6, 10)
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(3)
