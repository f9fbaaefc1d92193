#!/usr/bin/env python3
"""Score a dedupd clustering against a labelled set in the `dedupd eval` format (checkset-data/, dev).

    python3 benches/checkset/score.py LABELLED_DIR PREDICTIONS.jsonl [--json]

PREDICTIONS.jsonl: one {"id": ..., "cluster_id": ..., "canonical_id": ...} per line, the final state of
every article after ingesting articles.jsonl in file order. Articles missing from the predictions count
as singletons that name themselves as canonical.

Rules (those of `dedupd eval`, docs/accuracy.md):
- pair precision / recall / F1 over unordered pairs sharing a cluster, predicted vs labelled (same story);
  an ambiguous pair {"a", "b"} makes the two stories ambiguous to each other and every pair with one
  article in each story is left out;
- canonical accuracy: share of copies (non-original articles whose story has 2+ articles) whose
  canonical_id is the labelled original;
- copy recall per spinN level and for verbatim (generated copies without a spinN op): share of copies
  in the same cluster as their story's original;
- largest predicted cluster size.
Standard library only.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path


def read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"error: {path}:{n}: {e}")


def c2(n: int) -> int:
    return n * (n - 1) // 2


def score(labels: dict, ambiguous: list, preds: dict) -> dict:
    story = {i: d["story"] for i, d in labels.items()}
    members = collections.defaultdict(list)
    for i, s in story.items():
        members[s].append(i)
    original = {}
    for i, d in labels.items():
        if d["original"]:
            original[d["story"]] = i

    cluster = {}
    canon = {}
    for i in labels:
        p = preds.get(i)
        if p is None:
            cluster[i] = ("__missing__", i)
            canon[i] = i
        else:
            cluster[i] = ("c", str(p["cluster_id"]))
            canon[i] = p.get("canonical_id")

    # ambiguous story pairs (unordered, distinct stories)
    amb = set()
    for p in ambiguous:
        a, b = p["a"], p["b"]
        if a not in story or b not in story:
            continue
        sa, sb = story[a], story[b]
        if sa != sb:
            amb.add((sa, sb) if sa < sb else (sb, sa))

    # contingency table cluster x story
    cell = collections.Counter((cluster[i], story[i]) for i in labels)
    csize = collections.Counter(cluster[i] for i in labels)
    by_cluster = collections.defaultdict(dict)
    for (c, s), n in cell.items():
        by_cluster[c][s] = n

    true_pairs = sum(c2(len(v)) for v in members.values())
    tp = sum(c2(n) for n in cell.values())
    pred_pairs = sum(c2(n) for n in csize.values())
    excluded = 0
    if amb:
        for c, row in by_cluster.items():
            if len(row) < 2:
                continue
            ss = sorted(row)
            if len(ss) * len(ss) < 4 * len(amb):
                for x in range(len(ss)):
                    for y in range(x + 1, len(ss)):
                        if (ss[x], ss[y]) in amb:
                            excluded += row[ss[x]] * row[ss[y]]
            else:
                for sa, sb in amb:
                    if sa in row and sb in row:
                        excluded += row[sa] * row[sb]
    pred_pairs -= excluded  # cross-story pairs only: never true positives

    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    copies = [i for i, d in labels.items() if not d["original"] and len(members[d["story"]]) >= 2]
    canon_ok = sum(1 for i in copies if canon[i] == original.get(labels[i]["story"]))

    per_op = collections.defaultdict(lambda: [0, 0])
    for i, d in labels.items():
        ops = d["ops"].split("+")
        if d["original"] or ops == ["original"]:
            continue
        spins = [o for o in ops if re.fullmatch(r"spin\d+", o)]
        key = spins[0] if spins else "verbatim"
        o = original.get(d["story"])
        per_op[key][1] += 1
        if o is not None and cluster[i] == cluster[o]:
            per_op[key][0] += 1

    def op_key(k):
        return (0, int(k[4:])) if k.startswith("spin") else (1, k)

    return {
        "articles": len(labels),
        "predicted": sum(1 for i in labels if i in preds),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": true_pairs,
        "predicted_pairs": pred_pairs,
        "excluded_ambiguous_pairs": excluded,
        "canonical_accuracy": canon_ok / len(copies) if copies else 1.0,
        "copies": len(copies),
        "copy_recall": {k: {"recall": v[0] / v[1] if v[1] else 0.0, "n": v[1]}
                        for k, v in sorted(per_op.items(), key=lambda kv: op_key(kv[0]))},
        "largest_cluster": max(csize.values()) if csize else 0,
        "largest_story": max(len(v) for v in members.values()) if members else 0,
        "clusters": len(csize),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labelled_dir", help="directory with labels.jsonl and ambiguous_pairs.jsonl")
    ap.add_argument("predictions", help="predictions JSONL: id, cluster_id, canonical_id")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)

    d = Path(args.labelled_dir)
    labels = {x["id"]: x for x in read_jsonl(d / "labels.jsonl")}
    ambf = d / "ambiguous_pairs.jsonl"
    ambiguous = list(read_jsonl(ambf)) if ambf.exists() else []
    preds = {}
    for p in read_jsonl(Path(args.predictions)):
        if "id" not in p or "cluster_id" not in p:
            sys.exit(f"error: prediction without id/cluster_id: {p}")
        preds[p["id"]] = p
    unknown = sum(1 for i in preds if i not in labels)

    r = score(labels, ambiguous, preds)
    if args.json:
        print(json.dumps(r, indent=None))
        return 0
    print(f"articles {r['articles']}, predicted {r['predicted']}"
          + (f" ({r['articles'] - r['predicted']} missing: scored as singletons)" if r["predicted"] < r["articles"] else "")
          + (f", {unknown} unknown ids ignored" if unknown else ""))
    print(f"pair precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}"
          f"   (labelled pairs {r['true_pairs']}, predicted pairs {r['predicted_pairs']},"
          f" ambiguous cross-story pairs left out {r['excluded_ambiguous_pairs']})")
    print(f"canonical accuracy {r['canonical_accuracy']:.3f}  over {r['copies']} copies")
    print("copy recall: " + "  ".join(f"{k} {v['recall']:.2f} (n={v['n']})" for k, v in r["copy_recall"].items()))
    print(f"largest cluster {r['largest_cluster']}  (largest labelled story {r['largest_story']}),"
          f" clusters {r['clusters']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
