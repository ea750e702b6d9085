"""Learning-rate schedules against PyTorch's: ``StepSchedule`` is ``StepLR``, and Nielsen's
``PlateauSchedule`` is ``ReduceLROnPlateau`` with ``patience - 1`` and ``threshold=0``."""

import numpy as np
import pytest
from conftest import require

import nn

RNG = np.random.default_rng(5)
TORCH_REASON = "PyTorch is the optional oracle for nn's conventions (pip install torch==2.13.0)"


def _two_groups():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    return nn.SGD([{"params": [a]}, {"params": [b], "lr": 0.3}], lr=1.0)


def _rates(opt):
    return [group["lr"] for group in opt.param_groups]


def test_step_schedule_scales_every_group_every_k_epochs():
    opt = _two_groups()
    schedule = nn.StepSchedule(opt, every=3, factor=0.5)
    seen = []
    for _ in range(7):
        schedule.step()
        seen.append(_rates(opt))
    assert seen == [[1.0, 0.3]] * 2 + [[0.5, 0.15]] * 3 + [[0.25, 0.075]] * 2


def test_plateau_schedule_is_nielsens_rule():
    """Halve η after `patience` epochs in a row without a new best accuracy; count the halvings."""
    opt = nn.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    schedule = nn.PlateauSchedule(opt, patience=2)
    rates = []
    for accuracy in [0.5, 0.6, 0.6, 0.55, 0.7, 0.69, 0.7, 0.71, 0.6, 0.6, 0.6, 0.6]:
        schedule.step(accuracy)
        rates.append(opt.lr)
    #            0.5  0.6  =   <    new  <    =    new   <     <     <      <
    assert rates == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.0625]
    assert schedule.reductions == 4 and schedule.best == 0.71
    # Nielsen stops when η has fallen to 1/128 of its start: seven halvings.
    while schedule.reductions < 7:
        schedule.step(0.0)
    assert opt.lr == 1 / 128


def test_plateau_schedule_in_min_mode_and_with_a_floor():
    opt = nn.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    schedule = nn.PlateauSchedule(opt, patience=1, factor=0.1, mode="min", min_lr=0.05)
    for cost in [3.0, 2.0, 2.5, 2.0, 1.0, 1.0, 1.0]:
        schedule.step(cost)
    assert opt.lr == 0.05 and schedule.reductions == 2        # the third would go below the floor


@pytest.mark.parametrize("every, factor", [(1, 0.9), (3, 0.5)])
def test_step_schedule_matches_torch_step_lr(every, factor):
    torch = require("torch", TORCH_REASON)
    ours = _two_groups()
    theirs = torch.optim.SGD([{"params": [torch.ones(2, requires_grad=True)]},
                              {"params": [torch.ones(3, requires_grad=True)], "lr": 0.3}], lr=1.0)
    ours_schedule = nn.StepSchedule(ours, every=every, factor=factor)
    theirs_schedule = torch.optim.lr_scheduler.StepLR(theirs, step_size=every, gamma=factor)
    for _ in range(10):
        ours_schedule.step()
        theirs.step()                 # torch warns if its scheduler steps before the optimizer
        theirs_schedule.step()
        np.testing.assert_allclose(_rates(ours), [g["lr"] for g in theirs.param_groups], rtol=1e-15)


@pytest.mark.parametrize("patience, mode, min_lr", [(1, "max", 0.0), (3, "max", 0.0), (2, "min", 0.01)])
def test_plateau_schedule_matches_torch_reduce_lr_on_plateau(patience, mode, min_lr):
    torch = require("torch", TORCH_REASON)
    ours = _two_groups()
    theirs = torch.optim.SGD([{"params": [torch.ones(2, requires_grad=True)]},
                              {"params": [torch.ones(3, requires_grad=True)], "lr": 0.3}], lr=1.0)
    ours_schedule = nn.PlateauSchedule(ours, patience=patience, mode=mode, min_lr=min_lr)
    theirs_schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        theirs, mode=mode, factor=0.5, patience=patience - 1, threshold=0, min_lr=min_lr)
    metrics = np.round(np.cumsum(RNG.choice([-0.01, 0.0, 0.0, 0.01], 60)), 2)   # with plateaus and ties
    for metric in metrics:
        if min(_rates(ours)) < 1e-6:
            break             # torch leaves a rate alone once a reduction would change it by < 1e-8
        ours_schedule.step(metric)
        theirs.step()
        theirs_schedule.step(float(metric))
        np.testing.assert_allclose(_rates(ours), [g["lr"] for g in theirs.param_groups], rtol=1e-15)
    assert ours_schedule.reductions > 0


def test_schedule_state_round_trips_and_mismatches_are_refused():
    opt = _two_groups()
    schedule = nn.PlateauSchedule(opt, patience=2)
    for accuracy in [0.1, 0.2, 0.2, 0.2, 0.1]:
        schedule.step(accuracy)
    twin = nn.PlateauSchedule(_two_groups(), patience=2)
    twin.load_state_dict(schedule.state_dict())
    assert twin.state_dict() == schedule.state_dict() == {"best": 0.2, "bad_epochs": 1, "reductions": 1}
    with pytest.raises(ValueError, match=r"cannot load state into StepSchedule; nothing was changed. "
                                         r"StepSchedule's state has \['bad_epochs'"):
        nn.StepSchedule(opt, every=2).load_state_dict(schedule.state_dict())
    with pytest.raises(ValueError, match="epoch must be a whole number >= 0"):
        nn.StepSchedule(opt, every=2).load_state_dict({"epoch": -1})


def test_schedule_arguments_are_checked():
    opt = _two_groups()
    with pytest.raises(TypeError, match="not an optimizer"):
        nn.StepSchedule([1.0], every=2)
    with pytest.raises(ValueError, match="every is a number of epochs >= 1"):
        nn.StepSchedule(opt, every=0)
    with pytest.raises(ValueError, match=r"factor must lie in \(0, 1\)"):
        nn.PlateauSchedule(opt, factor=2.0)
    with pytest.raises(ValueError, match="mode is 'max'"):
        nn.PlateauSchedule(opt, mode="up")
    with pytest.raises(ValueError, match="the metric is NaN"):
        nn.PlateauSchedule(opt).step(float("nan"))
    assert repr(nn.PlateauSchedule(opt, patience=10)) == \
        "PlateauSchedule(patience=10, factor=0.5, mode='max')"
    assert repr(nn.StepSchedule(opt, every=5)) == "StepSchedule(every=5, factor=0.1)"


def test_the_plateau_schedule_never_raises_the_rate():
    # A rate already below min_lr stays where it is, as PyTorch's ReduceLROnPlateau does.
    p = nn.Parameter(np.ones(2))
    opt = nn.SGD([p], lr=0.001)
    schedule = nn.PlateauSchedule(opt, patience=1, factor=0.5, mode="max", min_lr=0.01)
    for accuracy in (0.5, 0.5, 0.5):
        schedule.step(accuracy)
    assert opt.lr == 0.001 and schedule.reductions == 0
