# Copyright: swarmforge contributors
# Apache License 2.0
"""Collect what a `--check --diff` run would change, per host and per object, and write it as a plan a reviewer reads
without the Ansible log: Markdown and HTML beside the status report, and a summary at the end of the run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: plan
type: aggregate
short_description: The plan of a check run, per host and per object, as Markdown and HTML
description:
  - Enabled beside the normal output (C(make plan) enables it), during a run with C(--check --diff). Every task that
    would change something is recorded with its host, the object (the loop item), and the diff the task shows; every
    task that fails is recorded too, since the real run would stop there.
  - At the end it prints the plan's summary and writes C(<name>-plan.md) and C(<name>-plan.html) into the directory.
  - In a run without C(--check) it records nothing and writes nothing.
options:
  directory:
    description: Where the plan is written (the status report's directory by default).
    default: status
    env:
      - name: SWARMFORGE_PLAN_DIR
  name:
    description:
      - The cluster's name, the files' prefix. Default the inventory's C(swarm_status_cluster_name) (the status
        report's name), else the inventory directory's name.
    default: ""
    env:
      - name: SWARMFORGE_PLAN_NAME
"""

import datetime
import html
import os

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.template import Templar


class CallbackModule(CallbackBase):
    """Record each would-be change of a check run; write the plan when the run ends."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "plan"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, list[dict]] = {}
        self.inventory_dir = ""
        self.cluster_name = ""
        self.playbook = ""

    # -- recording -------------------------------------------------------------------------------------------------
    @staticmethod
    def checking() -> bool:
        return bool((context.CLIARGS or {}).get("check"))

    def v2_playbook_on_start(self, playbook) -> None:
        self.playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play) -> None:
        if self.inventory_dir:
            return
        manager = play.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        sources = [source for source in getattr(inventory, "_sources", []) or [] if source]
        if sources:
            path = os.path.abspath(sources[0])
            self.inventory_dir = path if os.path.isdir(path) else os.path.dirname(path)
        # The status report's name for the cluster, when the inventory sets one: the plan goes beside it.
        try:
            hosts = inventory.get_hosts(play.hosts) if inventory is not None else []
            if hosts and not self.cluster_name:
                variables = manager.get_vars(play=play, host=hosts[0])
                if "swarm_status_cluster_name" in variables:
                    templar = Templar(loader=play._loader, variables=variables)
                    self.cluster_name = str(templar.template(variables["swarm_status_cluster_name"]))
        except Exception:  # noqa: BLE001 - a name the inventory cannot give here falls back to the folder's name
            self.cluster_name = ""

    def _label(self, result) -> str:
        values = result._result
        label = values.get("_ansible_item_label", values.get("item"))
        return "" if label is None else str(label)

    def _record(self, result, outcome: str) -> None:
        if not self.checking():
            return
        host = result._host.get_name()
        values = result._result
        diffs = values.get("diff") or []
        if isinstance(diffs, dict):
            diffs = [diffs]
        text = "".join(self._get_diff(diff) for diff in diffs if diff).strip("\n")
        if outcome == "failed":
            text = str(values.get("msg") or values.get("stderr") or "failed").strip()
        elif not text:
            summary = values.get("actions") or values.get("msg") or ""
            text = ", ".join(map(str, summary)) if isinstance(summary, list) else str(summary).strip()
        self.entries.setdefault(host, []).append({"task": result._task.get_name().strip(), "object": self._label(result),
                                                  "outcome": outcome, "text": text})

    def v2_runner_on_ok(self, result) -> None:
        if result._result.get("changed") and not result._result.get("results"):
            self._record(result, "change")

    def v2_runner_item_on_ok(self, result) -> None:
        if result._result.get("changed"):
            self._record(result, "change")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        if not ignore_errors and not result._result.get("results"):
            self._record(result, "failed")

    def v2_runner_item_on_failed(self, result) -> None:
        self._record(result, "failed")

    # -- writing ---------------------------------------------------------------------------------------------------
    def _name(self) -> str:
        return (self.get_option("name") or self.cluster_name or os.path.basename(self.inventory_dir.rstrip("/"))
                or "cluster")

    def markdown(self, stamp: str) -> str:
        lines = [f"# Plan for {self._name()}, {stamp}", "",
                 f"What `ansible-playbook {self.playbook or 'site.yml'} --check --diff` reports it would change; "
                 "nothing has been changed.", ""]
        if not self.entries:
            lines.append("Nothing would change: every host is as the inventory asks.")
        for host in sorted(self.entries):
            lines += [f"## {host}", ""]
            for entry in self.entries[host]:
                what = f"{entry['task']}" + (f" — {entry['object']}" if entry["object"] else "")
                verb = "would fail" if entry["outcome"] == "failed" else "would change"
                lines.append(f"- **{what}** ({verb})")
                if entry["text"]:
                    lines += ["", "  ```diff" if entry["outcome"] == "change" else "  ```",
                              *("  " + line for line in entry["text"].splitlines()), "  ```"]
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"

    def page(self, stamp: str) -> str:
        parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Plan for {html.escape(self._name())}"
                 "</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:.6em;"
                 "overflow:auto}.fail{color:#a00}</style></head><body>",
                 f"<h1>Plan for {html.escape(self._name())}, {html.escape(stamp)}</h1>",
                 "<p>What the check run reports it would change; nothing has been changed.</p>"]
        if not self.entries:
            parts.append("<p>Nothing would change: every host is as the inventory asks.</p>")
        for host in sorted(self.entries):
            parts.append(f"<h2>{html.escape(host)}</h2><ul>")
            for entry in self.entries[host]:
                what = entry["task"] + (f" — {entry['object']}" if entry["object"] else "")
                css = " class=\"fail\"" if entry["outcome"] == "failed" else ""
                verb = "would fail" if entry["outcome"] == "failed" else "would change"
                parts.append(f"<li{css}><b>{html.escape(what)}</b> ({verb})"
                             + (f"<pre>{html.escape(entry['text'])}</pre>" if entry["text"] else "") + "</li>")
            parts.append("</ul>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def v2_playbook_on_stats(self, stats) -> None:
        if not self.checking():
            return
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        directory = self.get_option("directory")
        os.makedirs(directory, exist_ok=True)
        base = os.path.join(directory, f"{self._name()}-plan")
        with open(base + ".md", "w", encoding="utf-8") as handle:
            handle.write(self.markdown(stamp))
        with open(base + ".html", "w", encoding="utf-8") as handle:
            handle.write(self.page(stamp))
        changes = sum(1 for entries in self.entries.values() for entry in entries if entry["outcome"] == "change")
        failures = sum(1 for entries in self.entries.values() for entry in entries if entry["outcome"] == "failed")
        hosts = ", ".join(sorted(self.entries)) or "none"
        self._display.display(f"PLAN: {changes} change(s), {failures} failure(s) on {len(self.entries)} host(s) "
                              f"({hosts}); written to {base}.md and {base}.html", screen_only=True)
