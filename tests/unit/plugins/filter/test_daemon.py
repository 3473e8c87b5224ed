"""daemon.json options are checked against the keys and JSON types dockerd reads, before any host changes, and written
with the types dockerd needs: the inventory's "false" for a boolean key is JSON false."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.swarmforge.swarm.plugins.filter.daemon import daemon_option_problems, daemon_options_typed

LAB = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
       "insecure-registries": ["172.28.88.16:5000"], "default-address-pools": [{"base": "10.210.0.0/16", "size": 24}]}


def test_the_labs_options_pass_and_an_empty_value_is_nothing_to_check() -> None:
    assert daemon_option_problems(LAB) == []
    assert daemon_option_problems({}) == [] and daemon_option_problems(None) == []


def test_a_misspelt_key_is_refused_with_the_key_it_resembles() -> None:
    problems = daemon_option_problems({"log-drivr": "json-file", "insecure-registry": ["r:5000"]})
    assert problems == [
        "'log-drivr' is not a daemon.json option (did you mean 'log-driver'? an option of a newer engine goes in "
        "docker_engine_daemon_extra_keys as well)",
        "'insecure-registry' is not a daemon.json option (did you mean 'insecure-registries'? an option of a newer "
        "engine goes in docker_engine_daemon_extra_keys as well)",
    ]


def test_an_unknown_key_listed_as_extra_is_accepted() -> None:
    assert daemon_option_problems({"some-future-option": 1}, ["some-future-option"]) == []
    assert daemon_option_problems({"some-future-option": 1})[0].startswith("'some-future-option' is not a daemon")


@pytest.mark.parametrize(("options", "problem"), [
    ({"debug": "sometimes"}, "'debug' must be a boolean, not 'sometimes'"),
    ({"mtu": "1450 bytes"}, "'mtu' must be an integer, not '1450 bytes'"),
    ({"mtu": True}, "'mtu' must be an integer, not True"),
    ({"registry-mirrors": "http://mirror:5000"}, "'registry-mirrors' must be a list, not 'http://mirror:5000'"),
    ({"log-opts": ["max-size=10m"]}, "'log-opts' must be a mapping, not ['max-size=10m']"),
    ({"log-driver": ["json-file"]}, "'log-driver' must be a string, not ['json-file']"),
    ({"log-level": "verbose"}, "'log-level' must be one of debug, info, warn, error, fatal, not 'verbose'"),
    ({"default-address-pools": ["10.210.0.0/16"]},
     "each 'default-address-pools' entry is {base: CIDR, size: prefix length}, not '10.210.0.0/16'"),
    ({"log-opts": {"max-file": [3]}},
     "'log-opts' values are single values such as \"10m\" or 3, not lists or mappings: max-file"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_key_and_type(options, problem) -> None:
    assert daemon_option_problems(options) == [problem]


def test_options_that_are_not_a_mapping_are_refused() -> None:
    assert daemon_option_problems(["debug"]) == [
        "docker_engine_daemon_options must be a mapping of daemon.json keys, not ['debug']"]
    with pytest.raises(AnsibleFilterError, match="a mapping is needed"):
        daemon_options_typed(["debug"])


def test_values_are_written_as_dockerd_reads_them() -> None:
    typed = daemon_options_typed({"live-restore": "false", "debug": "yes", "ipv6": 0, "mtu": "1450",
                                  "log-opts": {"max-file": 3, "compress": True, "max-size": "10m"},
                                  "log-driver": "json-file", "some-future-option": "false"})
    assert typed == {"live-restore": False, "debug": True, "ipv6": False, "mtu": 1450,
                     "log-opts": {"max-file": "3", "compress": "true", "max-size": "10m"},
                     "log-driver": "json-file", "some-future-option": "false"}
    assert daemon_options_typed(LAB) == LAB
