"""Webhook receivers that misbehave, and the secrets the tests plant.

`hostile(mode)` is the suite's receiver (tests/support/receiver.py) answering every request with one fault:
`garbage` (a line that is not HTTP), `headers` (a status line followed by far more header lines than any client
accepts) or `echo` (`HTTP/1.1 500` whose body is the request head it got: a receiver that reflects the URL and
the headers, credentials included, into its error page). A refused port is simply `free_port()` with nobody
listening.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.receiver import Fault, Receiver, Reply, receiver

AMI_SECRET = "AMI-SECRET-ami-5"
ADMIN_TOKEN = "ADMIN-TOKEN-0123456789-abcdefghijklmnop"
PARAM = "SUPERSECRET-PARAM-1"
QUERY_KEY = "APIKEY-QUERY-6"
HEADER_KEY = "APIKEY-HEADER-9"
BEARER = "BEARER-TOKEN-7"
BASIC_USER = "pbx-user"
BASIC_PASSWORD = "BASIC-PASSWORD-8"
BASIC_PAIR = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
SECRETS = (AMI_SECRET, ADMIN_TOKEN, PARAM, QUERY_KEY, HEADER_KEY, BEARER, BASIC_PASSWORD, BASIC_PAIR)
REQUEST_SECRETS = (PARAM, QUERY_KEY, HEADER_KEY, BEARER, BASIC_PASSWORD, BASIC_PAIR)


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The planted secrets found in `text`."""
    return [secret for secret in secrets if secret in text]


@asynccontextmanager
async def hostile(mode: Fault) -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1 that answers every request with the fault `mode`."""
    async with receiver(answer=Reply(fault=mode)) as rx:
        yield rx
