"""The scale run behind benches/scale.sh: fills one store with synthetic articles through a running
`dedupd serve` and measures it at checkpoints of the number stored.

At each checkpoint: the ingest rate and the server's CPU per article over the last stream batch (50,000
articles, or half the checkpoint for small ones) ending there; the server's resident memory (VmRSS) and the data directory's bytes, or
Redis's `used_memory` beyond what it held before the run minus the articles' id/url/source/title
strings, and Redis's CPU (`INFO cpu`) and scripts (round trips) per article over that batch; unary `Ingest`
at 1,000/s offered for 10 s, with the client's p99 and the server's own (from its
`dedupd_request_seconds` histogram, read before and after); and for the embedded store, how long a
restarted server takes to answer its health check. Prints a Markdown table, writes it with the raw
figures as JSON, and plots them against the number stored.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

BATCH = 500_000  # articles a `dedupd bench` run builds in memory at most
MEASURED = 50_000  # articles of the measured stream batch before a checkpoint
UNARY_RATE = 1000
UNARY_SECONDS = 10


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port != 6379:
            return port


class Server:
    """A `dedupd serve` on free ports, restartable on the same store."""

    def __init__(self, dedupd, args, log):
        self.dedupd, self.args, self.log = dedupd, args, log
        self.proc = None

    def start(self):
        grpc, http = free_port(), free_port()
        self.url = f"http://127.0.0.1:{grpc}"
        self.metrics = f"http://127.0.0.1:{http}/metrics"
        cmd = [self.dedupd, "serve", "--listen", f"127.0.0.1:{grpc}", "--http-listen", f"127.0.0.1:{http}"]
        started = time.monotonic()
        self.proc = subprocess.Popen(cmd + self.args, stdout=self.log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < 600:
            if self.proc.poll() is not None:
                sys.exit(f"error: dedupd serve exited with {self.proc.returncode} (see its log)")
            health = subprocess.run([self.dedupd, "health", "--server", self.url], capture_output=True)
            if health.returncode == 0:
                return time.monotonic() - started
            time.sleep(0.05)
        sys.exit("error: dedupd serve did not answer within 10 minutes")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self):
        """User and system CPU the server has used."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def ingest_histogram(self):
        """Cumulative counts of unary `Ingest` by bucket bound (seconds)."""
        text = urllib.request.urlopen(self.metrics, timeout=30).read().decode()
        buckets = {}
        for line in text.splitlines():
            if line.startswith("dedupd_request_seconds_bucket") and 'method="Ingest"' in line:
                bound = line.split('le="')[1].split('"')[0]
                buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
        return buckets


def server_p99(before, after):
    """The 99th percentile of what was observed in between, interpolated within its bucket as
    Prometheus's `histogram_quantile` does."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    if not counts or counts[-1][1] == 0:
        return None
    rank = 0.99 * counts[-1][1]
    lower_bound = lower_count = 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(cumulative - lower_count, 1e-9)
        lower_bound, lower_count = bound, cumulative
    return None


class Redis:
    def __init__(self, work):
        self.port = free_port()
        subprocess.run(["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                        "--dir", work, "--daemonize", "yes", "--logfile", os.path.join(work, "redis.log")],
                       check=True)
        for _ in range(100):
            if self.cli("ping").strip() == "PONG":
                break
            time.sleep(0.05)
        self.baseline = self.used_memory()

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout

    def info(self, section):
        fields = {}
        for line in self.cli("info", section).splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        return fields

    def used_memory(self):
        return int(self.info("memory")["used_memory"])

    def scripts_and_cpu(self):
        """(scripts run, Redis's CPU seconds): an ingest's store calls are scripts, one round trip
        each; the CPU is the whole process's, network included."""
        scripts = 0
        for key, value in self.info("commandstats").items():
            if key in ("cmdstat_evalsha", "cmdstat_eval"):
                scripts += int(dict(part.split("=") for part in value.split(","))["calls"])
        cpu = self.info("cpu")
        return scripts, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])

    def shutdown(self):
        self.cli("shutdown", "nosave")


