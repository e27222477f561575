"""The `zeb` command line, on top of the flows: each command parses its options (generated from
the typed settings the flows and processes take, `model_options`) and calls the same flow
functions a Prefect deployment runs, or starts a process (`zeb learner`, `zeb worker`).

May import: flows, infra and zeb_core; nothing below imports it.
"""
