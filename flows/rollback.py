"""Flow `rollback`: turn eval-aux off now, without touching any fleet.

The live controls in `EXP-state.json` get eval-aux off and a batch fraction of 0, with the change
in the state's control history; the running learner re-reads the controls every
`poll_interval_s` (in a thread, so a slow hub never holds training), applies them at the next cycle
after that read and logs them to the experiment's W&B run (`controls/*`).
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.common import artifact_key, documented, io_task, open_experiment, run_name, tag_run


@io_task
def eval_aux_off(exp: str) -> dict[str, Any]:
    state = open_experiment(exp).update_controls(
        by="rollback", eval_aux_enabled=False, eval_aux_batch_fraction=0.0
    )
    return state.controls.model_dump()


@flow(name="rollback", flow_run_name=run_name("rollback"), log_prints=True)
@documented
def rollback(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
) -> dict[str, Any]:
    """Eval-aux off (enabled false, fraction 0.0) in the live controls; fleets untouched."""
    tag_run(exp)
    controls = eval_aux_off(exp)
    message = (
        f"{exp}: eval-aux off (fraction 0.0); the running learner applies it within one cycle. "
        "The fleets were not touched (an eval-aux fleet keeps producing; stop it with "
        "`zeb fleet down --role evalaux` if you want)."
    )
    get_run_logger().info(message)
    create_markdown_artifact(message, key=artifact_key(exp, "rollback"), description="rollback")
    return {"experiment": exp, "controls": controls}
