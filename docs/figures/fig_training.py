"""The training pictures, made by the ``python -m nn train`` command itself (``nn.cli.main``):
learning curves on the embedded digits, the learning speed of each layer of a deeper
network, and a decision boundary on the two moons. The commands are those that
docs/training.md shows, so the page and its pictures cannot disagree."""

from __future__ import annotations

import shlex
from pathlib import Path

from nn import cli

#: picture -> the command line that draws it ({path} is where it goes)
COMMANDS = {
    "training-curves.png": "python -m nn train --quiet --plot {path}",
    "training-speed.png": "python -m nn train --quiet --sizes 64,30,30,30,10 --speed {path}",
    "training-moons.png": "python -m nn train --quiet --dataset moons --boundary {path}",
}


def make(out_dir: Path) -> list[Path]:
    written = []
    for name, command in COMMANDS.items():
        path = out_dir / name
        argv = shlex.split(command.format(path=shlex.quote(str(path))))[3:]   # after "python -m nn"
        code = cli.main(argv)
        if code != 0:
            raise RuntimeError(f"{command!r} exited with {code}")
        written.append(path)
    return written
