#!/usr/bin/env python3
"""A TCP proxy that delays every byte by DELAY seconds in each direction.

This machine's kernel has no netem qdisc (tc reports "unknown qdisc"), so the benchmark
shapes the rate with tbf on a veth pair into a network namespace and adds the round trip
here: LISTEN_ADDR:PORT -> UPSTREAM_HOST:PORT, 200 ms each way = 400 ms RTT.
Usage: delay_proxy.py LISTEN_ADDR LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT DELAY_S
"""
import asyncio
import sys

LISTEN, LPORT, UP, UPORT, DELAY = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])


async def pump(reader, writer):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except OSError:
            pass

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.put_nowait((loop.time() + DELAY, data))
    except OSError:
        pass
    queue.put_nowait((loop.time() + DELAY, None))
    try:
        await task
    except OSError:
        pass


async def handle(creader, cwriter):
    ureader, uwriter = await asyncio.open_connection(UP, UPORT)
    await asyncio.gather(pump(creader, uwriter), pump(ureader, cwriter))
    cwriter.close()
    uwriter.close()


async def main():
    server = await asyncio.start_server(handle, LISTEN, LPORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
