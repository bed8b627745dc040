"""``python -m skinbench``: the ``skinbench`` command line."""

import sys

from skinbench.cli import main

sys.exit(main())
