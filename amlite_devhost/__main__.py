"""``python -m amlite_devhost [app_dir] [--port 7071]``."""

import sys

from .server import main

sys.exit(main())
