"""``python -m godnb``: the command line (see :mod:`godnb.api.cli`)."""

from godnb.api.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
