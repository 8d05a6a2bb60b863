"""Writing a Postman import: the new actions and the new custom parameters, all or nothing.

The store writes a list of actions in one transaction (`create_actions`) and parameters one by one. The
parameters go first; if any later write fails, the parameters created here are deleted again before the error
goes on, so an import that fails leaves nothing behind. (A single store transaction for both would close the
window in which a concurrent reader could see the new parameters; see the admin API report.)
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.store import Store
from agent.webhooks.model import Action, Parameter


async def import_actions(store: Store, actions: Sequence[Action], parameters: Sequence[Parameter]) -> list[Action]:
    """Create `parameters` and `actions`; on any failure none of them remains. Returns the stored actions."""
    done: list[Parameter] = []
    try:
        for parameter in parameters:
            done.append(await store.create_parameter(parameter))
        return await store.create_actions(actions)
    except BaseException:
        for parameter in done:
            await store.delete_parameter(parameter.tag)
        raise
