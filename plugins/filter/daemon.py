# Copyright: swarmforge contributors
# Apache License 2.0
"""daemon.json options checked on the controller, before any host changes.

The engine reads /etc/docker/daemon.json only when it starts: a misspelt key or a value of the wrong JSON type is
found when dockerd refuses to start, after the file was written. Preflight checks docker_engine_daemon_options against
the keys and JSON types of the daemon.json reference (engines 20.10 to 28) with `daemon_option_problems`, and the
docker_engine role writes the values as `daemon_options_typed` gives them, so that a boolean written as the string
"false" in an inventory is written as JSON false (dockerd refuses a string where it reads a boolean).

A key this table does not know (a newer engine's) is accepted when it is listed in docker_engine_daemon_extra_keys.
"""

from __future__ import annotations

import difflib

from ansible.errors import AnsibleFilterError

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}

BOOL = "boolean"
INT = "integer"
STR = "string"
LIST = "list"
DICT = "mapping"

# daemon.json keys and the JSON type dockerd reads for each (https://docs.docker.com/reference/cli/dockerd/).
KEYS = {
    BOOL: (
        "debug", "experimental", "icc", "init", "ip-forward", "ip-masq", "ip6tables", "iptables", "ipv6",
        "live-restore", "no-new-privileges", "raw-logs", "rootless", "selinux-enabled", "tls", "tlsverify",
        "userland-proxy", "allow-direct-routing", "ip-forward-no-drop",
    ),
    INT: (
        "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "mtu",
        "network-control-plane-mtu", "oom-score-adjust", "shutdown-timeout", "cpu-rt-period", "cpu-rt-runtime",
    ),
    STR: (
        "api-cors-header", "authorization-plugin", "bip", "bip6", "bridge", "cgroup-parent", "cluster-advertise",
        "cluster-store", "containerd", "containerd-namespace", "containerd-plugins-namespace", "data-root",
        "default-cgroupns-mode", "default-gateway", "default-gateway-v6", "default-ipc-mode", "default-runtime",
        "default-shm-size", "exec-root", "firewall-backend", "fixed-cidr", "fixed-cidr-v6", "group",
        "host-gateway-ip", "init-path", "ip", "log-driver", "log-format", "log-level", "metrics-addr", "pidfile",
        "seccomp-profile", "storage-driver", "swarm-default-advertise-addr", "tlscacert", "tlscert", "tlskey",
        "userland-proxy-path", "userns-remap", "bridge-accept-fwmark",
    ),
    LIST: (
        "allow-nondistributable-artifacts", "authorization-plugins", "cdi-spec-dirs", "default-address-pools",
        "dns", "dns-opts", "dns-search", "exec-opts", "hosts", "insecure-registries", "labels",
        "node-generic-resources", "registry-mirrors", "storage-opts", "host-gateway-ips",
    ),
    DICT: (
        "builder", "cluster-store-opts", "default-network-opts", "default-ulimits", "features", "log-opts",
        "proxies", "runtimes",
    ),
}
TYPE_OF = {key: kind for kind, keys in KEYS.items() for key in keys}
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


def _typed(key, value, kind):
    """value as dockerd reads it for a key of that kind, and None when it cannot be read so."""
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and str(value).strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return str(value).strip().lower() in TRUE_WORDS
        return None
    if kind == INT:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        return None
    if kind == STR:
        if isinstance(value, str):
            return value
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == LIST:
        return list(value) if isinstance(value, (list, tuple)) else None
    return dict(value) if isinstance(value, dict) else None


def _problem(key, value, extra_keys):
    kind = TYPE_OF.get(key)
    if kind is None:
        if key in extra_keys:
            return None
        close = difflib.get_close_matches(key, TYPE_OF, n=1, cutoff=0.75)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (f"{key!r} is not a daemon.json option ({hint}an option of a newer engine goes in "
                "docker_engine_daemon_extra_keys as well)")
    typed = _typed(key, value, kind)
    if typed is None:
        article = "an" if kind == INT else "a"
        return f"{key!r} must be {article} {kind}, not {value!r}"
    if key == "log-level" and typed not in LOG_LEVELS:
        return f"'log-level' must be one of {', '.join(LOG_LEVELS)}, not {value!r}"
    if key == "default-address-pools":
        for pool in typed:
            if not isinstance(pool, dict) or set(pool) != {"base", "size"}:
                return f"each 'default-address-pools' entry is {{base: CIDR, size: prefix length}}, not {pool!r}"
    if key == "log-opts":
        wrong = sorted(name for name, item in typed.items() if isinstance(item, (dict, list, tuple)) or item is None)
        if wrong:
            return ("'log-opts' values are single values such as \"10m\" or 3, not lists or mappings: "
                    f"{', '.join(wrong)}")
    return None


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def daemon_option_problems(options, extra_keys=None):
    """One message per option of options (docker_engine_daemon_options) that dockerd would refuse: unknown key (with
    the closest known one), wrong JSON type, an out-of-range value where the set is small."""
    if options in (None, ""):
        return []
    if not isinstance(options, dict):
        return [f"docker_engine_daemon_options must be a mapping of daemon.json keys, not {options!r}"]
    extra = set(extra_keys or [])
    problems = [problem for key, value in options.items() if (problem := _problem(str(key), value, extra))]
    hosts = options.get("hosts")
    tcp = [host for host in hosts if str(host).startswith("tcp://")] if isinstance(hosts, list) else []
    if tcp and not (_typed("tlsverify", options.get("tlsverify"), BOOL)
                    and all(options.get(key) for key in ("tlscacert", "tlscert", "tlskey"))):
        problems.append(f"hosts {tcp} would expose the Docker API on TCP without TLS verification: set tlsverify, "
                        "tlscacert, tlscert and tlskey, or listen on the unix socket only")
    return problems


def daemon_options_typed(options):
    """options with each known key's value as dockerd reads it (the string "false" of a boolean key becomes false,
    "3" of an integer key becomes 3, a log-opts value 3 becomes "3": dockerd reads log options as strings only);
    anything else unchanged."""
    if not isinstance(options, dict):
        raise AnsibleFilterError(f"daemon_options_typed: a mapping is needed, not {options!r}")
    typed = {}
    for key, value in options.items():
        kind = TYPE_OF.get(key)
        converted = _typed(key, value, kind) if kind in (BOOL, INT) else None
        typed[key] = value if converted is None else converted
        if key == "log-opts" and isinstance(value, dict):
            typed[key] = {name: _text(item) for name, item in value.items()}
    return typed


class FilterModule:
    def filters(self):
        return {"daemon_option_problems": daemon_option_problems, "daemon_options_typed": daemon_options_typed}
