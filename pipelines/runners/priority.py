"""Which stages run at a lower CPU priority: those off the plan's longest chain of needs.

On a machine with fewer cores than runnable stages, every stage slows every other one, and a
run takes as long as its longest chain of stages (install, test, gate) takes under that
contention. A stage beside that chain (lint, security) has slack: at a lower priority it uses
what the chain leaves of the CPU, and once the chain's stage ends it has the CPU to itself.
Where cores are free, the priority changes nothing.

The chain is counted in stages, not in seconds: a stage's duration under contention depends
on the priorities themselves, and priorities chosen from durations would swap from run to run.
"""

from __future__ import annotations

from pipelines.plan import Plan

# What the kernel gives a process of this niceness next to one of 0: about a tenth.
OFF_PATH_NICENESS = 10


def off_critical_path(plan: Plan) -> frozenset[str]:
    """The stages on no longest chain of needs through the plan."""
    head: dict[str, int] = {}  # stages in the longest chain ending with the stage
    for stage in plan.stages:  # in DAG order: needs first
        head[stage.name] = 1 + max((head[n] for n in stage.needs if n in head), default=0)
    tail: dict[str, int] = {}  # stages in the longest chain starting with the stage
    for stage in reversed(plan.stages):
        after = [tail[s.name] for s in plan.stages if stage.name in s.needs and s.name in tail]
        tail[stage.name] = 1 + max(after, default=0)
    longest = max(head.values(), default=0)
    return frozenset(name for name in head if head[name] + tail[name] - 1 < longest)
