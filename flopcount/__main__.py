"""``python -m flopcount``."""

import sys

from flopcount.cli import main

sys.exit(main())
