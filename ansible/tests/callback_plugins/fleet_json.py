"""A stdout callback for the fleet tests and the benchmark: each task's result per host and
the play's stats, as one JSON document (ansible.posix's `json` callback is not part of
ansible-core, and the tests read results, never the human output)."""

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: fleet_json
type: stdout
short_description: Task results per host and the stats, as one JSON document
description:
  - For pcipass's fleet tests; not part of the collection.
"""


class CallbackModule(CallbackBase):
    """Records every task's result per host; prints them with the stats at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fleet_json"

    def __init__(self):
        super().__init__()
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({"name": task.get_name(), "hosts": {}})

    def _record(self, result, **marks):
        self.tasks[-1]["hosts"][result._host.get_name()] = {**result._result, **marks}

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        doc = {"tasks": self.tasks, "stats": {h: stats.summarize(h) for h in hosts}}
        self._display.display(json.dumps(doc, default=str))
