"""``python -m collectors``: the NVML collector daemon (see collectors.daemon)."""

import sys

from collectors.daemon import main

sys.exit(main())
