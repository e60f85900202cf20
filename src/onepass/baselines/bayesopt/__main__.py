"""``python -m onepass.baselines.bayesopt``: see :mod:`.cli`."""

import sys

from .cli import main

sys.exit(main())