def bench(dedupd, server, start, count, *extra):
    out = subprocess.run(
        [dedupd, "bench", "--server", server.url, "--synthetic", str(count), "--start", str(start),
         "--id-prefix", "scale-", "--json", *extra],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: dedupd bench failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dedupd", required=True)
    parser.add_argument("--store", choices=["embedded", "redis"], required=True)
    parser.add_argument("--checkpoints", required=True, help="comma-separated numbers of articles stored")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    checkpoints = sorted(int(n) for n in args.checkpoints.split(","))
    work = os.path.join(args.out, f"{args.store}-store")
    os.makedirs(work, exist_ok=True)
    log = open(os.path.join(args.out, f"serve-{args.store}.log"), "w")
    redis = None
    if args.store == "redis":
        redis = Redis(work)
        server = Server(args.dedupd, ["--store", f"redis://127.0.0.1:{redis.port}"], log)
    else:
        subprocess.run(["rm", "-rf", os.path.join(work, "data")], check=True)
        server = Server(args.dedupd, ["--data-dir", os.path.join(work, "data")], log)
    server.start()
    empty_rss = server.rss_bytes()
    print(f"empty server: {empty_rss / 2**20:.1f} MiB resident", flush=True)
    stored = metadata = 0
    rows = []
    try:
        for checkpoint in checkpoints:
            measured = min(MEASURED, checkpoint // 2)
            while stored < checkpoint - measured:
                batch = min(BATCH, checkpoint - measured - stored)
                result = bench(args.dedupd, server, stored, batch)
                stored += result["ok"]
                metadata += result["metadata_bytes"]
                print(f"  {stored:>10,} stored  ({result['articles_per_second']:,.0f} articles/s)", flush=True)
            row = {"stored": checkpoint}
            if redis:
                scripts_before, cpu_before_redis = redis.scripts_and_cpu()
            cpu_before = server.cpu_seconds()
            result = bench(args.dedupd, server, stored, checkpoint - stored)
            stored += result["ok"]
            metadata += result["metadata_bytes"]
            row["stream_articles_per_second"] = result["articles_per_second"]
            row["server_cpu_us_per_article"] = (server.cpu_seconds() - cpu_before) * 1e6 / result["ok"]
            if redis:
                scripts, cpu_redis = redis.scripts_and_cpu()
                row["redis_cpu_us_per_article"] = (cpu_redis - cpu_before_redis) * 1e6 / result["ok"]
                row["redis_scripts_per_article"] = (scripts - scripts_before) / result["ok"]
                row["redis_bytes_per_article"] = (redis.used_memory() - redis.baseline - metadata) / stored
            else:
                row["rss_bytes_per_article"] = server.rss_bytes() / stored
                row["rss_bytes"] = server.rss_bytes()
                row["empty_rss_bytes"] = empty_rss
                data = os.path.join(work, "data")
                row["disk_bytes_per_article"] = sum(
                    os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)) / stored
            before = server.ingest_histogram()
            unary = bench(args.dedupd, server, stored, UNARY_RATE * UNARY_SECONDS, "--mode", "unary",
                          "--rate", str(UNARY_RATE), "--duration", f"{UNARY_SECONDS}s", "--concurrency", "8")
            stored += unary["ok"]
            metadata += unary["metadata_bytes"]
            row["unary_client_p99_ms"] = unary["latency_us"]["p99"] / 1000
            p99 = server_p99(before, server.ingest_histogram())
            row["unary_server_p99_ms"] = p99 * 1000 if p99 is not None else None
            row["unary_errors"] = sum(unary["errors"].values())
            if not redis:
                server.stop()
                row["open_seconds"] = server.start()
                row["rss_after_open_bytes_per_article"] = server.rss_bytes() / stored
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.stop()
        if redis:
            redis.shutdown()
    with open(os.path.join(args.out, f"scale-{args.store}.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print_table(args.store, rows)
    plot(args.store, rows, os.path.join(args.out, f"scale-{args.store}.png"))


def print_table(store, rows):
    def fmt(value, digits=0):
        return "–" if value is None else f"{value:,.{digits}f}"

    if store == "redis":
        print("| stored | Redis bytes/article | Redis CPU µs/article | scripts (round trips)/article | IngestStream articles/s "
              "| dedupd CPU µs/article | unary p99 server / client (ms) |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['stored']:,} | {fmt(r['redis_bytes_per_article'])} | {fmt(r['redis_cpu_us_per_article'], 1)} "
                  f"| {fmt(r['redis_scripts_per_article'], 2)} | {fmt(r['stream_articles_per_second'])} "
                  f"| {fmt(r['server_cpu_us_per_article'])} "
                  f"| {fmt(r['unary_server_p99_ms'], 2)} / {fmt(r['unary_client_p99_ms'], 2)} |")
    else:
        print("| stored | RSS bytes/article | disk bytes/article | IngestStream articles/s | server CPU µs/article "
              "| unary p99 server / client (ms) | open (s) |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['stored']:,} | {fmt(r['rss_bytes_per_article'])} | {fmt(r['disk_bytes_per_article'])} "
                  f"| {fmt(r['stream_articles_per_second'])} | {fmt(r['server_cpu_us_per_article'])} "
                  f"| {fmt(r['unary_server_p99_ms'], 2)} / {fmt(r['unary_client_p99_ms'], 2)} "
                  f"| {fmt(r['open_seconds'], 2)} |")


def plot(store, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stored = [r["stored"] for r in rows]
    if store == "redis":
        memory, memory_label, memory_target = ([r["redis_bytes_per_article"] for r in rows],
                                               "Redis bytes per article", 400)
    else:
        memory, memory_label, memory_target = ([r["rss_bytes_per_article"] for r in rows],
                                               "resident bytes per article", 500)
    panels = [
        (memory, memory_label, memory_target),
        ([r["stream_articles_per_second"] for r in rows], "IngestStream articles/s", None),
        ([r["unary_server_p99_ms"] for r in rows], "unary Ingest p99 at 1,000/s (ms, server)", 2),
    ]
    if store == "embedded":
        panels.append(([r["open_seconds"] for r in rows], "open (s)", 3))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for axis, (values, label, target) in zip(axes, panels):
        axis.plot(stored, values, marker="o")
        if target is not None:
            axis.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target}")
            axis.legend(fontsize=8)
        axis.set_xscale("log")
        axis.set_xlabel("articles stored")
        axis.set_title(label, fontsize=10)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    fig.suptitle(f"dedupd scale run, {store} store", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
