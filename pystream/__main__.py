"""``python -m pystream``: the same as the ``pystream`` command."""

import sys

from pystream.cli import main

if __name__ == "__main__":
    sys.exit(main())
