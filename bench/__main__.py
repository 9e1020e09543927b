"""`python -m bench [--quick] [--skip-architect]` (`make bench`): the app's benchmark, beside the app it measures."""

from __future__ import annotations

import argparse
import sys

from bench.run import main
from devkit.errors import UsageError


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="measure the sandbox side by side with the alternatives")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    parser.add_argument("--skip-architect", action="store_true", help="do not install or run Architect's sandbox")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(parse()))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
