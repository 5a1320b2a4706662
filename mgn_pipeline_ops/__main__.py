"""``python -m mgn_pipeline_ops`` is ``mgn-migrate`` (for a checkout without the installed script)."""

from mgn_pipeline_ops.cli import main

raise SystemExit(main())
