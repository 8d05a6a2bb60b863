"""AMQP 0-9-1 actions (docs/fleets.md): `render` builds a message from a system event (pure), `publisher`
publishes it to RabbitMQ with publisher confirms, one connection per broker URL."""
