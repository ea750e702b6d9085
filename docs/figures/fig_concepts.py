"""Pictures of the concept pages (bp1-bp4, output-error, scalar-loss, beyond-nielsen, gradient-checking).

Each picture is drawn from the library, with the examples of its page: diagrams with
``draw``, the step-through page with ``animate_backward``, plots with matplotlib from
gradients the engine computed. File names start with ``concepts-``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nn
from autograd_core import Function, Tensor, animate_backward, draw, gradients, no_grad


def _save(fig, path: Path) -> Path:
    """Lay out, write and close a matplotlib figure; its path."""
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


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
    return [_save(fig, out_dir / "concepts-output-error.png")]


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


# ------------------------------------------------------------------ beyond Nielsen (beyond-nielsen.md)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cost_coupling(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|∂C_i/∂x_j| summed over x_j's features: how much example i's cost depends on input example j."""
    rows = []
    for i in range(len(x)):
        xt = Tensor(x, requires_grad=True)
        per_example = nn.QuadraticCost(reduction="none")(model(xt), y)
        (g,) = gradients(per_example[i], [xt])
        rows.append(np.abs(g).sum(axis=1))
    return np.array(rows)


def batchnorm_coupling(out_dir: Path) -> list[Path]:
    plt = _pyplot()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.uniform(0, 1, (8, 2))
    models = {
        "without BatchNorm: each cost sees its own example":
            nn.Sequential(nn.Dense(3, 2, seed=1), nn.Sigmoid()),
        "with BatchNorm: each cost sees the whole batch":
            nn.Sequential(nn.Dense(3, 2, seed=1), nn.BatchNorm(2), nn.Sigmoid()),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), dpi=110)
    for ax, (title, model) in zip(axes, models.items()):
        image = ax.imshow(cost_coupling(model, x, y), cmap="Blues", vmin=0)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("input example j")
        ax.set_ylabel("per-example cost Cᵢ")
        ax.set_xticks(range(8))
        ax.set_yticks(range(8))
        fig.colorbar(image, ax=ax, shrink=0.8, label="Σ |∂Cᵢ/∂xⱼ|")
    return [_save(fig, out_dir / "concepts-batchnorm-coupling.png")]


def weight_decay(out_dir: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 2)), rng.uniform(0, 1, (4, 2))
    model = nn.Sequential(nn.Dense(2, 2, seed=1), nn.Sigmoid())
    loss = nn.QuadraticCost()(model(x), y) + nn.l2_penalty(model, lmbda=5.0, n=100)
    diagram = draw(loss, grads=True, bp=True, values="none",
                   title="C = C₀ + (λ/2n)‖W‖²: the penalty reaches W without passing through the output")
    svg = out_dir / "concepts-weight-decay.svg"
    svg.write_bytes(diagram.pipe(format="svg"))
    return [svg]


class SignExact(Function):
    """sign(x) with its true derivative, 0, on the backward pass: what the STE replaces."""

    @staticmethod
    def forward(ctx, x):
        return np.where(x >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g)


def train_xor(sign, steps: int = 300, seed: int = 0) -> list[float]:
    """beyond-nielsen.md's training: XOR with 16 hidden units that output sign(·) = ±1."""
    from autograd_core.examples.straight_through import xor_data

    rng = np.random.default_rng(seed)
    X, Y = xor_data(seed=seed)
    W1 = Tensor(rng.standard_normal((2, 16)), requires_grad=True)
    b1 = Tensor(np.zeros(16), requires_grad=True)
    W2 = Tensor(rng.standard_normal((16, 1)) / 4, requires_grad=True)
    b2 = Tensor(np.zeros(1), requires_grad=True)
    params, costs = (W1, b1, W2, b2), []
    for _ in range(steps):
        hidden = sign.apply(Tensor(X) @ W1 + b1)
        cost = (((hidden @ W2 + b2).sigmoid() - Y) ** 2).mean()
        for p in params:
            p.grad = None
        cost.backward()
        with no_grad():
            for p in params:
                p -= 1.0 * p.grad
        costs.append(cost.item())
    return costs


