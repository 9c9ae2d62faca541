"""A bridge Node running in-process on its own event loop thread, for tests."""
from __future__ import annotations

import asyncio
import threading

from bridge.node.node import Node


class BridgeThread:
    def __init__(self, name: str, cookie: str, *, ticktime: float = 60.0, service: bool = True,
                 carrier=None):
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.node = Node(name, cookie, ticktime=ticktime, carrier=carrier)
        self.service = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self._start(service))

    async def _start(self, service: bool):
        await self.node.start()
        if service:
            from bridge.service import install
            self.service = install(self.node)

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        """Run a plain function on the loop thread and return its result."""
        async def wrapper():
            return fn(*args)
        return self.run(wrapper())

    def stop(self):
        try:
            self.run(self.node.stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


def start_cli_bridge(name: str, cookie: str):
    """``python -m bridge`` as its own OS process, returned once it printed ``ready``."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--name", name, "--cookie", cookie],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "ready" in line, proc.stderr.read()
    return proc
