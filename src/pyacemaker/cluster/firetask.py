"""jobflow's FireWorks task, serialised so that pydantic settings survive the launchpad.

jobflow's ``JobFiretask`` sanitises its job with ``jsanitize(strict=False)``, which turns
every pydantic model inside a Maker (``QESettings``, ``OracleSpec``, ...) into its
``str``; the worker then gets strings instead of settings. This task encodes the job
with monty's ``MontyEncoder`` (pydantic models keep ``@module``/``@class`` and are
rebuilt on the worker), and converts the fireworks a job creates while running
(replacements, detours, additions) to this task as well.
"""

from __future__ import annotations

import json
from typing import Any

from fireworks import FWAction, Workflow
from fireworks.utilities.fw_serializers import recursive_serialize, serialize_fw
from fireworks.utilities.fw_utilities import explicit_serialize
from jobflow.managers.fireworks import JobFiretask
from monty.json import MontyEncoder


@explicit_serialize
class PydanticJobFiretask(JobFiretask):
    """Run a jobflow job; identical to ``JobFiretask`` except for the serialisation."""

    @serialize_fw  # type: ignore[untyped-decorator]
    @recursive_serialize  # type: ignore[untyped-decorator]
    def to_dict(self) -> dict[str, Any]:
        """The task with its job encoded by ``MontyEncoder`` (pydantic fields kept)."""
        d = dict(self)
        d["job"] = json.loads(json.dumps(d["job"].as_dict(), cls=MontyEncoder))
        return d

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        """Run the job; fireworks it creates use this task too."""
        action: FWAction = super().run_task(fw_spec)  # type: ignore[no-untyped-call]
        for workflow in [*(action.detours or []), *(action.additions or [])]:
            convert_tasks(workflow)
        return action


def convert_tasks(workflow: Workflow) -> Workflow:
    """Replace jobflow's task by :class:`PydanticJobFiretask` in every firework."""
    for fw in workflow.fws:
        fw.tasks = [
            PydanticJobFiretask(job=t["job"], store=t.get("store"))
            if isinstance(t, JobFiretask)
            else t
            for t in fw.tasks
        ]
    return workflow
