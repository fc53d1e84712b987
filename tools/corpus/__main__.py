"""``python -m tools.corpus``: build or update the corpus (``make corpus``)."""

import sys

from .cli import main

sys.exit(main())
