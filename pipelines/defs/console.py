"""The console logger of every job: Dagster's own colored console logger, less the stack traces.

A failure a user can cause (a bad file, a lock, a full disk) reads as one line naming the step
and the error, and the command's own message follows it; the whole stack is in the run's event
log in the Dagster UI, and on the console with ``gpuledger --verbose`` (GPULEDGER_VERBOSE=1).
"""

from __future__ import annotations

import logging
import os

import dagster as dg

VERBOSE = "GPULEDGER_VERBOSE"
_STACK_MARKERS = ("\nStack Trace:", "\nTraceback (most recent call last):")


class _NoStack(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get(VERBOSE):
            return True
        message = record.getMessage()
        cut = min((message.find(m) for m in _STACK_MARKERS if m in message), default=-1)
        if cut >= 0:
            record.msg = message[:cut].rstrip() + " (stack trace: --verbose, or the Dagster UI)"
            record.args = ()
        return True


@dg.logger(
    config_schema=dg.colored_console_logger.config_schema,
    description="Dagster's colored console logger; stack traces only with GPULEDGER_VERBOSE=1.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    for handler in logger.handlers:
        handler.addFilter(_NoStack())
    return logger


@dg.definitions
def loggers() -> dg.Definitions:
    return dg.Definitions(loggers={"console": console})
