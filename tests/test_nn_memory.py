"""Memory does not grow across training steps: each step's tape is released."""

import gc
import tracemalloc

import numpy as np

import nn


def test_memory_is_flat_across_many_training_steps():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(4, 8, seed=0), nn.Sigmoid(), nn.Dense(8, 3, seed=1), nn.Sigmoid())
    cost = nn.CrossEntropyCost()
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.5)
    x, y = rng.standard_normal((16, 4)), rng.uniform(0, 1, (16, 3))

    def step():
        loss = cost(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(100):  # warm-up: caches, optimizer state
        step()
    gc.collect()
    tracemalloc.start()
    try:
        samples = []
        for _block in range(4):
            for _ in range(500):
                step()
            gc.collect()
            samples.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # One leaked tape per step would be several kB a step, i.e. megabytes over 2,000 steps.
    growth = samples[-1] - samples[0]
    assert growth < 50_000, f"traced memory grew by {growth} bytes over 1,500 steps: {samples}"
