"""``python -m satcluster.deepcluster DIR [options]``: see satcluster.deepcluster.cli."""

from satcluster.deepcluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
