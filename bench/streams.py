#!/usr/bin/env python3
"""Scale test client: holds N slow chat streams open at once against a gateway
and reports what the gateway process paid for them (python3 stdlib only).

  streams.py --port P --streams N --model M --pid GATEWAY_PID [--timeout S]

Opens N connections (in waves, so the listen backlog is not overrun), posts a
streamed chat request on each, reads every stream to its end ([DONE]) and
counts its data events. Meanwhile it samples the gateway's RSS and CPU time.
Prints one line: RESULT streams= ok= failed= chunks= open_s= total_s=
rss_base_kb= rss_peak_kb= cpu_s= cpu_us_per_chunk=
"""
import argparse
import asyncio
import json
import os
import resource
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--wave", type=int, default=250)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    body = json.dumps({
        "model": args.model, "stream": True, "max_tokens": 64,
        "messages": [{"role": "user", "content": "Stream slowly, please."}],
    }, separators=(",", ":")).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Authorization: Bearer bench-key-0001\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    stats = {"ok": 0, "failed": 0, "chunks": 0, "opened": 0}
    rss_base = proc_rss_kb(args.pid)
    cpu_base = proc_cpu_s(args.pid)
    peak = [rss_base]
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], proc_rss_kb(args.pid))
            except OSError:
                return
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    async def one():
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", args.port, limit=1 << 20)
            writer.write(request)
            await writer.drain()
            stats["opened"] += 1
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                stats["failed"] += 1
                return
            chunks, tail = 0, b""
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                chunks += data.count(b"data: ")
                tail = (tail + data)[-64:]
                if b"[DONE]" in tail:
                    break
            stats["chunks"] += chunks
            stats["ok" if b"[DONE]" in tail else "failed"] += 1
        except Exception:
            stats["failed"] += 1
        finally:
            if writer is not None:
                writer.close()

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    tasks = []
    for i in range(0, args.streams, args.wave):
        for _ in range(min(args.wave, args.streams - i)):
            tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(0.05)  # let the wave connect before the next
    while stats["opened"] + stats["failed"] < args.streams and time.monotonic() - started < args.timeout:
        await asyncio.sleep(0.05)
    open_s = time.monotonic() - started
    done, pending = await asyncio.wait(tasks, timeout=max(1.0, args.timeout - open_s))
    for t in pending:
        t.cancel()
        stats["failed"] += 1
    total_s = time.monotonic() - started
    cpu = proc_cpu_s(args.pid) - cpu_base
    stop.set()
    await sampler
    per_chunk = cpu * 1e6 / stats["chunks"] if stats["chunks"] else 0.0
    print(f"RESULT streams={args.streams} ok={stats['ok']} failed={stats['failed']} chunks={stats['chunks']} "
          f"open_s={open_s:.1f} total_s={total_s:.1f} rss_base_kb={rss_base} rss_peak_kb={peak[0]} "
          f"cpu_s={cpu:.2f} cpu_us_per_chunk={per_chunk:.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
