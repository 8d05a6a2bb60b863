"""Actions the tests share."""

from __future__ import annotations

from agent.store.model import Action, KeyValue

# The reference product's dashboard request (the PBXware "Calls Overview" action): three tags, one of them with
# a slash and a dash in its name.
DASHBOARD = Action(
    name="Calls Overview",
    method="GET",
    url="http://{{IP}}/index.php",
    query=(
        KeyValue("apikey", "{{API_Key}}"),
        KeyValue("action", "pbxware.dashboard.calls"),
        KeyValue("server", "{{Srv/Tenant-ID}}"),
    ),
)
