#!/usr/bin/env python3
"""The peers dedupd is compared with, on a labelled set, with a streaming protocol: each article in
file order is queried against everything before it, then inserted. Run by benches/peers/run.sh, which installs the packages into a venv under target/.

    peers.py run PEER LABELLED_DIR [--redis-port P]   one peer: prints one JSON line
    peers.py table RESULTS.jsonl                      the table of run.sh

Peers (the settings of the team's evaluation notes, docs/accuracy.md):
- minhash-memory: datasketch MinHashLSH, word 5-shingles, 128 permutations, threshold 0.5, in memory;
- minhash-redis:  the same with datasketch's Redis storage_config;
- simhash-k3:     the `simhash` package's SimhashIndex (k = 3) over its default features.

A query's candidates are the article's matches: the article joins (unites) their clusters, and a
cluster's canonical is its earliest-published member (ties: the first ingested). Throughput is the
ingest loop alone (features, query, insert), one thread, articles read before the clock starts.
Scores come from benches/checkset/score.py, which scores as `dedupd eval` does (docs/accuracy.md).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "checkset"))
import score as scorer  # noqa: E402

WORD = re.compile(r"\w+")


def shingles(body: str, n: int = 5) -> set[bytes]:
    words = WORD.findall(body.lower())
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


class Clusters:
    """Union-find over article ids; the root of a set is not its canonical (see canonical())."""

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

    def predictions(self) -> list[dict]:
        best: dict[str, str] = {}
        for key in self.parent:
            root = self.find(key)
            if root not in best or self.rank[key] < self.rank[best[root]]:
                best[root] = key
        return [{"id": k, "cluster_id": self.find(k), "canonical_id": best[self.find(k)]} for k in self.parent]


def minhash_peer(storage_config=None):
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.5, num_perm=128, storage_config=storage_config)

    def step(key: str, body: str) -> list[str]:
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles(body)))
        found = lsh.query(m)
        lsh.insert(key, m)
        return found

    return step


def simhash_peer(k: int):
    from simhash import Simhash, SimhashIndex

    index = SimhashIndex([], k=k)

    def step(key: str, body: str) -> list[str]:
        h = Simhash(body)
        found = index.get_near_dups(h)
        index.add(key, h)
        return found

    return step


def run(peer: str, labelled: Path, redis_port: int | None) -> dict:
    articles = [json.loads(line) for line in open(labelled / "articles.jsonl", encoding="utf-8") if line.strip()]
    if peer == "minhash-memory":
        step = minhash_peer()
    elif peer == "minhash-redis":
        if redis_port is None:
            sys.exit("error: minhash-redis needs --redis-port")
        config = {"type": "redis", "basename": f"peers-{time.time_ns()}".encode(),
                  "redis": {"host": "127.0.0.1", "port": redis_port}}
        step = minhash_peer(config)
    elif peer == "simhash-k3":
        step = simhash_peer(3)
    else:
        sys.exit(f"error: unknown peer {peer}")
    clusters = Clusters()
    started = time.perf_counter()
    for order, article in enumerate(articles):
        key = article["id"]
        clusters.add(key, (article.get("published_at") or "", order, key))
        for other in step(key, article["body"]):
            clusters.union(other, key)
    seconds = time.perf_counter() - started
    labels = {x["id"]: x for x in scorer.read_jsonl(labelled / "labels.jsonl")}
    ambiguous_file = labelled / "ambiguous_pairs.jsonl"
    ambiguous = list(scorer.read_jsonl(ambiguous_file)) if ambiguous_file.exists() else []
    preds = {p["id"]: p for p in clusters.predictions()}
    result = scorer.score(labels, ambiguous, preds)
    return {"system": peer, "articles": len(articles), "seconds": seconds,
            "articles_per_second": len(articles) / seconds, "f1": result["f1"],
            "precision": result["precision"], "recall": result["recall"],
            "canonical": result["canonical_accuracy"],
            "spin30": result["copy_recall"].get("spin30", {}).get("recall")}


def table(results: Path):
    rows = [json.loads(line) for line in open(results, encoding="utf-8") if line.strip()]
    by_system = {row["system"]: row for row in rows}
    # the dedupd row each peer is held against: the same kind of storage
    reference = {"minhash-memory": "dedupd in process (memory)", "simhash-k3": "dedupd in process (memory)",
                 "minhash-redis": "dedupd serve, redis"}
    print(f"{'system':<42} {'articles/s':>11} {'dedupd ÷ it':>12} {'F1':>7} {'precision':>9} {'recall':>7}")
    for row in rows:
        ref = by_system.get(reference.get(row["system"], ""))
        ratio = f"{ref['articles_per_second'] / row['articles_per_second']:.1f}×" if ref else "–"
        f1 = "–" if row.get("f1") is None else f"{row['f1']:.3f}"
        precision = "–" if row.get("precision") is None else f"{row['precision']:.3f}"
        recall = "–" if row.get("recall") is None else f"{row['recall']:.3f}"
        print(f"{row['system']:<42} {row['articles_per_second']:>11.0f} {ratio:>12} {f1:>7} {precision:>9} {recall:>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("peer", choices=["minhash-memory", "minhash-redis", "simhash-k3"])
    one.add_argument("labelled_dir", type=Path)
    one.add_argument("--redis-port", type=int)
    tab = sub.add_parser("table")
    tab.add_argument("results", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        print(json.dumps(run(args.peer, args.labelled_dir, args.redis_port)))
    else:
        table(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
