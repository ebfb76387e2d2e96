"""The worker's scheduler (`manage.py runworker`): it runs the jobs that installed apps declare
and knows none of them.

Each app may have a `jobs.py` whose `jobs()` returns a list of `Job`s. A job holds no rule: it
calls one of its app's services, which tests call directly. The scheduler runs each job every
`every` seconds; a `drain` job (a queue, such as webhook deliveries) runs again at once while
it reports work done. A job that raises is logged and runs again at its next turn; it never
stops the worker or the other jobs.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.db import close_old_connections, connection
from django.utils.module_loading import module_has_submodule

log = logging.getLogger("tessera.jobs")


@dataclass(frozen=True)
class Job:
    name: str  # "<app>.<what>", as `runworker --only` names it
    every: float  # seconds between runs
    run: Callable[[], object]  # returns what it did (a count), logged when truthy
    drain: bool = False  # a queue: run again at once while it returns a truthy count


def discover() -> list[Job]:
    """Every installed app's jobs, in INSTALLED_APPS order."""
    found = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "jobs"):
            found.extend(import_module(f"{config.name}.jobs").jobs())
    return found


def select(jobs: list[Job], only: list[str]) -> list[Job]:
    """The jobs named in `only` (a name, or an app's prefix such as "webhooks"); all if empty."""
    if not only:
        return jobs
    chosen = [j for j in jobs if any(j.name == o or j.name.startswith(f"{o}.") for o in only)]
    unknown = [o for o in only if not any(j.name == o or j.name.startswith(f"{o}.") for j in jobs)]
    if unknown:
        raise ValueError(f"no such job: {', '.join(unknown)}")
    return chosen


def run_guarded(job: Job):
    """Run `job` once; an exception is logged and answers None."""
    if not connection.in_atomic_block:  # (a test calling the worker in-process holds one)
        close_old_connections()  # drop a connection the database closed meanwhile
    started = time.monotonic()
    try:
        result = job.run()
    except Exception:
        log.exception("job %s failed", job.name)
        return None
    if result:
        log.info("job %s: %s (%.0f ms)", job.name, result, (time.monotonic() - started) * 1000)
    return result


class Scheduler:
    def __init__(self, jobs: list[Job], *, once=False, clock=time.monotonic):
        self.jobs, self.once, self.clock = jobs, once, clock
        self.next_at = {job.name: 0.0 for job in jobs}

    def run_due(self) -> bool:
        """Run the jobs that are due; True when a drain job has more work right now."""
        busy = False
        for job in self.jobs:
            if self.clock() < self.next_at[job.name]:
                continue
            result = run_guarded(job)
            if job.drain and result:
                busy = True  # due again at once
            else:
                self.next_at[job.name] = math.inf if self.once else self.clock() + job.every
        return busy

    def seconds_to_next(self) -> float:
        return max(0.0, min(self.next_at.values(), default=math.inf) - self.clock())
