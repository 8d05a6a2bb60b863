"""The one place tests build settings: for an in-process `Agent`, for an `event-agent run` process (its
environment), and the AMI and delivery sections alone. All of them listen and connect on 127.0.0.1 only, and
retry and reconnect quickly (docs/settings.md lists every setting)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.settings import AdminSettings, AmiSettings, DeliverySettings, Settings

TOKEN = "test-token-0123456789abcdefghijklmnop"  # the admin API wants 32 characters at least

FAST_AMI: Mapping[str, float] = {"ping_interval": 5.0, "connect_timeout": 2.0, "reconnect_min": 0.05,
                                 "reconnect_max": 0.3}
FAST_DELIVERY: Mapping[str, float] = {"retry_initial_delay": 0.05, "retry_max_delay": 0.3, "total_timeout": 5.0,
                                      "connect_timeout": 1.0, "live_retry_window": 3600.0, "drain_grace_period": 2.0}


def ami_settings(port: int, **changes: Any) -> AmiSettings:
    """The AMI client's section for a simulator on 127.0.0.1:`port`: short pings and backoff."""
    return AmiSettings.model_validate({"host": "127.0.0.1", "port": port, **FAST_AMI, **changes})


def fast_delivery(**changes: Any) -> DeliverySettings:
    """The delivery section: retries after 50 ms, capped at 300 ms; short timeouts and grace period."""
    return DeliverySettings.model_validate({**FAST_DELIVERY, **changes})


def agent_settings(state_dir: Path, ami_port: int = 5038, *, ami: Mapping[str, Any] | None = None,
                   admin: Mapping[str, Any] | None = None, **delivery: Any) -> Settings:
    """Settings for an `Agent` in this process: state in `state_dir`, the AMI at 127.0.0.1:`ami_port`, the admin
    API on a free port of 127.0.0.1 with `TOKEN`; `ami`, `admin` and `delivery` change single settings."""
    return Settings(
        state_dir=state_dir,
        ami=ami_settings(ami_port, **(ami or {})),
        admin=AdminSettings.model_validate({"host": "127.0.0.1", "port": 0, "token": TOKEN, **(admin or {})}),
        delivery=fast_delivery(**delivery),
    )


def daemon_env(state_dir: Path, ami_port: int, admin_port: int = 0, **extra: str) -> dict[str, str]:
    """The environment of an `event-agent run` process with the same settings as `agent_settings` (admin port 0:
    any free one); `extra` adds variables without their prefix (`DELIVERY__CONCURRENCY="8"`). Inherited
    EVENT_AGENT_ variables are dropped."""
    values: dict[str, object] = {
        "STATE_DIR": state_dir, "LOG_LEVEL": "INFO",
        "AMI__HOST": "127.0.0.1", "AMI__PORT": ami_port,
        "ADMIN__HOST": "127.0.0.1", "ADMIN__PORT": admin_port, "ADMIN__TOKEN": TOKEN,
        **{f"AMI__{key}": value for key, value in FAST_AMI.items()},
        **{f"DELIVERY__{key}": value for key, value in FAST_DELIVERY.items()},
        **extra,
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVENT_AGENT_")}
    env.update({f"EVENT_AGENT_{key.upper()}": str(value) for key, value in values.items()})
    return env
