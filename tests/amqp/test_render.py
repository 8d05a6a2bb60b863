"""Rendering an AMQP action's message from a system event (docs/fleets.md, "Routing keys" and "Messages"): pure,
no broker needed."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.webhooks.amqp.failures import Address, parse_url
from agent.webhooks.amqp.render import (
    AmqpTarget,
    exchange_problem,
    render_body,
    render_message,
    render_routing_key,
    render_url,
    routing_word,
)
from agent.webhooks.request import clean_text

PARAMS = {"event": "call_hangup", "event_id": "1795871988.45:call_hangup:1", "call_id": "1795871988.45",
          "tenant": "acme", "extension": "202", "unix_time": "1795871995", "caller_id": "+15551234567"}


class TestRoutingKey:
    @pytest.mark.parametrize(("value", "word"), [
        ("acme", "acme"),
        ("acme.eu", "acme%2Eeu"),
        ("*", "%2A"),
        ("#", "%23"),
        ("50%", "50%25"),
        ("sales team", "sales%20team"),
        ("a\nb", "a%0Ab"),
        ("zürich", "zürich"),
        ("zürich.hq", "zürich%2Ehq"),
        ("", ""),
    ])
    def test_value_is_one_word(self, value: str, word: str) -> None:
        """Given a value from the PBX, then `.`, `*`, `#`, `%`, whitespace and controls are percent-encoded."""
        assert routing_word(value) == word

    @pytest.mark.parametrize(("template", "changes", "key"), [
        ("{{tenant}}.{{event}}", {}, "acme.call_hangup"),
        ("{{tenant}}.{{event}}", {"tenant": ""}, "default.call_hangup"),
        ("", {"tenant": ""}, "default.call_hangup"),
        ("{{tenant}}.{{event}}", {"tenant": "evil.#"}, "evil%2E%23.call_hangup"),
        ("pbx.{{tenant}}.{{event}}.{{extension}}", {"extension": "2.0*"}, "pbx.acme.call_hangup.2%2E0%2A"),
        ("calls.{{ event }}", {}, "calls.call_hangup"),
        ("{{tenant}}.{{nothing}}", {}, "acme."),
    ])
    def test_template(self, template: str, changes: dict[str, str], key: str) -> None:
        """Given a routing-key template, then the template's own dots stay, values are encoded, an empty tenant is
        `default` and an undefined tag is empty."""
        assert render_routing_key(template, {**PARAMS, **changes}) == key

    @given(st.text())
    def test_value_never_adds_words(self, value: str) -> None:
        """Given any value, then its word has no `.`, `*` or `#`, and percent-decoding gives the value back."""
        word = routing_word(value)
        assert not {".", "*", "#"} & set(word)
        assert unquote(word) == clean_text(value)


class TestUrl:
    @pytest.mark.parametrize(("template", "values", "url"), [
        ("amqp://agent:{{pw}}@mq.example:5672/pbx", {"pw": "p@ss:w/rd%"}, "amqp://agent:p%40ss%3Aw%2Frd%25@mq.example:5672/pbx"),
        ("amqp://{{user}}:secret@{{host}}/%2F", {"user": "pbx one", "host": " mq.example:5673\n"},
         "amqp://pbx%20one:secret@mq.example:5673/%2F"),
        ("amqps://u:p@mq.example/{{vhost}}", {"vhost": "tenant/acme"}, "amqps://u:p@mq.example/tenant%2Facme"),
        ("amqp://mq.example", {}, "amqp://mq.example"),
    ])
    def test_values_encoded(self, template: str, values: dict[str, str], url: str) -> None:
        """Given a URL template, then user, password and vhost values are percent-encoded, host values cleaned,
        and the template's own text kept as written."""
        assert render_url(template, values) == url

    @given(st.text(min_size=1))
    def test_password_round_trip(self, password: str) -> None:
        """Given any password as a parameter, then the client reads back exactly that password, and the host,
        port and vhost of the template."""
        url = render_url("amqp://agent:{{pw}}@mq.example:5672/pbx", {"pw": password})
        assert parse_url(url) == (Address("agent", "mq.example", 5672, "pbx"), clean_text(password))


class TestBody:
    def test_default_is_every_event_parameter(self) -> None:
        """Given no body template, then the body is the event's parameters as a JSON object, keys sorted, and a
        custom parameter (a secret one, say) is not in it."""
        message = render_message(AmqpTarget("amqp://mq.example/", "events"), PARAMS, {"api_key": "s3cret"})
        assert json.loads(message.body) == PARAMS
        assert list(json.loads(message.body)) == sorted(PARAMS)
        assert b"s3cret" not in message.body

    def test_template_values_json_escaped(self) -> None:
        """Given a body template, then each value is JSON-string-escaped, custom parameters included."""
        body = render_body('{"who": "{{calling_name}}", "key": "{{api_key}}"}', PARAMS,
                           {**PARAMS, "calling_name": 'Jo "J" \n Smith\\', "api_key": "k"})
        assert json.loads(body) == {"who": 'Jo "J" \n Smith\\', "key": "k"}


class TestMessage:
    def test_properties(self) -> None:
        """Given a system event, then message_id is its event_id, timestamp its unix_time, headers its event and
        call_id, and the message is persistent JSON."""
        message = render_message(AmqpTarget("amqp://mq.example/", "events"), PARAMS)
        assert message.properties() == {
            "content_type": "application/json", "delivery_mode": 2, "message_id": "1795871988.45:call_hangup:1",
            "timestamp": 1795871995, "headers": {"event": "call_hangup", "call_id": "1795871988.45"}}
        assert (message.exchange, message.routing_key) == ("events", "acme.call_hangup")

    def test_no_unix_time(self) -> None:
        """Given an event without a usable unix_time, then the message has no timestamp."""
        message = render_message(AmqpTarget("amqp://mq.example/", "events"), {**PARAMS, "unix_time": "soon"})
        assert message.timestamp is None

    def test_custom_never_overrides_event(self) -> None:
        """Given a custom parameter named like an event parameter, then the event's value wins."""
        target = AmqpTarget("amqp://mq.example/", "events", "{{tenant}}", '{"e": "{{event}}"}')
        message = render_message(target, PARAMS, {"tenant": "other", "event": "forged"})
        assert (message.routing_key, json.loads(message.body)) == ("acme", {"e": "call_hangup"})


@pytest.mark.parametrize(("name", "problem"), [
    ("events", None),
    ("pbx.events:v1_x-y", None),
    ("", "an exchange name is required"),
    ("amq.topic", "names starting with 'amq.' are reserved"),
    ("with space", "an exchange name has 1 to 255"),
    ("x" * 256, "an exchange name has 1 to 255"),
])
def test_exchange_names(name: str, problem: str | None) -> None:
    """Given an exchange name, then it is refused when RabbitMQ would refuse it or it cannot be declared."""
    found = exchange_problem(name)
    assert found == problem if problem is None else (found or "").startswith(problem)
