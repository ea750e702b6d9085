"""Tensor conveniences PyTorch users reach for: ``argmax``/``argmin``, ``tolist``, ``flatten``,
``unsqueeze``, ``pow``, and ``np.argmax(tensor)``.

The indices are read from the values (numpy results, not differentiable, as comparisons
are); ``flatten``, ``unsqueeze`` and ``pow`` are recorded operations with gradients.
"""

import numpy as np
import pytest
from conftest import require

import autograd_core as ac
from autograd_core import Tensor

RNG = np.random.default_rng(3)
TORCH_REASON = "PyTorch is the optional oracle for the engine's conventions (pip install torch==2.13.0)"


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_and_argmin_are_numpys_on_the_values(axis, keepdims):
    values = RNG.standard_normal((4, 5))
    t = Tensor(values, requires_grad=True)
    for ours, numpys in ((t.argmax(axis, keepdims), np.argmax(values, axis=axis, keepdims=keepdims)),
                         (t.argmin(axis, keepdims), np.argmin(values, axis=axis, keepdims=keepdims)),
                         (np.argmax(t, axis=axis, keepdims=keepdims),
                          np.argmax(values, axis, keepdims=keepdims)),
                         (np.argmin(t, axis), np.argmin(values, axis))):
        assert not isinstance(ours, Tensor)
        np.testing.assert_array_equal(ours, numpys)
        assert np.shape(ours) == np.shape(numpys)


def test_accuracy_reads_as_in_numpy_and_pytorch():
    scores = Tensor(np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]]), requires_grad=True)
    labels = np.array([1, 2])
    assert np.mean(np.argmax(scores, axis=1) == labels) == 0.5
    assert np.mean(scores.argmax(axis=1) == labels) == 0.5
    assert scores.argmax() == 3 and isinstance(scores.argmax(), np.integer)      # flat index of 0.8


def test_tolist():
    assert Tensor(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert Tensor(2.5).tolist() == 2.5


@pytest.mark.parametrize("shape, start, end", [((2, 3, 4), 0, -1), ((2, 3, 4), 1, -1), ((2, 3, 4, 5), 1, 2),
                                               ((2, 3), -1, -1), ((6,), 0, 0), ((), 0, -1)])
def test_flatten_shapes_and_gradients(shape, start, end):
    x = Tensor(RNG.standard_normal(shape), requires_grad=True)
    out = x.flatten(start, end)
    if shape:
        expected = np.reshape(x.data, shape[:start % len(shape)] + (-1,) + shape[end % len(shape) + 1:])
    else:
        expected = x.data.reshape(1)
    np.testing.assert_array_equal(out.data, expected)
    weight = RNG.standard_normal(out.shape)
    assert ac.gradcheck(lambda t: t.flatten(start, end) * weight, [x])


def test_flatten_errors_name_the_axes():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="start_axis 1 comes after end_axis 0"):
        x.flatten(1, 0)
    with pytest.raises(ValueError, match=r"out of range for a tensor of shape \(2, 3\)"):
        x.flatten(2)


def test_unsqueeze_is_expand_dims_and_pow_is_the_power_operator():
    x = Tensor(RNG.uniform(0.5, 2, (3, 2)), requires_grad=True)
    assert x.unsqueeze(0).shape == (1, 3, 2) and x.unsqueeze(-1).shape == (3, 2, 1)
    np.testing.assert_array_equal(x.unsqueeze(1).data, np.expand_dims(x.data, 1))
    np.testing.assert_array_equal(x.pow(3).data, (x ** 3).data)
    assert x.pow(2).grad_fn.op.name == (x ** 2).grad_fn.op.name
    weight = RNG.standard_normal((3, 2))
    assert ac.gradcheck(lambda t: t.pow(2.5) * weight, [x])
    e = Tensor(np.array(1.5), requires_grad=True)
    assert ac.gradcheck(lambda t, p: t.pow(p) * weight, [x, e])
    assert ac.gradcheck(lambda t: t.unsqueeze(1) * weight[:, None, :], [x])


def test_conveniences_match_torch():
    torch = require("torch", TORCH_REASON)
    values = RNG.uniform(0.5, 2, (2, 3, 4))
    ours = Tensor(values.copy(), requires_grad=True)
    theirs = torch.tensor(values.copy(), requires_grad=True)
    g = RNG.standard_normal((2, 12, 1))
    (ours.flatten(1).unsqueeze(-1).pow(3) * g).sum().backward()
    (theirs.flatten(1).unsqueeze(-1).pow(3) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ours.argmax(axis=2), theirs.argmax(dim=2).numpy())
    assert ours.tolist() == theirs.tolist()
