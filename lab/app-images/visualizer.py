#!/usr/bin/python3
"""swarmforge visualizer: the nodes of the swarm and the tasks on each, read from a manager's Docker socket.

Runs as a service constrained to managers with /var/run/docker.sock mounted. GET / is an HTML page that refreshes
itself; GET /api/state is the same as JSON: {"nodes": [{hostname, role, availability, state, leader, tasks}]}.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import socket
from http.server import ThreadingHTTPServer

import apphttp

SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")


class DockerConnection(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=10)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(SOCKET)


def api(path: str) -> list | dict:
    connection = DockerConnection()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body.decode(errors='replace').strip()}")
        return json.loads(body)
    finally:
        connection.close()


def state() -> dict:
    services = {s["ID"]: s["Spec"]["Name"] for s in api("/services")}
    tasks: dict[str, list[dict]] = {}
    for task in api('/tasks?filters={"desired-state":["running"]}'):
        tasks.setdefault(task.get("NodeID", ""), []).append({
            "service": services.get(task["ServiceID"], task["ServiceID"][:12]),
            "slot": task.get("Slot"), "state": task["Status"]["State"],
            "image": task["Spec"]["ContainerSpec"]["Image"].split("@")[0]})
    nodes = []
    for node in sorted(api("/nodes"), key=lambda n: (n["Spec"]["Role"] != "manager", n["Description"]["Hostname"])):
        nodes.append({
            "hostname": node["Description"]["Hostname"], "role": node["Spec"]["Role"],
            "availability": node["Spec"]["Availability"], "state": node["Status"]["State"],
            "leader": bool((node.get("ManagerStatus") or {}).get("Leader")),
            "tasks": sorted(tasks.get(node["ID"], []), key=lambda t: (t["service"], t["slot"] or 0))})
    return {"nodes": nodes}


def page(current: dict) -> str:
    columns = []
    for node in current["nodes"]:
        role = node["role"] + (" (leader)" if node["leader"] else "")
        tasks = "".join(f"<li>{html.escape(t['service'])}.{t['slot'] or ''} <small>{html.escape(t['image'])} "
                        f"{t['state']}</small></li>" for t in node["tasks"])
        columns.append(f"<td><h2>{html.escape(node['hostname'])}</h2><p>{role}, {node['availability']}, "
                       f"{node['state']}</p><ul>{tasks}</ul></td>")
    return ("<!doctype html><meta http-equiv=refresh content=5><title>swarm visualizer</title>"
            "<style>td{vertical-align:top;border:1px solid #999;padding:0 1em}</style>"
            f"<h1>swarm</h1><table><tr>{''.join(columns)}</tr></table>\n")


class Handler(apphttp.Handler):
    server_version = "swarmforge-visualizer/1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            current = state()
        except (OSError, RuntimeError) as error:
            body, status, kind = f"docker API unavailable: {error}\n", 503, "text/plain"
        else:
            status = 200
            if self.path == "/api/state":
                body, kind = json.dumps(current), "application/json"
            else:
                body, kind = page(current), "text/html; charset=utf-8"
        self.answer(status, body, kind)


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(os.environ.get("APP_PORT", "8080"))), Handler).serve_forever()
