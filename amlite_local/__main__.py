"""``python -m amlite_local [app_dir] [--port 7071]``: amlite's Functions app on the dev host, composed."""

import sys

from .host import main

sys.exit(main())
