"""The benchmark's systems do the same work: equal gradients and equal updated weights.

A benchmark that compared different computations would measure nothing; these tests
fail if a system (the numpy floor, the minimal-tape lower bound, the engine, the nn
blocks) drifts from the others.
"""

import numpy as np
import pytest

from autograd_core import Tensor
from benchmarks import chain, nielsen


@pytest.mark.parametrize("size", [None, 7], ids=["scalars", "arrays"])
def test_chain_systems_compute_the_same_gradients(size):
    problem = chain.make_chain(40, size, seed=3)
    by_hand = chain.numpy_chain(problem)()
    tape = chain.minimal_tape_chain(problem)()
    ws = [Tensor(w.copy(), requires_grad=True) for w in problem["ws"]]
    y = Tensor(problem["x"].copy())
    for w in ws:
        y = (y * w + chain.C).relu()
    y.sum().backward()
    run_jit = chain.jit_chain(problem)
    for jitted in (run_jit(), run_jit()):          # the traced call, then the replayed program
        for i, (expected, from_tape, w, from_jit) in enumerate(zip(by_hand, tape, ws, jitted)):
            np.testing.assert_allclose(from_tape, expected, rtol=1e-12, err_msg=f"link {i}")
            np.testing.assert_allclose(w.grad, expected, rtol=1e-12, err_msg=f"link {i}")
            np.testing.assert_allclose(from_jit, expected, rtol=1e-12, err_msg=f"jit, link {i}")


def test_sgd_step_systems_update_the_weights_identically():
    problem = nielsen.make_problem([12, 5, 3], batch=4, seed=1)
    systems = [nielsen.NumpyFloor(problem), nielsen.Engine(problem), nielsen.NnBlocks(problem),
               nielsen.NnBlocks(problem, fused=True), nielsen.Jit(problem)]
    for system in systems:
        system.step()
        system.step()
    floor = systems[0]
    for system in systems[1:]:
        if isinstance(system, nielsen.NnBlocks):
            weights = [layer.W.data for layer in system.layers[::2]]
            biases = [layer.b.data for layer in system.layers[::2]]
        elif isinstance(system, nielsen.Jit):
            weights, biases = system.params[0::2], system.params[1::2]
        else:
            weights = [W.data for W in system.W]
            biases = [b.data for b in system.b]
        for layer, (W, b) in enumerate(zip(weights, biases)):
            np.testing.assert_allclose(W, floor.W[layer], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{type(system).__name__} W{layer}")
            np.testing.assert_allclose(b, floor.b[layer], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{type(system).__name__} b{layer}")
    assert not np.allclose(floor.W[0], problem["weights"][0])   # the step did move the weights
