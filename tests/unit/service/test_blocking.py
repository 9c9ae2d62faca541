"""The bridge between handshake threads and the event loop for the caller's funs."""
import asyncio

import pytest

from bridge.service.blocking import run_on_loop


def test_waits_for_the_loop_from_a_worker_thread():
    async def main():
        loop = asyncio.get_running_loop()

        async def call():
            await asyncio.sleep(0.01)
            return 42
        return await loop.run_in_executor(None, run_on_loop, loop, call(), 5)
    assert asyncio.run(main()) == 42


def test_refused_on_the_loop_itself_instead_of_hanging():
    async def main():
        loop = asyncio.get_running_loop()

        async def call():
            return 1
        with pytest.raises(RuntimeError, match="event loop"):
            run_on_loop(loop, call(), 1)
    asyncio.run(main())
