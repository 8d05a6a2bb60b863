"""The AMQP tests share one private RabbitMQ broker (tests/support/broker.py): `broker` is it, started."""

from __future__ import annotations

from tests.support.broker import broker, rabbitmq

__all__ = ["broker", "rabbitmq"]
