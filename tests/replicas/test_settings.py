"""The replica keys of a config file: ``[settings]`` heartbeat and lease times, and a model's
``concurrency_scope``; mistakes name the key and the fix."""

from __future__ import annotations

import pytest

from llminst._core.errors import ConfigError
from llminst._core.userconfig import parse_config
from llminst.replicas import ReplicaSettings

SOURCE = "/etc/llminst.toml"


def test_replica_times_and_a_global_scope_are_read_from_the_config() -> None:
    config = parse_config(
        """
        [settings]
        heartbeat_lease_s = 4
        heartbeat_every_s = 1
        replica_sweep_s = 2
        concurrency_lease_s = 12.5

        [models.shared]
        command = ["mycli"]
        max_concurrency = 3
        concurrency_scope = "global"
        """,
        source=SOURCE,
    )
    assert ReplicaSettings.of(config.settings, prefix="team") == ReplicaSettings(
        prefix="team",
        heartbeat_lease_s=4.0,
        heartbeat_every_s=1.0,
        sweep_every_s=2.0,
        concurrency_lease_s=12.5,
    )
    assert config.models["shared"].concurrency_scope == "global"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            '[models.x]\ncommand = ["c"]\nconcurrency_scope = "cluster"\n',
            ("models.x.concurrency_scope", "'local'", "'global'", "'cluster'"),
        ),
        (
            "[settings]\nheartbeat_lease_s = 3\nheartbeat_every_s = 3\n",
            ("heartbeat_every_s", "shorter than heartbeat_lease_s"),
        ),
        ("[settings]\nconcurrency_lease_s = 0\n", ("concurrency_lease_s", "above 0")),
    ],
)
def test_a_mistake_names_the_key_and_what_is_expected(text: str, words: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source=SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: ")
    for word in words:
        assert word in message, message
