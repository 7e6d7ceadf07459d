"""``python -m fake_registry``: see :mod:`fake_registry._cli`."""

import sys

from fake_registry._cli import main

sys.exit(main())
