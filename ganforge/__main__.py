"""``python -m ganforge`` and ``accelerate launch -m ganforge``."""

import sys

from .cli import main

sys.exit(main())
