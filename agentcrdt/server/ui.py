"""The review UI on the sync server: :class:`HubAccess` gives the UI (:mod:`agentcrdt.ui.remote`) the
server's scopes, through the same per-scope worker thread and fan-out as the sync sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio.to_thread

from agentcrdt.replica.placement import IngestReport
from agentcrdt.server.hub import Hub, ScopeHub
from agentcrdt.ui.views import RoomViews

__all__ = ["HubAccess"]

T = TypeVar("T")
Announce = Callable[[ScopeHub, list[bytes]], Awaitable[None]]


class HubAccess:
    """The server's scopes as the UI sees them (see :class:`agentcrdt.ui.remote.ScopeAccess`).

    ``announce`` is what the server does after storing a peer's events (tell the other servers on its
    PostgreSQL, announce work on its queue); ``keys`` numbers the UI's listeners among the sessions'.
    """

    def __init__(self, hub: Hub, announce: Announce, keys: Callable[[], int]) -> None:
        self.hub = hub
        self._announce = announce
        self._keys = keys
        self._views: dict[str, RoomViews] = {}
        self._local: dict[str, list[Callable[[], None]]] = {}

    async def _scope(self, scope: str) -> ScopeHub | None:
        return self.hub.scopes.get(scope) or await anyio.to_thread.run_sync(self.hub.get, scope)

    async def views(self, scope: str) -> RoomViews | None:
        scope_hub = await self._scope(scope)
        if scope_hub is None:
            return None
        views = self._views.get(scope)
        if views is None or views.replica is not scope_hub.replica:
            views = self._views[scope] = RoomViews(scope_hub.replica)
        return views

    async def call(self, scope: str, fn: Callable[[], T]) -> T:
        return await self.hub.require(scope).call(fn)

    async def ingest(self, scope: str, raws: Sequence[bytes]) -> IngestReport:
        scope_hub = self.hub.require(scope)
        # Published to every live peer (no source: the browser is not a sync peer holding them).
        report, fresh = await scope_hub.ingest(lambda: scope_hub.replica.ingest(raws, source="ui"), source=-1)
        if fresh:
            await self._announce(scope_hub, fresh)
        return report

    async def append_local(self, scope: str, raws: Sequence[bytes]) -> None:
        scope_hub = self.hub.require(scope)
        await scope_hub.call(lambda: scope_hub.replica.append_signed(raws))
        for callback in list(self._local.get(scope, ())):  # local reads reach no peer: only pages
            callback()

    def subscribe(self, scope: str, callback: Callable[[], None]) -> Callable[[], None]:
        scope_hub = self.hub.require(scope)
        key = self._keys()
        scope_hub.listeners[key] = lambda raws: callback()  # called on the loop, after each store
        self._local.setdefault(scope, []).append(callback)

        def unsubscribe() -> None:
            scope_hub.listeners.pop(key, None)
            self._local[scope].remove(callback)

        return unsubscribe
