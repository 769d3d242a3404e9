"""What a render says in its flow run's logs (the Prefect UI, ``prefect flow-run logs ID``).

castline's modules log through the standard ``logging`` loggers named after them (``castline.*``,
``flows.*``, ``tasks.*``, ``voices.*``); :func:`log_to_the_flow_run` sends their records from
INFO up to the flow run as well, so a deployment run shows a dead worker's claim taken over or a
GPU limit created beside Prefect's own lines. :func:`announce` logs the plan: what is rendered
with which voices, and every warning of the preflight (which ``castline render`` prints
itself, and which a deployment run would otherwise only list in its report).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prefect import get_run_logger
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

if TYPE_CHECKING:  # the enrollment flow logs too, and needs nothing of the render's preflight
    from flows.preflight import Plan

__all__ = ["log_to_the_flow_run", "announce", "CASTLINE_LOGGERS"]

CASTLINE_LOGGERS = ("castline", "flows", "tasks", "voices")

log = logging.getLogger(__name__)


def _in_a_run(record: logging.LogRecord) -> bool:
    """Only records made inside a flow or task run: elsewhere (a helper thread, the command
    line before the flow starts) there is no run to attach them to."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def log_to_the_flow_run() -> None:
    """Send castline's log records, INFO and up, to the current flow run's logs too (once per process)."""
    for name in CASTLINE_LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(h, APILogHandler) for h in logger.handlers):
            continue
        handler = APILogHandler()
        handler.setLevel(logging.INFO)
        handler.addFilter(_in_a_run)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)


def announce(plan: Plan) -> None:
    """Log what the flow run renders (INFO, which :func:`log_to_the_flow_run` forwards whatever
    Prefect's own level) and the preflight's warnings through Prefect's run logger (whose
    records ``castline render`` keeps off the terminal: it has printed them already)."""
    log.info("%s: %s", plan.project.manifest_path.name, plan.summary())
    logger = get_run_logger()
    for warning in plan.warnings:
        logger.warning("%s", warning)
