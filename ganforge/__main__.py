"""``python -m ganforge`` and ``accelerate launch -m ganforge``."""

import sys

from ganforge.cli import main

sys.exit(main())
