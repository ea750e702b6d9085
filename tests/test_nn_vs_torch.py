"""nn's optimizers and BatchNorm against PyTorch's, in float64, step by step.

A second, independent opinion beside test_nn_optim.py and test_nn_batchnorm.py, which
check the same things against formulas written in the tests and against finite
differences: momentum, weight decay, Adam's bias corrections and ε, and BatchNorm's
dependence on the batch mean and variance (forward, the three gradients, the running
statistics, eval mode). Agreement is asked to 1e-12, far tighter than finite differences.

Where nn and PyTorch name or define things differently, the PyTorch configuration used is
the one nn documents as its own: ``nn.SGD`` is PyTorch's SGD with ``dampening=0`` and
``nesterov=False`` (nn has neither option); ``nn.Adam`` has no ``weight_decay``, so
PyTorch's (L2 added to the gradient) is matched by adding (wd/2)‖p‖² to nn's cost, that
is ``wd·p`` to the gradient; ``nn.BatchNorm``'s γ, β are ``BatchNorm1d``'s weight, bias.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import nn

RTOL = 1e-12
SHAPES = [(3, 4), (4,), (2, 1)]
STEPS = 8


@pytest.fixture(scope="module")
def torch():
    return require("torch", "PyTorch is the oracle of nn's optimizers and BatchNorm "
                            "(pip install torch==2.13.0)")


def _close(ours, theirs, what):
    """Equal to RTOL, element by element, and to RTOL of the array's scale (at least 1) near zero.

    The absolute part is for entries that are the small difference of large terms: with a
    batch of 2, BatchNorm's x̂ is ±√(σ²/(σ² + ε)), and dC/dx, a sum of O(1) terms, is of order
    ε/σ², its last digits rounding noise of those terms (both libraries differ there by ~1e-13).
    """
    theirs = theirs.detach().numpy()
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=what)


# ---------------------------------------------------------------- optimizers
def _gradient(value, target, noise):
    """∇ of a cost whose gradient depends on where the parameter is, plus a per-step noise."""
    return 2.0 * (value - target) * (1.0 + 0.5 * np.tanh(value)) + noise


def _run_both(torch, make_ours, make_theirs, l2=0.0):
    """The same cost, step by step, with nn and with PyTorch; compare every parameter after each step.

    ``l2``: add l2·p to nn's gradient only (the gradient of (l2/2)‖p‖² in its cost), for an
    optimizer whose PyTorch twin has ``weight_decay=l2`` and nn's has none.
    """
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal(s) for s in SHAPES]
    targets = [rng.standard_normal(s) for s in SHAPES]
    noises = [[0.3 * rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    ours = [nn.Parameter(s.copy(), name=f"p{i}") for i, s in enumerate(starts)]
    theirs = [torch.tensor(s.copy(), dtype=torch.float64, requires_grad=True) for s in starts]
    opt_ours, opt_theirs = make_ours(ours), make_theirs(theirs)
    for step in range(STEPS):
        for p, q, target, noise in zip(ours, theirs, targets, noises[step]):
            p.grad = _gradient(p.data, target, noise) + l2 * p.data
            q.grad = torch.from_numpy(_gradient(q.detach().numpy(), target, noise))
        opt_ours.step()
        opt_theirs.step()
        for index, (p, q) in enumerate(zip(ours, theirs)):
            _close(p.data, q, f"parameter {index} after step {step + 1}")
    # The run went somewhere: agreement is not that of parameters that hardly moved.
    assert max(np.abs(p.data - s).max() for p, s in zip(ours, starts)) > 0.05
    return ours


@pytest.mark.parametrize("lr, momentum, weight_decay", [
    (0.1, 0.0, 0.0),
    (0.1, 0.9, 0.0),
    (0.1, 0.0, 0.05),
    (0.05, 0.9, 0.01),
    (0.2, 0.5, 0.3),
])
def test_sgd_matches_pytorch(torch, lr, momentum, weight_decay):
    _run_both(
        torch,
        lambda ps: nn.SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay),
        lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, dampening=0.0,
                                   weight_decay=weight_decay, nesterov=False),
    )


@pytest.mark.parametrize("lr, betas, eps", [
    (0.01, (0.9, 0.999), 1e-8),     # betas and ε: the defaults of both
    (0.05, (0.8, 0.99), 1e-6),
    (0.1, (0.5, 0.9), 1e-2),        # an ε large enough to matter: added after √v̂, as PyTorch does
])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_pytorch(torch, lr, betas, eps, weight_decay):
    _run_both(
        torch,
        lambda ps: nn.Adam(ps, lr=lr, betas=betas, eps=eps),
        lambda ps: torch.optim.Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
        l2=weight_decay,
    )


# ---------------------------------------------------------------- BatchNorm
def _batchnorms(torch, features, momentum, eps, rng):
    ours = nn.BatchNorm(features, momentum=momentum, eps=eps)
    theirs = torch.nn.BatchNorm1d(features, eps=eps, momentum=momentum, dtype=torch.float64)
    gamma, beta = rng.uniform(0.5, 1.5, features), rng.standard_normal(features)
    ours.gamma.data[...] = gamma
    ours.beta.data[...] = beta
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    return ours, theirs


def _forward_backward_both(torch, ours, theirs, x, upstream):
    """One batch through both with a random upstream gradient; compare output and the three gradients."""
    ours.zero_grad()
    theirs.zero_grad()
    x_ours = nn.Parameter(x.copy(), name="x")
    x_theirs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    _close(out_ours.data, out_theirs, "output")
    (out_ours * upstream).sum().backward()
    (out_theirs * torch.from_numpy(upstream)).sum().backward()
    _close(x_ours.grad, x_theirs.grad, "dC/dx")
    _close(ours.gamma.grad, theirs.weight.grad, "dC/dgamma")
    _close(ours.beta.grad, theirs.bias.grad, "dC/dbeta")
    return x_ours.grad


@pytest.mark.parametrize("momentum, eps", [(0.1, 1e-5), (0.3, 1e-2)])
def test_batchnorm_training_and_eval_match_pytorch(torch, momentum, eps):
    rng = np.random.default_rng(1)
    features = 3
    ours, theirs = _batchnorms(torch, features, momentum, eps, rng)
    # Batches of several sizes (2 is the smallest that has a variance), with features far
    # from mean 0 and variance 1, so that subtracting μ_B and dividing by σ_B both matter.
    for batch in (6, 2, 9, 4):
        x = rng.standard_normal((batch, features)) * [0.5, 3.0, 1.0] + [2.0, -1.0, 0.0]
        upstream = rng.standard_normal((batch, features))
        grad_x = _forward_backward_both(torch, ours, theirs, x, upstream)
        # Through μ_B and σ²_B every example's gradient depends on the whole batch:
        # dC/dx sums to zero over the batch, which a per-example rule would not give.
        np.testing.assert_allclose(grad_x.sum(axis=0), 0, atol=1e-12)
        _close(ours.running_mean, theirs.running_mean, f"running_mean after a batch of {batch}")
        _close(ours.running_var, theirs.running_var, f"running_var after a batch of {batch}")
    assert np.abs(ours.running_var - 1).max() > 0.1   # the running statistics have moved

    ours.eval()
    theirs.eval()
    for batch in (1, 5):
        x = rng.standard_normal((batch, features)) * 2 + 1
        _forward_backward_both(torch, ours, theirs, x, rng.standard_normal((batch, features)))
    _close(ours.running_mean, theirs.running_mean, "running_mean after eval")   # eval leaves them
    _close(ours.running_var, theirs.running_var, "running_var after eval")
