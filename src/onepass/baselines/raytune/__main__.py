"""``python -m onepass.baselines.raytune``: see :mod:`.cli`."""

import sys

from .cli import main

sys.exit(main())
