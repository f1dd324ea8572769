"""``pyacemaker status --launchpad``: workflows on a launchpad and the state of each firework."""

from __future__ import annotations

from typing import Any

from fireworks import LaunchPad


def launchpad_state_table(lpad: LaunchPad) -> list[str]:
    """Printable lines: one header per workflow, one line per firework (id, name, state)."""
    lines = []
    workflows = lpad.workflows.find({}, {"name": 1, "state": 1, "nodes": 1, "metadata": 1})
    for wf in sorted(workflows, key=lambda w: min(w["nodes"])):
        run_id = wf.get("metadata", {}).get("run_id", "-")
        lines.append(f"{wf['name']} [{wf['state']}] run {run_id}: {len(wf['nodes'])} fireworks")
        lines += [_firework_line(fw) for fw in fireworks_of(lpad, wf["nodes"])]
    return lines


def fireworks_of(lpad: LaunchPad, fw_ids: list[int]) -> list[dict[str, Any]]:
    """Id, name, state and category of the given fireworks, by id."""
    found = lpad.fireworks.find(
        {"fw_id": {"$in": fw_ids}}, {"fw_id": 1, "name": 1, "state": 1, "spec._category": 1}
    )
    return sorted(found, key=lambda fw: int(fw["fw_id"]))


def _firework_line(fw: dict[str, Any]) -> str:
    category = fw.get("spec", {}).get("_category", "")
    return f"  {fw['fw_id']:>5} {fw['name']:16s} {fw['state']:10s} {category}"
