"""``python -m localcloud.bench``: see the package's docstring and ``localcloud.bench.cli``."""

from localcloud.bench.cli import main

raise SystemExit(main())
