"""``python -m nn train ...`` and ``python -m nn evaluate --model ...``: see ``nn.cli``."""

import sys

from .cli import main

sys.exit(main())
