"""``python -m onepass.datasets [--sources FILE] [--mirror DIR] ID ...``: build datasets without Snakemake."""

from __future__ import annotations

import argparse
import logging
import sys

from . import build, load_sources
from .errors import DatasetError
from .sources import DATA_ROOT, EMBEDDED_ROOT, RAW_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onepass.datasets", description=__doc__)
    parser.add_argument("datasets", nargs="*", help="dataset ids (default: every registered dataset)")
    parser.add_argument(
        "--sources",
        default=None,
        help="sources override YAML (datasets: {<id>: <source entry>}) replacing the registry's entries it names",
    )
    parser.add_argument("--mirror", default=None, help="local mirror folder instead of the upstream URLs")
    parser.add_argument(
        "--embedded",
        default=EMBEDDED_ROOT,
        help="the repository's own partial mirror, used without --mirror for the files it holds (default %(default)s)",
    )
    parser.add_argument("--raw-root", default=RAW_ROOT)
    parser.add_argument("--data-root", default=DATA_ROOT)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        sources = load_sources(args.sources)
        for dataset in args.datasets or sorted(sources):
            if dataset not in sources:
                known = ", ".join(sorted(sources))
                raise DatasetError(f"{args.sources or 'registry'}: no dataset {dataset!r} (known: {known})")
            for path in build(
                sources[dataset],
                raw_root=args.raw_root,
                data_root=args.data_root,
                mirror=args.mirror,
                embedded=args.embedded,
                progress=not args.quiet,
            ):
                print(path)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
