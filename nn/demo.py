"""``python -m nn.demo``: the first demonstration, now a shortcut for ``python -m nn train``.

It trains a 784-30-10 sigmoid network with Nielsen's chapter-3 settings (cross-entropy,
η = 0.5, λ = 5.0) for a few epochs on the MNIST test set in ``../shared/data/mnist``
(its first 8,000 images to train, its last 2,000 to test), or on generated data (two
moons) when that folder is absent or with ``--synthetic``, then compares one
mini-batch's gradients with Nielsen's BP1–BP4 (``--check-bp``). It prints the
``python -m nn train`` command it runs, which takes every other option.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import cli, data


def command(synthetic: bool, epochs: int) -> list[str]:
    """The arguments of ``python -m nn`` that the demo runs."""
    dataset = "moons" if synthetic or not os.path.isdir(data.SHARED_MNIST) else "mnist"
    return ["train", "--dataset", dataset, "--preset", "nielsen-ch3", "--epochs", str(epochs), "--check-bp"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true",
                        help="use generated data even if MNIST is present")
    parser.add_argument("--epochs", type=int, default=3, help="default 3")
    args = parser.parse_args(argv)
    arguments = command(args.synthetic, args.epochs)
    print("python -m nn " + " ".join(arguments))
    return cli.main(arguments)


if __name__ == "__main__":
    sys.exit(main())
