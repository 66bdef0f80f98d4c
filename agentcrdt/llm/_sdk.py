"""What the SDK-backed adapters share: the API key lookup, the client's construction and its closing."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from agentcrdt.errors import MissingAPIKey
from agentcrdt.llm._retry import Clock
from agentcrdt.llm.base import Model

__all__ = ["SDKModel"]


class SDKModel(Model):
    """A model served through a provider SDK client, which may be injected (tests pass fakes)."""

    provider: ClassVar[str]
    label: ClassVar[str]  # the provider's name in messages ("OpenAI")
    env_key: ClassVar[str]  # the environment variable holding the API key
    default_name: ClassVar[str]

    def __init__(
        self,
        name: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
        http_client: Any = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name or self.default_name
        super().__init__(f"{self.provider}:{self.name}", clock=clock)
        # A client we build is ours to close; an injected client (or transport) belongs to the caller.
        self._owns_client = client is None and http_client is None
        if client is None:
            key = api_key or os.environ.get(self.env_key)
            if not key:  # before any network: the message names the variable and the offline model
                raise MissingAPIKey(self.label, self.env_key)
            client = self._make_client(key, base_url, http_client)
        self._client = client

    def _make_client(self, key: str, base_url: str | None, http_client: Any) -> Any:
        """Build the SDK's async client with the SDK's own retries off (ours own the policy)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()