def straight_through(out_dir: Path) -> list[Path]:
    from autograd_core.examples.straight_through import SignSTE

    plt = _pyplot()
    t = np.linspace(-2, 2, 401)
    xt = Tensor(t, requires_grad=True)
    (ste,) = gradients(SignSTE.apply(xt).sum(), [xt])

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8), dpi=110)
    left.plot(t, np.where(t >= 0, 1.0, -1.0), color="black", lw=2, label="forward: sign(x)")
    left.plot(t, ste, color="#c0262d", lw=2, ls="--", label="backward (STE): 1 where |x| ≤ 1")
    left.plot(t, np.zeros_like(t), color="#1d5fa8", lw=2, ls=":", label="true derivative: 0")
    left.set_xlabel("x")
    left.set_ylim(-1.3, 2.2)
    left.legend(fontsize=8.5, loc="upper left")
    left.set_title("the rule is not the derivative", fontsize=10)
    right.plot(train_xor(SignSTE), color="#c0262d", lw=2, label="straight-through estimator")
    right.plot(train_xor(SignExact), color="#1d5fa8", lw=2,
               label="true derivative (only the last layer learns)")
    right.set_xlabel("gradient step")
    right.set_ylabel("quadratic cost on XOR")
    right.legend(fontsize=8.5)
    right.set_title("±1 hidden units learn XOR only with the STE", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return [_save(fig, out_dir / "concepts-straight-through.png")]


# ------------------------------------------------------------------ gradient checking (gradient-checking.md)


def difference_errors(epsilons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest |finite difference − backprop| over the 43 parameters of gradient-checking.md's
    4-5-3 network, for forward differences (Nielsen's eq. 46) and central differences."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 4)), rng.uniform(0, 1, (10, 3))
    model = nn.Sequential(nn.Dense(4, 5, seed=1), nn.Sigmoid(), nn.Dense(5, 3, seed=2), nn.Sigmoid())
    cost = nn.QuadraticCost()
    model.zero_grad()
    cost(model(x), y).backward()
    exact = {name: p.grad for name, p in model.named_parameters()}
    params = {name: p.data.copy() for name, p in model.named_parameters()}

    def C() -> float:
        with no_grad():
            return cost(nn.functional_call(model, params, x), y).item()

    base = C()
    forward, central = [], []
    for eps in epsilons:
        worst_forward = worst_central = 0.0
        for name, value in params.items():
            for j in np.ndindex(value.shape):
                kept = value[j]
                value[j] = kept + eps
                up = C()
                value[j] = kept - eps
                down = C()
                value[j] = kept
                worst_forward = max(worst_forward, abs((up - base) / eps - exact[name][j]))
                worst_central = max(worst_central, abs((up - down) / (2 * eps) - exact[name][j]))
        forward.append(worst_forward)
        central.append(worst_central)
    return np.array(forward), np.array(central)


def finite_difference_error(out_dir: Path) -> list[Path]:
    plt = _pyplot()
    epsilons = np.logspace(-12, -1, 23)
    forward, central = difference_errors(epsilons)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    ax.loglog(epsilons, forward, "o-", color="#c0262d", ms=4, label="forward (C(w + ε) − C(w)) / ε, eq. 46")
    ax.loglog(epsilons, central, "s-", color="#1d5fa8", ms=4,
              label="central (C(w + ε) − C(w − ε)) / 2ε, gradcheck")
    ax.axvline(1e-6, color="#999999", ls=":", lw=1)
    ax.text(1.2e-6, ax.get_ylim()[1] / 3, "gradcheck's ε = 1e-6", color="#555555", fontsize=8.5)
    ax.set_xlabel("step ε")
    ax.set_ylabel("largest |estimate − backprop| over 43 parameters")
    ax.set_title("Too large an ε: truncation error; too small: rounding error", fontsize=10)
    ax.legend(fontsize=8.5, loc="lower left")
    ax.grid(alpha=0.3, which="both")
    return [_save(fig, out_dir / "concepts-finite-difference-error.png")]


def make(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [*bp_network(out_dir), *output_error(out_dir), *scalar_mean(out_dir),
            *batchnorm_coupling(out_dir), *weight_decay(out_dir), *straight_through(out_dir),
            *finite_difference_error(out_dir)]


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    target.mkdir(parents=True, exist_ok=True)
    for written in make(target):
        print(written)
