"""``python -m modeinterp …`` is the ``modeinterp`` command (torchrun needs ``-m modeinterp``)."""

import sys

from .cli import main

sys.exit(main())
