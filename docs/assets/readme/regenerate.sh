#!/usr/bin/env bash
# The README's three pictures, made by the nn command (each line below is shown in the README).
# Usage, from the repository root: docs/assets/readme/regenerate.sh [FOLDER]
# (default: this folder). PYTHON names the interpreter (default: python).
set -euo pipefail
out="${1:-$(dirname "$0")}"
python="${PYTHON:-python}"

"$python" -m nn train --quiet --plot "$out/curves.png"
"$python" -m nn train --quiet --dataset spirals --sizes 2,30,3 --activation tanh --cost softmax-cross-entropy --optimizer adam --eta 0.02 --epochs 60 --boundary "$out/boundary.png"
"$python" -m nn train --quiet --sizes 64,30,30,30,10 --speed "$out/speed.png"
