#!/usr/bin/env python3
"""The peers dedupd is compared with, run on any set with a streaming protocol: each article in file
order is queried against everything before it, then inserted. Run by benches/accuracy.sh and
benches/peers/run.sh, which install the packages into a venv under target/.

    peers.py run PEER SET --placements OUT [--redis-port P]   one peer: prints one JSON line

SET is a labelled directory (its articles.jsonl) or a JSONL file of articles. OUT gets one
{"id", "cluster_id", "canonical_id"} a line, the peer's final clustering, which
`dedupd eval SET --score-placements OUT` scores by the same code as dedupd's own runs.

Peers:
- minhash-w5-t0.5:       datasketch MinHashLSH, word 5-shingles, 128 permutations, threshold 0.5, in memory;
- minhash-w5-t0.5-redis: the same with datasketch's Redis storage_config (needs --redis-port);
- minhash-w3-t0.3:       datasketch MinHashLSH, word 3-shingles, 128 permutations, threshold 0.3, in memory;
- simhash-k3, simhash-k10: the `simhash` package's SimhashIndex (k = 3, k = 10) over its default features.

A query's candidates are the article's matches: the article joins (unites) their clusters, and a
cluster's canonical is its earliest-published member (ties: the first ingested). Throughput is the
ingest loop alone (features, query, insert), one thread, articles read before the clock starts.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

WORD = re.compile(r"\w+")


def shingles(body: str, n: int) -> set[bytes]:
    words = WORD.findall(body.lower())
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


class Clusters:
    """Union-find over article ids; the root of a set is not its canonical (see placements())."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.rank: dict[str, tuple] = {}

    def add(self, key: str, rank: tuple):
        self.parent[key] = key
        self.rank[key] = rank

    def find(self, key: str) -> str:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def placements(self) -> list[dict]:
        best: dict[str, str] = {}
        for key in self.parent:
            root = self.find(key)
            if root not in best or self.rank[key] < self.rank[best[root]]:
                best[root] = key
        return [{"id": k, "cluster_id": self.find(k), "canonical_id": best[self.find(k)]} for k in self.parent]


def minhash_peer(words: int, threshold: float, storage_config=None):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128, storage_config=storage_config)

    def step(key: str, body: str) -> list[str]:
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles(body, words)))
        found = lsh.query(m)
        lsh.insert(key, m)
        return found

    return step


def simhash_peer(k: int):
    from simhash import Simhash, SimhashIndex

    # the index warns on every insert into a bucket of 200 or more
    logging.getLogger("simhash").setLevel(logging.ERROR)
    index = SimhashIndex([], k=k)

    def step(key: str, body: str) -> list[str]:
        h = Simhash(body)
        found = index.get_near_dups(h)
        index.add(key, h)
        return found

    return step


PEERS = {
    "minhash-w5-t0.5": "datasketch MinHashLSH, word 5-shingles, threshold 0.5",
    "minhash-w5-t0.5-redis": "datasketch MinHashLSH, word 5-shingles, threshold 0.5, Redis storage",
    "minhash-w3-t0.3": "datasketch MinHashLSH, word 3-shingles, threshold 0.3",
    "simhash-k3": "simhash SimhashIndex, k = 3",
    "simhash-k10": "simhash SimhashIndex, k = 10",
}


def make_step(peer: str, redis_port: int | None):
    if peer == "minhash-w5-t0.5":
        return minhash_peer(5, 0.5)
    if peer == "minhash-w5-t0.5-redis":
        if redis_port is None:
            sys.exit("error: minhash-w5-t0.5-redis needs --redis-port")
        config = {"type": "redis", "basename": f"peers-{time.time_ns()}".encode(),
                  "redis": {"host": "127.0.0.1", "port": redis_port}}
        return minhash_peer(5, 0.5, config)
    if peer == "minhash-w3-t0.3":
        return minhash_peer(3, 0.3)
    if peer == "simhash-k3":
        return simhash_peer(3)
    if peer == "simhash-k10":
        return simhash_peer(10)
    sys.exit(f"error: unknown peer {peer}")


def read_articles(path: Path) -> list[dict]:
    file = path / "articles.jsonl" if path.is_dir() else path
    with open(file, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def run(peer: str, path: Path, placements: Path, redis_port: int | None) -> dict:
    articles = read_articles(path)
    step = make_step(peer, redis_port)
    clusters = Clusters()
    started = time.perf_counter()
    for order, article in enumerate(articles):
        key = article["id"]
        clusters.add(key, (article.get("published_at") or "", order, key))
        for other in step(key, article["body"]):
            clusters.union(other, key)
    seconds = time.perf_counter() - started
    with open(placements, "w", encoding="utf-8") as out:
        for placement in clusters.placements():
            out.write(json.dumps(placement) + "\n")
    return {"system": PEERS[peer], "peer": peer, "articles": len(articles), "seconds": seconds,
            "articles_per_second": len(articles) / max(seconds, 1e-9)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("peer", choices=sorted(PEERS))
    one.add_argument("set", type=Path, help="a labelled directory or a JSONL file of articles")
    one.add_argument("--placements", type=Path, required=True, help="where to write the placements")
    one.add_argument("--redis-port", type=int)
    args = parser.parse_args()
    print(json.dumps(run(args.peer, args.set, args.placements, args.redis_port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
