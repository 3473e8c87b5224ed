#!/usr/bin/python3
"""swarmforge guestbook: the tutorials' web-app-plus-database tier, small enough to build from Debian packages.

Reads its database password from a file (a swarm secret), never from the environment:
  APP_DB_HOST (db), APP_DB_PORT (3306), APP_DB_NAME, APP_DB_USER, APP_DB_PASSWORD_FILE, APP_PORT (80)
GET / lists the entries and names the task that answered; POST / with a body adds one; GET /health answers
200 once the database does; GET /entries.json returns the entries as JSON.
"""

from __future__ import annotations

import html
import json
import os
import socket
import sys
import time
from http.server import ThreadingHTTPServer

import apphttp
import pymysql

SCHEMA = ("CREATE TABLE IF NOT EXISTS entries (id INT AUTO_INCREMENT PRIMARY KEY, text VARCHAR(500) NOT NULL, "
          "host VARCHAR(64) NOT NULL, created TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")


def password() -> str:
    path = os.environ.get("APP_DB_PASSWORD_FILE", "")
    if not path:
        sys.exit("guestbook: APP_DB_PASSWORD_FILE is not set: attach the password as a swarm secret and point it there")
    with open(path, encoding="utf-8") as source:
        return source.read().strip()


def connect() -> pymysql.connections.Connection:
    return pymysql.connect(host=os.environ.get("APP_DB_HOST", "db"), port=int(os.environ.get("APP_DB_PORT", "3306")),
                           user=os.environ["APP_DB_USER"], password=password(), database=os.environ["APP_DB_NAME"],
                           connect_timeout=5, autocommit=True)


def query(sql: str, *args: object) -> list[tuple]:
    connection = connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        connection.close()


class Handler(apphttp.Handler):
    server_version = "swarmforge-guestbook/1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            if self.path == "/health":
                query("SELECT 1")
                self.answer(200, "ok\n", "text/plain")
                return
            rows = query("SELECT id, text, host FROM entries ORDER BY id")
        except pymysql.MySQLError as error:
            self.answer(503, f"database unavailable: {error}\n", "text/plain")
            return
        if self.path == "/entries.json":
            self.answer(200, json.dumps({"served_by": socket.gethostname(),
                                         "entries": [{"id": i, "text": t, "host": h} for i, t, h in rows]}),
                        "application/json")
            return
        items = "".join(f"<li>{html.escape(text)} <small>({html.escape(host)})</small></li>" for _, text, host in rows)
        self.answer(200, f"<!doctype html><title>guestbook</title><h1>swarmforge guestbook</h1>"
                         f"<p>served by {html.escape(socket.gethostname())}</p><ul>{items}</ul>\n")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = min(int(self.headers.get("Content-Length") or 0), 500)
        text = self.rfile.read(length).decode(errors="replace").strip()
        if not text:
            self.answer(400, "post some text\n", "text/plain")
            return
        try:
            query("INSERT INTO entries (text, host) VALUES (%s, %s)", text, socket.gethostname())
        except pymysql.MySQLError as error:
            self.answer(503, f"database unavailable: {error}\n", "text/plain")
            return
        self.answer(201, "added\n", "text/plain")


def main() -> None:
    deadline = time.monotonic() + 300
    while True:  # the database may still be starting, or initialising its data folder
        try:
            query(SCHEMA)
            break
        except pymysql.MySQLError as error:
            if time.monotonic() > deadline:
                sys.exit(f"guestbook: the database did not answer within 300s: {error}")
            print(f"guestbook: waiting for the database: {error}", file=sys.stderr, flush=True)
            time.sleep(3)
    port = int(os.environ.get("APP_PORT", "80"))
    print(f"guestbook: listening on :{port}", flush=True)
    ThreadingHTTPServer(("", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
