"""A loopback TCP proxy between sync clients and a server, for fault tests: it delays every chunk, drops
connections after some bytes, or partitions (holds every byte until healed)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress

from tests.server._serve import free_port


class FaultyProxy:
    """Forward 127.0.0.1:``port`` to ``target``; faults are switched on and off from any thread."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.delay = 0.0  # seconds before each forwarded chunk
        self.drop_after: int | None = None  # bytes per connection before it is cut
        self._healed = threading.Event()
        self._healed.set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def partition(self) -> None:
        self._healed.clear()

    def heal(self) -> None:
        self._healed.set()

    def cut_all(self) -> None:
        """Close every open connection (a network drop)."""
        self._loop.call_soon_threadsafe(lambda: [w.close() for w in list(self._writers)])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        budget = [self.drop_after]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    while not self._healed.is_set():
                        await asyncio.sleep(0.02)
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if budget[0] is not None:
                        budget[0] -= len(data)
                        if budget[0] < 0:
                            break
                    dst.write(data)
                    await dst.drain()
            for w in (writer, up_writer):
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
