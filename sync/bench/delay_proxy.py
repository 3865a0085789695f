#!/usr/bin/env python3
"""A TCP proxy that adds a round trip to a link, for the sync benchmark.

This machine's kernel has no netem qdisc (tc reports "unknown qdisc"), so the benchmark
shapes the rate with tbf on a veth pair into a network namespace and adds the round trip
here: LISTEN_ADDR:PORT -> UPSTREAM_HOST:PORT, DELAY_S each way (0.2 = 400 ms RTT).

Usage: delay_proxy.py LISTEN_ADDR LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT DELAY_S [--tcp]

Without --tcp every byte is only delayed by DELAY_S in each direction. The client's own
TCP handshake and ACKs then cross a link with no delay, so a new connection is free and
there is no slow start: kinder than a real long link.

With --tcp the proxy also models what a real long link costs TCP (an approximation):
- the handshake: the first data a client sends on a new connection reaches the server 3
  one-way delays after it was written instead of 1 (SYN, SYN-ACK, then the request with
  the ACK): opening a connection costs one round trip. (The client wrote it right after
  connect() returned, as HTTP clients do; a real connect() would have returned one
  round trip later.)
- slow start on the server's side: a connection sends at most its congestion window per
  round trip. The window starts at 10 segments (IW10, 14,480 bytes), grows by what was
  acknowledged (doubling each round trip) and falls back to IW10 after an idle period
  longer than the retransmission timeout (Linux's tcp_slow_start_after_idle).
The rate itself stays limited by tbf on the veth, behind this proxy.
"""
import asyncio
import sys

LISTEN, LPORT, UP, UPORT, DELAY = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
TCP = "--tcp" in sys.argv[6:]
RTT = 2 * DELAY
IW = 10 * 1448
RTO = max(0.2, 1.5 * RTT)


class SlowStart:
    """The server's congestion window, in rounds of one RTT from its first transmission."""

    def __init__(self):
        self.cwnd = IW
        self.round_start = None
        self.sent = 0  # bytes sent in the current round
        self.last = None  # time of the last transmission

    def schedule(self, now, n):
        """Returns [(send_time, nbytes)] for n bytes that became available at `now`."""
        out = []
        # Nothing is sent before what was scheduled already.
        t = now if self.last is None else max(now, self.last)
        while n > 0:
            if self.last is not None and t - self.last > RTO:
                self.cwnd, self.round_start, self.sent = IW, None, 0
            if self.round_start is None:
                self.round_start = t
            while t >= self.round_start + RTT:
                # The previous round is acknowledged: the window grows by what it carried.
                self.round_start += RTT
                self.cwnd += self.sent
                self.sent = 0
            room = self.cwnd - self.sent
            if room <= 0:
                t = self.round_start + RTT
                continue
            k = min(room, n)
            out.append((t, k))
            self.sent += k
            self.last = t
            n -= k
        return out


async def pump(reader, writer, first_extra=0.0, cc=None):
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
    last_due = 0.0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            now = loop.time()
            if cc is None:
                # Later data never overtakes the first (delayed by the handshake).
                due = max(now + DELAY + first_extra, last_due)
                first_extra = 0.0
                last_due = due
                queue.put_nowait((due, data))
            else:
                at = 0
                for send, k in cc.schedule(now, len(data)):
                    queue.put_nowait((send + DELAY, data[at:at + k]))
                    at += k
    except OSError:
        pass
    queue.put_nowait((loop.time() + DELAY, None))
    try:
        await task
    except OSError:
        pass


async def handle(creader, cwriter):
    ureader, uwriter = await asyncio.open_connection(UP, UPORT)
    await asyncio.gather(
        pump(creader, uwriter, first_extra=2 * DELAY if TCP else 0.0),
        pump(ureader, cwriter, cc=SlowStart() if TCP else None),
    )
    cwriter.close()
    uwriter.close()


async def main():
    server = await asyncio.start_server(handle, LISTEN, LPORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
