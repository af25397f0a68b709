#!/usr/bin/env python3
"""Opens N idle MySQL client connections to a server (shardcat), logs each in
(mysql_native_password, with auth switch), holds them, then pings every one
and reports the server process's memory.

    scripts/idle_conns.py --port 6033 --user app --password app \
        --count 10000 --pid <shardcat pid> [--hold 5] [--timeout 180]

Used by scripts/bench.sh --idle (scripts/bench-idle.sh). Only the standard
library; bounded: gives up after --timeout seconds overall. Prints
`key=value` lines on stdout (read by bench.sh) and a summary on stderr.
"""

import argparse
import asyncio
import hashlib
import resource
import struct
import sys
import time

CLIENT_LONG_PASSWORD = 0x1
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
COM_PING = 0x0E


def native_scramble(password: bytes, nonce: bytes) -> bytes:
    if not password:
        return b""
    h1 = hashlib.sha1(password).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(nonce + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


async def read_packet(reader):
    head = await reader.readexactly(4)
    length = head[0] | (head[1] << 8) | (head[2] << 16)
    return head[3], await reader.readexactly(length)


def write_packet(writer, seq, payload):
    writer.write(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def parse_greeting(p):
    if p[0] != 10:
        raise RuntimeError(f"unexpected greeting (protocol {p[0]}): {p[:60]!r}")
    i = p.index(b"\0", 1) + 1  # server version
    i += 4  # connection id
    nonce = p[i:i + 8]
    i += 8 + 1
    caps = struct.unpack_from("<H", p, i)[0]
    i += 2 + 1 + 2
    caps |= struct.unpack_from("<H", p, i)[0] << 16
    i += 2
    auth_len = p[i]
    i += 1 + 10
    n2 = max(13, auth_len - 8)
    nonce += p[i:i + n2].rstrip(b"\0")[:12]
    i += n2
    plugin = p[i:p.index(b"\0", i)] if b"\0" in p[i:] else p[i:]
    return caps, nonce, plugin.decode()


async def login(host, port, user, password):
    reader, writer = await asyncio.open_connection(host, port)
    seq, p = await read_packet(reader)
    _caps, nonce, _plugin = parse_greeting(p)
    caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
    auth = native_scramble(password, nonce)
    resp = (struct.pack("<IIB", caps, 16 << 20, 45) + b"\0" * 23
            + user + b"\0" + bytes([len(auth)]) + auth + b"mysql_native_password\0")
    write_packet(writer, seq + 1, resp)
    await writer.drain()
    seq, p = await read_packet(reader)
    if p[0] == 0xFE:  # auth switch request
        end = p.index(b"\0", 1)
        plugin = p[1:end].decode()
        if plugin != "mysql_native_password":
            raise RuntimeError(f"auth switch to unsupported plugin {plugin}")
        nonce = p[end + 1:].rstrip(b"\0")
        write_packet(writer, seq + 1, native_scramble(password, nonce))
        await writer.drain()
        seq, p = await read_packet(reader)
    if p[0] != 0x00:
        raise RuntimeError(f"login failed: {p[:80]!r}")
    return reader, writer


async def ping(conn):
    reader, writer = conn
    write_packet(writer, 0, bytes([COM_PING]))
    await writer.drain()
    _, p = await read_packet(reader)
    return p[0] == 0x00


def mem_kib(pid):
    out = {}
    try:
        f = open(f"/proc/{pid}/status")
    except FileNotFoundError:
        raise SystemExit(f"process {pid} is gone (it exited or was killed)")
    with f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


async def main_async(a):
    sem = asyncio.Semaphore(a.concurrency)
    conns, errors = [], []

    async def one():
        async with sem:
            try:
                conns.append(await asyncio.wait_for(
                    login(a.host, a.port, a.user.encode(), a.password.encode()), 30))
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e))

    before = mem_kib(a.pid)
    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(a.count)))
    connect_s = time.monotonic() - t0
    await asyncio.sleep(a.hold)
    held = mem_kib(a.pid)
    t1 = time.monotonic()
    results = await asyncio.gather(*(asyncio.wait_for(ping(c), 30) for c in conns),
                                   return_exceptions=True)
    ping_s = time.monotonic() - t1
    alive = sum(1 for r in results if r is True)
    after_ping = mem_kib(a.pid)
    for _, w in conns:
        w.close()
    print(f"requested={a.count}")
    print(f"connected={len(conns)}")
    print(f"failed={len(errors)}")
    print(f"alive_after_hold={alive}")
    print(f"connect_seconds={connect_s:.1f}")
    print(f"ping_seconds={ping_s:.2f}")
    print(f"rss_before_kib={before['VmRSS']}")
    print(f"rss_held_kib={held['VmRSS']}")
    print(f"rss_after_ping_kib={after_ping['VmRSS']}")
    print(f"hwm_kib={after_ping['VmHWM']}")
    if errors:
        print(f"first_error={errors[0]}")
    per = (after_ping["VmRSS"] - before["VmRSS"]) * 1024 / max(1, alive)
    print(f"{len(conns)} connected ({len(errors)} failed) in {connect_s:.1f}s, {alive} answered "
          f"COM_PING after {a.hold}s; RSS {before['VmRSS'] // 1024} MiB -> "
          f"{after_ping['VmRSS'] // 1024} MiB (~{per:.0f} bytes per connection), "
          f"peak {after_ping['VmHWM'] // 1024} MiB", file=sys.stderr)
    return 0 if alive == a.count else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="app")
    ap.add_argument("--password", default="app")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--pid", type=int, required=True, help="server process whose memory is read")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except ValueError:
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < want:
            print(f"open-file limit {soft} < {want}: raise `ulimit -n`", file=sys.stderr)
            return 2
    try:
        return asyncio.run(asyncio.wait_for(main_async(a), a.timeout))
    except (asyncio.TimeoutError, TimeoutError):
        print(f"timed out after {a.timeout}s", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
