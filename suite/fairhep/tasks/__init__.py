"""The tasks of a campaign on a site: what they are, where they write, what each runs.

- :mod:`.tasklist`: :class:`Task`, :class:`TaskList` and :func:`expand` (a campaign -> its
  tasks, grouped by kind, with stable ids and dependencies between kinds);
- :mod:`.context`: the results :class:`Layout` and the :class:`TaskContext` (site, campaign,
  tasks, layout) every task runs in;
- :mod:`.done`: which tasks have a result (``campaign.task`` records);
- :mod:`.handlers`: the task-kind handlers, what a task of each kind runs;
- :mod:`.run`: :func:`run_task`, what every runner ends up in for every task.
"""

from __future__ import annotations

from fairhep.tasks.context import Layout, TaskContext, TaskError, layout_for, results_root
from fairhep.tasks.done import TASK_RECORD_KIND, finished_tasks, pending_tasks
from fairhep.tasks.run import EXIT_INTERRUPTED, TaskOutcome, run_task
from fairhep.tasks.tasklist import DEPENDS_ON, Task, TaskList, expand

__all__ = [
    "DEPENDS_ON",
    "EXIT_INTERRUPTED",
    "TASK_RECORD_KIND",
    "Layout",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskList",
    "TaskOutcome",
    "expand",
    "finished_tasks",
    "layout_for",
    "pending_tasks",
    "results_root",
    "run_task",
]
