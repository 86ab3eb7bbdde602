"""The verifier's load generator: does it hold its rate, and what does it cost?

Starts a minimal HTTP/1.1 server in a child process on 127.0.0.1 (so its CPU is not counted),
then runs the generator in this process at ``--rate`` requests/s for ``--duration`` seconds, once
per connection mode, and reports:

- the achieved rate: requests actually written per second over the run, against the target;
- how late requests were written against their intended time (p50, p99, max);
- latency from the intended time (p50, p99);
- the generator's CPU (this process: user + system) as a fraction of one core.

    .venv/bin/python bench/bench_generator.py [--rate 1000] [--duration 10] [--modes keepalive,close]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import subprocess
import sys
import time

from hitless.clock import RealClock
from hitless.verify.generator import LoadGenerator, LoadOptions

SERVER = r"""
import asyncio, sys
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
class H(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            if b"onnection: close" in head:
                self.t.write(CLOSE); self.t.close(); return
            self.t.write(OK)
async def main():
    server = await asyncio.get_running_loop().create_server(H, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_mode(port: int, rate: float, duration: float, mode: str) -> dict[str, float]:
    clock = RealClock()
    gen = LoadGenerator(
        LoadOptions(host="127.0.0.1", port=port, rate=rate, connections=mode),  # type: ignore[arg-type]
        clock,
    )
    gc.collect()
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await gen.run(duration=duration)
    await gen.drain(timeout=10)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    assert gen.started is not None
    results = gen.results
    sent = [r.sent for r in results if r.sent is not None]
    # Achieved rate: requests written during the run, over the run's length.
    written = sum(1 for t in sent if t <= gen.started + duration)
    lag = [(r.sent - r.intended) * 1000 for r in results if r.sent is not None]
    latency = [r.latency * 1000 for r in results if r.latency is not None and not r.failed]
    return {
        "requests": len(results),
        "failed": sum(r.failed for r in results),
        "achieved_rate": written / duration,
        "rate_error_pct": (written / duration - rate) / rate * 100,
        "lag_p50_ms": percentile(lag, 50),
        "lag_p99_ms": percentile(lag, 99),
        "lag_max_ms": max(lag) if lag else float("nan"),
        "latency_p50_ms": percentile(latency, 50),
        "latency_p99_ms": percentile(latency, 99),
        "cpu_core_fraction": (cpu1 - cpu0) / (wall1 - wall0),
        "cpu_us_per_request": (cpu1 - cpu0) / max(len(results), 1) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--modes", default="keepalive,close,mixed")
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(f"target {args.rate:.0f} requests/s for {args.duration:.0f} s, server on 127.0.0.1:{port}")
        header = (
            f"{'mode':<10} {'requests':>8} {'failed':>6} {'achieved/s':>10} {'error':>7} "
            f"{'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'lat p50':>8} {'lat p99':>8} "
            f"{'CPU':>6} {'CPU/req':>8}"
        )
        print(header)
        for mode in args.modes.split(","):
            m = asyncio.run(run_mode(port, args.rate, args.duration, mode))
            print(
                f"{mode:<10} {m['requests']:>8.0f} {m['failed']:>6.0f} {m['achieved_rate']:>10.1f} "
                f"{m['rate_error_pct']:>+6.2f}% {m['lag_p50_ms']:>6.2f}ms {m['lag_p99_ms']:>6.2f}ms "
                f"{m['lag_max_ms']:>6.1f}ms {m['latency_p50_ms']:>6.2f}ms {m['latency_p99_ms']:>6.2f}ms "
                f"{m['cpu_core_fraction'] * 100:>5.1f}% {m['cpu_us_per_request']:>6.0f}µs"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
