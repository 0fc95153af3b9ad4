"""Shared load generation for the transport benchmarks: pre-signed HTTP/1.1 on loopback.

wrk cannot drive a Writ receiver (each request needs its own RFC 9421 signature and
nonce), so ``run_load`` runs a small asyncio HTTP/1.1 keep-alive client in its own
process. It signs every request (``writ.http.sign_request``) before the timed phase, then
fires them open-loop at a fixed rate, latency counted from each request's due time (no
coordinated omission), or closed-loop for the maximum throughput. A signature lives at
most 60 s, so long runs go in phases, each signed just before it runs; ``chain_every``
mints a fresh root writ every N requests. Also: server processes, /proc readers, stats.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from writ import PrivateKey, grant
from writ.http import SignedRequestParts, format_chain_header, sign_request

__all__ = ["LoadJob", "LoadResult", "Signing", "cpu_seconds", "free_port", "percentile",
           "rss_kib", "run_load", "server", "set_affinity", "stop_on_signals", "summary",
           "worker_pids"]

ISS = "https://bench.writ.example"
TOOLS: dict[str, Any] = {"refund_order": {
    "id": {"constraint_type": "one_of", "values": ["42"]},
    "amount": {"constraint_type": "range", "min": 0, "max": 1000},
    "currency": {"constraint_type": "one_of", "values": ["USD", "EUR"]}}}
PATH = "/orders/42/refund"
ROUTES = {"POST /orders/{id}/refund": "refund_order"}
BODY = b'{"amount":250,"currency":"USD"}'


@dataclass(frozen=True, slots=True, kw_only=True)
class Signing:
    """What the agent signs with: its key, the principal that grants it, the audience."""

    principal_jwk: dict[str, str]
    agent_jwk: dict[str, str]
    origin: str  # the receiver's configured public origin: the signed @target-uri's origin
    budget: dict[str, Any] | None = None  # a writ_budget claim for every minted root
    chain_every: int = 0  # mint a fresh root writ every N requests (0: one chain per run)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadJob:
    """One load run: where, how, how long; runs in its own process (``run_load``)."""

    port: int
    host_header: str
    mode: str  # "open" or "closed"
    seconds: float
    rate: float = 0.0  # requests per second, open loop only
    connections: int = 16
    signing: Signing | None = None  # None: plain unsigned requests (the bare baseline)
    phase_seconds: float = 20.0
    cpus: tuple[int, ...] = ()  # pin the generator to these CPUs (os.sched_setaffinity)
    warmup: int = 200  # untimed requests first (connections opened, caches warm)
    reuse: int = 0  # reconnect after this many requests on a connection (0: never)


@dataclass(slots=True, kw_only=True)
class LoadResult:
    """Per-request latencies (ns), status counts, errors, the timed span and generator CPU."""

    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    chains: int = 0

    @property
    def throughput(self) -> float:
        """Completed requests per second over the timed span."""
        return len(self.latencies_ns) / self.elapsed_s if self.elapsed_s else 0.0


# --- building requests ----------------------------------------------------------------


class _Requests:
    """Raw HTTP/1.1 requests: unsigned, or each signed with a fresh nonce before use."""

    def __init__(self, job: LoadJob) -> None:
        self.job = job
        self.head = (f"POST {PATH} HTTP/1.1\r\nhost: {job.host_header}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n")
        self.signing = job.signing
        self.chain_header = ""
        self.chains = self.count = 0
        if self.signing is not None:
            self.principal = PrivateKey.from_jwk(self.signing.principal_jwk)
            self.agent = PrivateKey.from_jwk(self.signing.agent_jwk)
            self._fresh_chain()

    def _fresh_chain(self) -> None:
        from writ import Budget

        assert self.signing is not None
        budget = Budget.parse(self.signing.budget) if self.signing.budget else None
        root = grant(key=self.principal, iss=ISS, holder=self.agent.public_key, tools=TOOLS,
                     now=int(time.time()), ttl=3600, budget=budget)
        self.chain_header = format_chain_header([root])
        self.chains += 1

    def batch(self, n: int) -> list[bytes]:
        """``n`` requests ready to send (signed now when signing is on)."""
        if self.signing is None:
            return [(self.head + "\r\n").encode() + BODY] * n
        return [self._signed() for _ in range(n)]

    def _signed(self) -> bytes:
        assert self.signing is not None
        every = self.signing.chain_every
        if every and self.count and self.count % every == 0:
            self._fresh_chain()
        self.count += 1
        parts = SignedRequestParts(method="POST", target_uri=self.signing.origin + PATH,
                                   headers=[("content-type", "application/json")], body=BODY)
        created = int(time.time())
        headers = sign_request(parts, key=self.agent, chain_header=self.chain_header,
                               created=created, expires=created + 60,
                               nonce=secrets.token_urlsafe(12))
        extra = "".join(f"{k.lower()}: {v}\r\n" for k, v in headers.items())
        return (self.head + extra + "\r\n").encode() + BODY


# --- the HTTP/1.1 client ----------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass  # trailer fields: none expected, read past them
                break
            await reader.readexactly(size + 2)
    elif length:
        await reader.readexactly(length)
    return status


class _Connection:
    """One keep-alive connection; reopened if the server closes it, or after ``reuse``
    requests (so a multi-worker server's accept() spreads connections again over time)."""

    def __init__(self, port: int, reuse: int = 0) -> None:
        self.port = port
        self.reuse = reuse
        self.used = 0
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> None:
        """Connect now, if not connected."""
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            self.used = 0

    async def exchange(self, request: bytes) -> int:
        """Send one request, read its response: the status, or -1 on a transport error."""
        try:
            await self.open()
            assert self.streams is not None
            reader, writer = self.streams
            writer.write(request)
            status = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            await self.close()
            return -1
        self.used += 1
        if self.reuse and self.used >= self.reuse:
            await self.close()
        return status

    async def close(self) -> None:
        """Close the socket, if open."""
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _closed_loop(conns: list[_Connection], requests: list[bytes], seconds: float,
                       result: LoadResult) -> None:
    """Each connection sends back to back until the time or the requests run out."""
    feed = iter(requests)
    deadline = time.perf_counter() + seconds

    async def worker(conn: _Connection) -> None:
        clock = time.perf_counter_ns
        for request in feed:
            if time.perf_counter() >= deadline:
                return
            started = clock()
            status = await conn.exchange(request)
            _record(result, status, clock() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed_s += time.perf_counter() - began


async def _open_loop(conns: list[_Connection], requests: list[bytes], rate: float,
                     result: LoadResult) -> None:
    """Request i is due at t0 + i/rate; its latency counts from that due time."""
    queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    async def worker(conn: _Connection) -> None:
        while (item := await queue.get()) is not None:
            due, request = item
            status = await conn.exchange(request)
            _record(result, status, time.perf_counter_ns() - due)

    workers = [asyncio.create_task(worker(c)) for c in conns]
    t0 = time.perf_counter_ns()
    step = 1e9 / rate
    for i, request in enumerate(requests):
        due = t0 + int(i * step)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    result.elapsed_s += (time.perf_counter_ns() - t0) / 1e9


def _record(result: LoadResult, status: int, latency_ns: int) -> None:
    if status < 0:
        result.errors += 1
        return
    result.statuses[status] += 1
    result.latencies_ns.append(latency_ns)


async def _drive(job: LoadJob) -> LoadResult:
    """Warm up, then run the phases; signing for each phase happens before it starts."""
    source = _Requests(job)
    conns = [_Connection(job.port, job.reuse) for _ in range(job.connections)]
    for conn in conns:
        # One at a time: opened all at once, a multi-worker server's first awake worker
        # would accept them all in one go and keep them.
        await conn.open()
        await asyncio.sleep(0.002)
    warm = LoadResult()
    await _closed_loop(conns, source.batch(job.warmup), 30.0, warm)
    result = LoadResult()
    left = job.seconds
    while left > 1e-3:
        span = min(left, job.phase_seconds)
        if job.mode == "open":
            await _open_loop(conns, source.batch(max(1, round(span * job.rate))), job.rate, result)
        else:
            # Enough requests for a generous upper bound on throughput; unused ones are dropped.
            cap = int(span * (3000 if job.signing else 20000))
            await _closed_loop(conns, source.batch(cap), span, result)
        left -= span
    for conn in conns:
        await conn.close()
    result.chains = source.chains
    return result


def _child(job: LoadJob, pipe: Any) -> None:
    if job.cpus:
        os.sched_setaffinity(0, set(job.cpus))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    started = time.process_time()
    result = asyncio.run(_drive(job))
    result.cpu_s = time.process_time() - started
    pipe.send(result)
    pipe.close()


def run_load(job: LoadJob, *, timeout: float | None = None,
             on_tick: Callable[[], None] | None = None, tick: float = 5.0) -> LoadResult:
    """Run ``job`` in its own process (so it never shares the benchmark's interpreter);
    ``on_tick`` runs here every ``tick`` seconds while it does (to sample the servers)."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, child), daemon=True)
    process.start()
    child.close()
    limit = timeout if timeout is not None else job.seconds * 3 + 120
    deadline = time.monotonic() + limit
    try:
        while not parent.poll(tick if on_tick else limit):
            if not process.is_alive() and not parent.poll(0):
                raise RuntimeError(f"the load generator exited with {process.exitcode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the load generator did not finish in {limit:.0f} s")
            if on_tick is not None:
                on_tick()
        result: LoadResult = parent.recv()
        return result
    finally:
        if process.is_alive():
            process.terminate()
        process.join(5)


# --- processes, /proc, statistics -----------------------------------------------------


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM unwind the benchmark (so every ``server`` block stops its process),
    even when started in the background, where SIGINT may arrive ignored."""
    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: Sequence[str], *, ready: str, log_path: str, cpus: Sequence[int] = (),
           timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; ready when ``GET ready`` answers. SIGTERM, then kill."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(list(argv), stdout=log, stderr=log, start_new_session=True)
    try:
        if cpus:
            set_affinity([process.pid], cpus)  # before it starts any thread or worker
        _wait_ready(process, ready, timeout, log_path)
        yield process
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float, log: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log, errors="replace") as handle:
                raise RuntimeError(f"{process.args!r} exited {process.returncode}:\n"
                                   f"{handle.read()[-3000:]}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # not listening yet: poll again
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the whole session: uvicorn's workers too
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def worker_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's supervisor and workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return out


def set_affinity(pids: Sequence[int], cpus: Sequence[int]) -> None:
    """Pin every thread of these running processes to ``cpus`` (all of this machine's: unpin)."""
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, set(cpus))
            except OSError:
                continue  # the thread ended meanwhile


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/PID/status), in KiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time consumed so far by these processes (/proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            continue
    return total / tick


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def summary(result: LoadResult) -> dict[str, Any]:
    """Throughput, latency percentiles in ms, statuses and errors: JSON-ready."""
    values = sorted(result.latencies_ns)
    ms = {f"p{label}_ms": round(percentile(values, q) / 1e6, 3)
          for label, q in (("50", 0.5), ("90", 0.9), ("99", 0.99), ("999", 0.999))}
    return {"requests": len(values), "throughput": round(result.throughput, 1), **ms,
            "mean_ms": round(statistics.fmean(values) / 1e6, 3) if values else None,
            "max_ms": round(values[-1] / 1e6, 3) if values else None,
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
            "errors": result.errors, "generator_cpu_s": round(result.cpu_s, 2),
            "elapsed_s": round(result.elapsed_s, 2), "chains": result.chains}
