"""The theory tasks of apps/tasks (docs/tasks.md), from Python: run one and
get its tables (rows of strings, as ssmc-tasks prints them) and claims (a
statement of the theory, whether the measurement supports it, and the
numbers that decide it).

    import ssmc.tasks
    r = ssmc.tasks.run("copy", lengths=[8, 32], state_sizes=[4, 8, 32], samples=4)
    for claim in r.claims:
        print(claim.supported, claim.statement, claim.evidence)
"""

from dataclasses import dataclass, field
from typing import List

from .models import _apps

__all__ = ["TASKS", "Table", "Claim", "TaskResult", "run"]

#: Task names; each takes the options of its C++ options struct in
#: snake_case (see docs/python-ops.md).
TASKS = ("copy", "mqar", "dp", "cost")


@dataclass
class Table:
    id: str
    title: str
    columns: List[str]
    rows: List[List[str]]
    markdown: str = ""
    csv: str = ""

    def records(self):
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass
class Claim:
    task: str
    statement: str
    supported: bool
    evidence: str


@dataclass
class TaskResult:
    task: str
    tables: List[Table] = field(default_factory=list)
    claims: List[Claim] = field(default_factory=list)

    def table(self, id):
        """The table with this id (KeyError naming the ids otherwise)."""
        for t in self.tables:
            if t.id == id:
                return t
        raise KeyError(f"no table '{id}' (tables: {', '.join(t.id for t in self.tables)})")


def run(task, seed=1, threads=0, progress=None, **options):
    """Runs `task` (one of TASKS) with its options (e.g. copy: lengths,
    state_sizes, alphabet, samples, decays, decay_lengths, ...). progress,
    when given, is called with one line per unit of work. ValueError for an
    unknown task or option; RuntimeError when a run fails."""
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    raw = _apps.run_task(task, int(seed), int(threads), progress, dict(options))
    return TaskResult(
        task=raw["task"],
        tables=[Table(**t) for t in raw["tables"]],
        claims=[Claim(**c) for c in raw["claims"]])
