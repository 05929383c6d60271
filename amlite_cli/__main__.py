"""``python -m amlite_cli ...`` = the ``amlite`` console script."""

import sys

from amlite_cli.commands import main

sys.exit(main())
