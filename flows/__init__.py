"""Prefect flows and their tasks (the `zeb` command line on top of them is `zeb_cli`).

Prefect's temporary local API (used when no PREFECT_API_URL is configured) must start within
`PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`: 20 s by default, while a first start on a
busy 2-core machine was measured at 43 s. Prefect reads its settings when it is imported, so the
default is raised here, before any flow module imports it; a value set by the user wins.
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# The temporary API is zeb's own, and on a machine without internet its usage report fails with
# an ERROR line in the middle of the main job's progress (seen in `zeb demo`). A server the user
# runs (`prefect server start`) keeps its own setting; set this to "true" to report anyway.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
