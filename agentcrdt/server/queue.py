"""A JetStream work queue for agent workers on other machines: the server announces each document a
scope's new events touch, once per capability slot granted in the scope; the workers of one slot
share a durable pull consumer, so each announcement goes to one of them.

Stream ``AGENTCRDT_WORK`` (work-queue retention: a message is gone once a worker acks it), subjects
``agentcrdt.work.<scope digest>.<slot>``, message ``{"scope", "document", "event"}``, deduplicated by
JetStream on ``<scope>:<document>:<event>`` (a server restart re-announcing does not double work).
A worker that takes a message pulls the room from its server, runs its agent on that document only,
pushes what it proposed and acks; a worker killed before the ack leaves the message to be redelivered
(``ack_wait``), and its proposals, if they were pushed, are not made twice (they are idempotent by
input id on its own replica, and a redelivery to another worker re-proposes a summary a reviewer sees
once per agent key).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.log.event import decode_event

__all__ = ["STREAM", "WorkItemMessage", "WorkQueue", "documents_touched", "subject"]

STREAM = "AGENTCRDT_WORK"
ACK_WAIT = 60.0


def subject(scope: str, slot: str = "*") -> str:
    return f"agentcrdt.work.{scope.partition(':')[2][:40]}.{slot}"


def documents_touched(raws: Iterable[bytes]) -> list[tuple[str, str]]:
    """``(document id, event id)`` for each document an ``ops`` event in ``raws`` writes, in order."""
    out: list[tuple[str, str]] = []
    for raw in raws:
        e = decode_event(raw)
        if e.kind != "ops" or not isinstance(e.payload, dict):
            continue
        docs = {
            str(o.get("id"))
            for o in e.payload.get("ops", [])
            if isinstance(o, dict) and o.get("e") == "Document"
        }
        out += [(d, e.id) for d in sorted(docs)]
    return out


@dataclass(frozen=True)
class WorkItemMessage:
    scope: str
    document: str
    event: str
    msg: Any  # the JetStream message, to ack

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self) -> None:
        await self.msg.nak()


class WorkQueue:
    """One connection to NATS and its JetStream context (``async with WorkQueue.open(url) as q``)."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[WorkQueue]:
        try:
            import nats
            from nats.js.api import RetentionPolicy, StreamConfig
        except ImportError as e:
            raise UsageError("a NATS work queue needs nats-py: pip install 'agentcrdt[nats]'") from e
        try:
            nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
        except Exception as e:  # nats raises its own tree (and OSError): one clear message
            raise UsageError(f"cannot reach NATS at {url}: {e}") from e
        queue = cls(nc)
        config = StreamConfig(
            name=STREAM, subjects=["agentcrdt.work.>"], retention=RetentionPolicy.WORK_QUEUE
        )
        try:
            await queue.js.add_stream(config)
        except Exception:
            await queue.js.update_stream(config)
        try:
            yield queue
        finally:
            await nc.close()

    async def announce(self, scope: str, slots: Iterable[str], raws: Iterable[bytes]) -> int:
        """Announce the documents ``raws`` touch to every slot; return how many messages were sent."""
        n = 0
        touched = documents_touched(raws)
        for slot in slots:
            for doc, event in touched:
                body = json.dumps({"scope": scope, "document": doc, "event": event}).encode()
                await self.js.publish(
                    subject(scope, slot), body, headers={"Nats-Msg-Id": f"{scope}:{doc}:{event}:{slot}"}
                )
                n += 1
        return n

    async def pull(self, scope: str, slot: str) -> Any:
        """Return the durable pull subscription the workers of ``slot`` share for ``scope``."""
        from nats.js.api import ConsumerConfig

        durable = f"agentcrdt-{scope.partition(':')[2][:16]}-{slot}"
        return await self.js.pull_subscribe(
            subject(scope, slot), durable=durable, stream=STREAM, config=ConsumerConfig(ack_wait=ACK_WAIT)
        )

    @staticmethod
    async def take(sub: Any, timeout: float) -> list[WorkItemMessage]:
        """Wait up to ``timeout`` for work; return what came (possibly nothing)."""
        import nats.errors

        try:
            msgs = await sub.fetch(1, timeout=timeout)
        except nats.errors.TimeoutError:
            return []
        out = []
        for m in msgs:
            body = json.loads(m.data)
            out.append(WorkItemMessage(str(body["scope"]), str(body["document"]), str(body["event"]), m))
        return out
