#!/usr/bin/env python3
"""Prints the markdown tables of benches/accuracy.sh from its results file.

    accuracy_table.py RESULTS.jsonl COMMIT

Each line of RESULTS.jsonl: {"set", "path", "system", "scores", "seconds"}, where scores is the
JSON of `dedupd eval --json` (or `--score-placements`) and seconds the run's time. One table per
set, in the order the sets were given. Standard library only.
"""
from __future__ import annotations

import datetime
import json
import os
import sys


def kind_order(kind: str):
    if kind.startswith("spin") and kind[4:].isdigit():
        return (0, int(kind[4:]), kind)
    return ({"verbatim": 1, "spun": 2, "rewrite": 3}.get(kind, 4), 0, kind)


def rate(row: dict) -> str:
    seconds = row.get("seconds")
    if not seconds:
        return "–"
    return f"{row['scores']['articles'] / seconds:,.0f}"


def labelled_table(rows: list[dict]) -> list[str]:
    kinds = sorted({k for row in rows for k in row["scores"]["copy_recall"]}, key=kind_order)
    independent = any("independent" in row["scores"]["wrongly_joined"] for row in rows)
    header = ["system", "precision", "recall", "F1"]
    header += [f"{k} recall" + ("†" if k == "rewrite" else "") for k in kinds]
    if independent:
        header.append("independent joined")
    header += ["canonical", "largest cluster (story)", "articles/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        s = row["scores"]
        cells = [row["system"], f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}"]
        for k in kinds:
            c = s["copy_recall"].get(k)
            cells.append(f"{c['found'] / c['total']:.3f} ({c['found']}/{c['total']})" if c and c["total"] else "–")
        if independent:
            c = s["wrongly_joined"].get("independent", {"found": 0, "total": 0})
            cells.append(f"{c['found']}/{c['total']}")
        canonical = s.get("canonical_accuracy")
        cells.append("n/a" if canonical is None else f"{canonical:.4f} (of {s['canonical_copies']})")
        cells.append(f"{s['largest_cluster']} ({s['largest_story']})")
        cells.append(rate(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def unlabelled_table(rows: list[dict]) -> list[str]:
    header = ["system", "largest cluster", "clusters of 3+", "clusters of 2", "largest sizes (size: clusters)",
              "articles/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        sizes = {int(size): count for size, count in row["scores"]["cluster_sizes"].items()}
        largest = sorted(sizes, reverse=True)
        top = ", ".join(f"{size}: {sizes[size]}" for size in largest[:5])
        cells = [row["system"], str(largest[0] if largest else 0),
                 str(sum(count for size, count in sizes.items() if size >= 3)), str(sizes.get(2, 0)), top, rate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit("usage: accuracy_table.py RESULTS.jsonl COMMIT")
    with open(sys.argv[1], encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    commit = sys.argv[2]
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    sets: dict[str, list[dict]] = {}
    for row in rows:
        sets.setdefault(row["path"], []).append(row)
    for path, set_rows in sets.items():
        first = set_rows[0]
        labelled = first["scores"].get("largest_story", 0) > 0
        print(f"### {first['set']}")
        print()
        print(f"{first['scores']['articles']:,} articles; `benches/accuracy.sh {path}`, release build of {commit}, "
              f"{today}, {os.cpu_count()} cores.")
        print()
        print("\n".join(labelled_table(set_rows) if labelled else unlabelled_table(set_rows)))
        print()
        if labelled and any("rewrite" in row["scores"]["copy_recall"] for row in set_rows):
            print("† rewrites are ambiguous pairs: reported, but left out of precision and recall.")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
