"""Pictures of the concept pages (bp1-bp4, output-error, scalar-loss, beyond-nielsen, gradient-checking).

Each picture is drawn from the library, with the examples of its page: diagrams with
``draw``, the step-through page with ``animate_backward``, plots with matplotlib from
gradients the engine computed. File names start with ``concepts-``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nn
from autograd_core import Tensor, animate_backward, draw, gradients

# ------------------------------------------------------------------ BP1–BP4 (bp1-bp4.md)


def nielsen_example():
    """The 3-4-2 sigmoid network, five examples and the quadratic cost of bp1-bp4.md."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    y = rng.uniform(0, 1, (5, 2))
    model = nn.Sequential(nn.Dense(3, 4, seed=1), nn.Sigmoid(), nn.Dense(4, 2, seed=2), nn.Sigmoid())
    return nn.QuadraticCost()(model(x), y)


def bp_network(out_dir: Path) -> list[Path]:
    loss = nielsen_example()
    svg = out_dir / "concepts-bp-network.svg"
    svg.write_bytes(draw(loss, bp=True).pipe(format="svg"))
    page = animate_backward(loss, out_dir / "concepts-bp-step-through.html")
    return [svg, Path(page)]


# ------------------------------------------------------------------ the output "error" (output-error.md)


def output_gradients(z: np.ndarray, target: float) -> dict[str, np.ndarray]:
    """∂C/∂z for one output unit at each z, computed by the engine, for three output pairs."""
    pairs = {
        "linear + quadratic": (lambda t: t, nn.QuadraticCost()),
        "sigmoid + cross-entropy": (lambda t: t.sigmoid(), nn.CrossEntropyCost()),
        "sigmoid + quadratic": (lambda t: t.sigmoid(), nn.QuadraticCost()),
    }
    found = {}
    for name, (activation, cost) in pairs.items():
        values = []
        for value in z:
            zt = Tensor([[value]], requires_grad=True)
            (g,) = gradients(cost(activation(zt), np.array([[target]])), [zt])
            values.append(g.item())
        found[name] = np.array(values)
    return found


def output_error(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.linspace(-8, 8, 161)
    target = 1.0
    found = output_gradients(z, target)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    ax.plot(z, 1 / (1 + np.exp(-z)) - target, color="#999999", lw=6, alpha=0.5,
            label="σ(z) − y  (the 'error' ŷ − y of a sigmoid output)")
    ax.plot(z, found["sigmoid + cross-entropy"], color="#1d5fa8", lw=2,
            label="engine: sigmoid + cross-entropy")
    ax.plot(z, found["sigmoid + quadratic"], color="#c0262d", lw=2, label="engine: sigmoid + quadratic")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("pre-activation z of the output unit (target y = 1)")
    ax.set_ylabel("∂C/∂z, the gradient at z")
    ax.set_title("At z = −8 the network is badly wrong: cross-entropy pushes hard, quadratic barely")
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "concepts-output-error.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


# ------------------------------------------------------------------ the scalar mean (scalar-loss.md)


def scalar_mean(out_dir: Path) -> list[Path]:
    x = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
    y = np.array([[1.0], [0.0], [2.0]])
    model = nn.Sequential(nn.Dense(2, 1, seed=0))
    loss = nn.QuadraticCost()(model(x), y)
    diagram = draw(loss, grads=True, title="C = (1/3) Σₓ ½(ŷₓ − yₓ)²: the seed 1 at the output, "
                                           "then 1/(2·3) and one row per example")
    svg = out_dir / "concepts-scalar-mean.svg"
    svg.write_bytes(diagram.pipe(format="svg"))
    return [svg]


def make(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [*bp_network(out_dir), *output_error(out_dir), *scalar_mean(out_dir)]


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    target.mkdir(parents=True, exist_ok=True)
    for written in make(target):
        print(written)
