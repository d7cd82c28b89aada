"""``python -m sgevent``: the command-line interface (:mod:`sgevent.cli`)."""

import sys

from sgevent.cli import main

if __name__ == "__main__":
    sys.exit(main())
