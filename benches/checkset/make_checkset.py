#!/usr/bin/env python3
"""Generate the dedupd *checkset*: a second labelled evaluation set, built from
Reuters-21578 newswire articles with a WordNet-based spinner and aggregator
boilerplate that differ from the ones used for dev (the team's BBC-derived labelled set).

Standard library only.  Deterministic for a given --seed and input files.

    python3 benches/checkset/make_checkset.py --reuters FILE [--out DIR] [--seed 7]

FILE is a JSONL file of Reuters-21578 articles (id, title, body, ...), one a line.

Needs Debian's WordNet database (`apt-get install wordnet-base`), read directly
from /usr/share/wordnet (data.* / index.* / *.exc).

Writes to DIR (default: <repo>/checkset-data/, git-ignored):
  articles.jsonl        id, url, source, title, body, published_at (ingest order, shuffled)
  labels.jsonl          id, story, original, ops
  ambiguous_pairs.jsonl {"a": id, "b": id}
"""
from __future__ import annotations

import argparse
import bisect
import collections
import datetime as dt
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_OUT = REPO / "checkset-data"
DEFAULT_WORDNET = Path("/usr/share/wordnet")

SPIN_LEVELS = [0, 3, 5, 10, 15, 20, 30, 40]

# ---------------------------------------------------------------------------
# WordNet (parsed straight from the Debian database files)
# ---------------------------------------------------------------------------

WN_POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}

# morphy detachment rules (as in WordNet's morph.c), suffix -> replacement
MORPH_RULES = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
          ("shes", "sh"), ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"),
          ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}


class WordNet:
    def __init__(self, root: Path):
        need = [root / f"{kind}.{WN_POS[p]}" for p in WN_POS for kind in ("index", "data")]
        missing = [str(p) for p in need if not p.is_file()]
        if missing:
            sys.exit(
                "error: WordNet database files not found: " + ", ".join(missing) + "\n"
                "Install Debian's WordNet database first:\n"
                "    apt-get update && apt-get install -y wordnet-base\n"
                "(or pass --wordnet DIR pointing at a directory holding index.noun, data.noun, ...)"
            )
        self.index: dict[str, dict[str, list[int]]] = {}
        self.synsets: dict[str, dict[int, list[str]]] = {}
        self.exc: dict[str, dict[str, list[str]]] = {}
        self.irregular: dict[str, dict[str, list[str]]] = {}  # pos -> base -> inflected forms
        for p, name in WN_POS.items():
            idx: dict[str, list[int]] = {}
            with open(root / f"index.{name}", encoding="latin-1") as f:
                for line in f:
                    if line.startswith(" "):
                        continue
                    parts = line.split()
                    lemma = parts[0]
                    p_cnt = int(parts[3])
                    offsets = [int(x) for x in parts[4 + p_cnt + 2:]]
                    idx[lemma] = offsets
            self.index[p] = idx
            syn: dict[int, list[str]] = {}
            with open(root / f"data.{name}", encoding="latin-1") as f:
                for line in f:
                    if line.startswith(" "):
                        continue
                    parts = line.split(" ", 4 + 2 * 64)
                    off = int(parts[0])
                    w_cnt = int(parts[3], 16)
                    words = []
                    for i in range(w_cnt):
                        w = parts[4 + 2 * i]
                        w = re.sub(r"\((a|p|ip)\)$", "", w)
                        words.append(w)
                    syn[off] = words
            self.synsets[p] = syn
            exc: dict[str, list[str]] = collections.defaultdict(list)
            irr: dict[str, list[str]] = collections.defaultdict(list)
            excfile = root / f"{name}.exc"
            if excfile.is_file():
                with open(excfile, encoding="latin-1") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 2:
                            exc[parts[0]].extend(parts[1:])
                            for b in parts[1:]:
                                irr[b].append(parts[0])
            self.exc[p] = dict(exc)
            self.irregular[p] = dict(irr)
        self._cache: dict[str, list] = {}

    def analyses(self, w: str):
        """(base, pos, form) readings of a lower-case surface word.
        form: '' base form, 'ed', 'ing', 's' (verb 3sg / noun plural), 'er', 'est'."""
        out = []
        for p in WN_POS:
            idx = self.index[p]
            if w in idx:
                out.append((w, p, ""))
            for b in self.exc[p].get(w, ()):
                if b in idx and b != w:
                    out.append((b, p, _form_of(w, p)))
            for suf, rep in MORPH_RULES[p]:
                if w.endswith(suf) and len(w) > len(suf) + 1:
                    b = w[: len(w) - len(suf)] + rep
                    cands = [b]
                    # stopped -> stop, running -> run (doubled consonant)
                    if rep == "" and suf in ("ed", "ing") and len(b) > 2 and b[-1] == b[-2] and b[-1] not in "aeiouls":
                        cands.append(b[:-1])
                    for b2 in cands:
                        if b2 in idx and (b2, p) not in [(x[0], x[1]) for x in out]:
                            out.append((b2, p, _form_of(w, p)))
        return out

    def options(self, w: str):
        """Weighted synonym options for a surface word: list of (weight, pos, form, [lemmas])."""
        if w in self._cache:
            return self._cache[w]
        opts = []
        for base, p, form in self.analyses(w):
            for rank, off in enumerate(self.index[p][base]):
                lemmas = []
                for lem in self.synsets[p].get(off, ()):
                    if lem.lower() == base or lem.lower() == w:
                        continue
                    if lem != lem.lower() or any(c.isdigit() for c in lem) or "." in lem:
                        continue  # proper-noun senses, abbreviations
                    phrase = lem.replace("_", " ")
                    if phrase.count(" ") > 2:
                        continue
                    if phrase not in lemmas:
                        lemmas.append(phrase)
                if lemmas:
                    opts.append((1.0 / (rank + 1), p, form, lemmas))
        self._cache[w] = opts
        return opts

    def inflect(self, phrase: str, p: str, form: str, rng: random.Random) -> str:
        if not form:
            return phrase
        words = phrase.split(" ")
        if p == "v":
            i = 0  # head of a phrasal verb is its first word: "look into" -> "looked into"
        elif p == "n":
            i = len(words) - 1
        else:
            i = len(words) - 1
        head = words[i]
        if p == "a":
            if form in ("er", "est"):
                if len(words) == 1 and len(head) <= 6:
                    head = _regular(head, form)
                else:
                    return ("more " if form == "er" else "most ") + phrase
        else:
            irr = [x for x in self.irregular[p].get(head, ()) if "_" not in x and _form_of(x, p) == form]
            if irr:
                head = rng.choice(sorted(irr))
            else:
                head = _regular(head, form)
        words[i] = head
        return " ".join(words)


def _form_of(w: str, p: str) -> str:
    if p == "n":
        return "s"
    if p == "v":
        if w.endswith("ing"):
            return "ing"
        if w.endswith("s") and not w.endswith("ss"):
            return "s"
        return "ed"
    if p == "a":
        if w.endswith("est"):
            return "est"
        if w.endswith("er"):
            return "er"
    return ""


# verbs whose past tense is the base form (verb.exc only lists forms that differ)
SAME_PAST = set("bet bid broadcast burst cast cost cut forecast hit hurt let offset put quit read rid set "
                "shed shut slit split spread thrust upset wet".split())


def _double_final(w: str) -> bool:
    """stop -> stopped, plan -> planning, big -> bigger (one-syllable consonant-vowel-consonant)."""
    return (2 < len(w) <= 4 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou"
            and w[-3] not in "aeiou" and len(re.findall(r"[aeiou]+", w)) == 1)


def _regular(w: str, form: str) -> str:
    cons_y = len(w) > 1 and w[-1] == "y" and w[-2] not in "aeiou"
    if form == "ed" and w in SAME_PAST:
        return w
    if form in ("ed", "ing", "er", "est") and _double_final(w):
        w = w + w[-1]
    if form == "s":
        if w.endswith(("s", "x", "z", "ch", "sh")):
            return w + "es"
        return w[:-1] + "ies" if cons_y else w + "s"
    if form == "ed":
        if w.endswith("e"):
            return w + "d"
        return w[:-1] + "ied" if cons_y else w + "ed"
    if form == "ing":
        if w.endswith("ie"):
            return w[:-2] + "ying"
        if w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
            return w[:-1] + "ing"
        return w + "ing"
    if form in ("er", "est"):
        if w.endswith("e"):
            return w + form[1:]
        return (w[:-1] + "i" + form) if cons_y else w + form
    return w


# ---------------------------------------------------------------------------
# Spinner
# ---------------------------------------------------------------------------

STOPWORDS = set("""
a about above across after afterwards again against all almost alone along already also although always am among
amongst an and another any anyhow anyone anything anyway anywhere are around as at back be became because become
becomes becoming been before beforehand behind being below beside besides between beyond both but by can cannot
could did do does doing done down due during each either else elsewhere enough etc even ever every everyone
everything everywhere except few for former formerly from further had has have having he hence her here hereafter
hereby herein hers herself him himself his how however i ie if in indeed into is it its itself just last latter
least less many may me meanwhile might mine more moreover most mostly much must my myself neither never
nevertheless next no nobody none nor not nothing now nowhere of off often on once one only onto or other others
otherwise our ours ourselves out over own per perhaps rather same several she should since so some somehow someone
something sometime sometimes somewhere still such than that the their theirs them themselves then thence there
thereafter thereby therefore therein thereupon these they this those though through throughout thus to together
too toward towards under until up upon us very via was we well were what whatever when whence whenever where
whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever whole whom whose why
will with within without would yet you your yours yourself yourselves
mr mrs ms inc corp co ltd plc mln bln dlrs dlr cts pct shr shrs qtr qtly div avg vs reuter reuters
two three four five six seven eight nine ten eleven twelve hundred thousand million billion first second third
""".split())

WORD_RE = re.compile(r"[A-Za-z]+")


class Spinner:
    def __init__(self, wn: WordNet, lower_vocab: set[str]):
        self.wn = wn
        self.lower_vocab = lower_vocab

    def _eligible(self, text: str, m: re.Match, all_caps_text: bool) -> bool:
        tok = m.group(0)
        s, e = m.span()
        if len(tok) < 3:
            return False
        # parts of hyphenated / apostrophe compounds, tickers, codes
        if (s > 0 and text[s - 1] in "-'’<_/&") or (e < len(text) and text[e] in "-'’>_/&"):
            return False
        if (s > 0 and text[s - 1].isdigit()) or (e < len(text) and text[e].isdigit()):
            return False
        low = tok.lower()
        if low in STOPWORDS:
            return False
        if tok != low:
            if all_caps_text:
                # ALL-CAPS headline: case tells nothing, keep words known in lower case
                if low not in self.lower_vocab:
                    return False
            elif tok.isupper():
                return False  # acronym
            elif tok[1:] != tok[1:].lower():
                return False  # McDonald, OPEC-style mixed case
            else:
                # Capitalised: only a sentence-initial common word, never a name
                j = s - 1
                while j >= 0 and text[j] in " \t\n\"'“‘(":
                    j -= 1
                if j >= 0 and text[j] not in ".!?:":
                    return False
                if low not in self.lower_vocab:
                    return False
        return bool(self.wn.options(low))

    def spin(self, text: str, level: int, rng: random.Random) -> tuple[str, int, int]:
        """Swap `level`% of eligible words for a random WordNet synonym (context-blind).
        Returns (text, n_eligible, n_swapped)."""
        if level <= 0 or not text:
            return text, 0, 0
        letters = [c for c in text if c.isalpha()]
        all_caps = bool(letters) and sum(c.isupper() for c in letters) > 0.8 * len(letters)
        elig = [m for m in WORD_RE.finditer(text) if self._eligible(text, m, all_caps)]
        if not elig:
            return text, 0, 0
        k = max(1, round(len(elig) * level / 100.0))
        chosen = sorted(rng.sample(range(len(elig)), min(k, len(elig))))
        out, last = [], 0
        for ci in chosen:
            m = elig[ci]
            tok = m.group(0)
            opts = self.wn.options(tok.lower())
            weights = [o[0] for o in opts]
            _, p, form, lemmas = opts[_weighted_index(rng, weights)]
            syn = self.wn.inflect(rng.choice(lemmas), p, form, rng)
            out.append(text[last:m.start()])
            out.append(_match_case(tok, syn))
            last = m.end()
        out.append(text[last:])
        return "".join(out), len(elig), len(chosen)


def _weighted_index(rng: random.Random, weights: list[float]) -> int:
    cum = []
    t = 0.0
    for w in weights:
        t += w
        cum.append(t)
    return min(bisect.bisect_right(cum, rng.random() * t), len(weights) - 1)


def _match_case(orig: str, syn: str) -> str:
    if len(orig) > 1 and orig.isupper():
        return syn.upper()
    if orig[0].isupper():
        return syn[0].upper() + syn[1:]
    return syn


# ---------------------------------------------------------------------------
# Aggregator sites, headers, footers, copycat tricks
# ---------------------------------------------------------------------------

SITES = [
    # domain, display name, header style, footer styles
    ("wirefeedly.com", "WireFeedly", 0, [0, 3]),
    ("marketpulse-daily.net", "MarketPulse Daily", 1, [1, 4]),
    ("newsroundup24.org", "NewsRoundup24", 2, [2, 5]),
    ("thebriefingpost.info", "The Briefing Post", 3, [6, 1]),
    ("globalheadlines.press", "Global Headlines", 4, [7, 4]),
    ("finwire-digest.co", "FinWire Digest", 5, [3, 0]),
    ("dailytickerwatch.com", "Ticker Watch", 0, [5, 2]),
    ("headlinehub365.net", "Headline Hub 365", 2, [4, 6]),
]

SECTIONS = ["Business", "Markets", "Commodities", "World", "Economy", "Energy", "Companies"]


def _fmt_date(t: dt.datetime, style: int) -> str:
    if style == 0:
        return t.strftime("%b %d, %Y %H:%M") + " UTC"
    if style == 1:
        return f"{t.day} {t.strftime('%B %Y')}"
    return t.strftime("%d/%m/%Y")


def make_header(style: int, site: str, when: dt.datetime, rng: random.Random) -> str:
    if style == 0:
        return f"{site} Wire — {_fmt_date(when, 0)}"
    if style == 1:
        return f"Home › {rng.choice(SECTIONS)} › Latest"
    if style == 2:
        return f"Staff Writer · {rng.randint(2, 7)} min read"
    if style == 3:
        upd = when + dt.timedelta(minutes=rng.randint(3, 240))
        return f"Published {_fmt_date(when, 1)} | Updated {_fmt_date(upd, 1)}"
    if style == 4:
        return f"{rng.choice(SECTIONS).upper()} NEWS | {site}"
    return f"Filed {_fmt_date(when, 2)} by the {site} newsroom"


def _headline(t: str) -> str:
    return t.title() if t.isupper() else t


def make_footer(style: int, site: str, domain: str, when: dt.datetime, rng: random.Random,
                other_titles: list[str]) -> str:
    if style == 0:
        return (f"Disclaimer: {site} republishes wire content automatically from public feeds. "
                "Opinions and figures belong to the original publisher, and all trademarks and copyrights "
                f"stay with their owners. To ask for a removal, write to takedown@{domain} and we will act "
                "within one working day.")
    if style == 1:
        items = "\n".join(f"• {_headline(t)}" for t in rng.sample(other_titles, 3))
        return f"You may also like\n\n{items}"
    if style == 2:
        return (f"Never miss a market move. Sign up for the {site} morning newsletter: the day's top "
                "stories, delivered to your inbox before the opening bell. It's free, and you can "
                "unsubscribe at any time.\n\nEnter your email address\n\nSign me up")
    if style == 3:
        return (f"Share this article\n\nTweet · Share on Facebook · Post to LinkedIn · Email · Copy link\n\n"
                f"{rng.randint(3, 480)} readers shared this story")
    if style == 4:
        return (f"© {when.year} {site}. All rights reserved. Articles on this site are aggregated from "
                "third-party newswires; their appearance here implies no endorsement.")
    if style == 5:
        return "Was this article helpful?\n\nYes · No\n\nComments are closed for this post."
    if style == 6:
        a, b = rng.sample(other_titles, 2)
        return f"Trending now on {site}: {_headline(a)} | {_headline(b)}\n\nPowered by FeedSync Pro"
    return ("This post was curated by our editorial assistant from a wire feed and may contain errors. "
            "Spotted a problem? Let us know.\n\nFollow us on X, Facebook and Telegram for breaking updates.")


TRUNC_MARKERS = ["Continue reading…", "Continue reading...", "Continue reading the full story »",
                 "[…] Continue reading at the source.", "Click here to continue reading →"]

HOMO = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х",
        "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "X": "Х"}


def add_homoglyphs(text: str, rng: random.Random) -> str:
    spans = [m.span() for m in re.finditer(r"[A-Za-z]{4,}", text)
             if any(c in HOMO for c in m.group(0))]
    if not spans:
        return text
    chosen = set(rng.sample(range(len(spans)), min(len(spans), rng.randint(3, 10))))
    chars = list(text)
    for i in chosen:
        s, e = spans[i]
        pos = [j for j in range(s, e) if chars[j] in HOMO]
        for j in rng.sample(pos, min(len(pos), rng.randint(1, 2))):
            chars[j] = HOMO[chars[j]]
    return "".join(chars)


def add_invisibles(text: str, rng: random.Random) -> str:
    spans = [m.span() for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not spans:
        return text
    chosen = sorted(rng.sample(range(len(spans)), min(len(spans), rng.randint(3, 12))), reverse=True)
    for i in chosen:  # right to left so earlier offsets stay valid
        s, e = spans[i]
        j = rng.randint(s + 1, e - 1)
        text = text[:j] + rng.choice(["\u200b", "\u200b", "\u00ad"]) + text[j:]
    return text


def curly_quotes(text: str) -> str:
    text = re.sub(r'(^|[\s(\[])"', "\\1“", text)
    text = text.replace('"', "”")
    text = re.sub(r"(^|[\s(\[])'", "\\1‘", text)
    text = text.replace("'", "’")
    text = text.replace(" -- ", " — ").replace("--", "—").replace(" - ", " – ")
    return text


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

PARA_SPLIT = re.compile(r"\n[ \t]{2,}")


def split_paras(body: str) -> list[str]:
    return [p for p in PARA_SPLIT.split(body.strip("\n")) if p.strip()]


def reflow(p: str) -> str:
    return " ".join(p.split())


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def shingles(text: str, k: int = 5) -> set[str]:
    w = words_of(text)
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def parse_ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def fmt_ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def slug(title: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return s[:60].rstrip("-") or "story"


def truncate(paras: list[str], frac: float) -> list[str]:
    """Keep the first `frac` of the words, ending on a sentence boundary when one is near."""
    total = sum(len(p.split()) for p in paras)
    budget = max(12, int(total * frac))
    out, used = [], 0
    for p in paras:
        n = len(p.split())
        if used + n <= budget:
            out.append(p)
            used += n
            continue
        need = budget - used
        if need >= 8:
            toks = re.split(r"(\s+)", p)
            cut, cnt = [], 0
            for t in toks:
                if t.strip():
                    cnt += 1
                    if cnt > need:
                        break
                cut.append(t)
            partial = "".join(cut).rstrip()
            m = list(re.finditer(r"[.!?][\"'”]?(?=\s|$)", partial))
            if m and m[-1].end() > len(partial) * 0.4:
                partial = partial[: m[-1].end()]
            else:
                partial = partial.rstrip(",;:") + " …"
            out.append(partial)
        break
    return out or paras[:1]


# ---------------------------------------------------------------------------
# Selection and near-duplicate detection
# ---------------------------------------------------------------------------

EARN_RE = re.compile(r"\b(Shr|Qtr|Qtly div|Revs|Oper shr|Net)\b.*\bvs\b", re.S)
COMMODITY_TITLE = re.compile(
    r"\b(PRICES?|REVIEW|CROP|EXPORTS?|IMPORTS?|STOCKS|WEEKLY|TENDER|ARRIVALS|SUPPLY|SUPPLIES|COCOA|COFFEE|"
    r"SUGAR|WHEAT|GRAIN|CORN|SOYBEANS?|SOYBEAN|OILSEEDS?|CRUDE|GOLD|COPPER|TIN|ZINC|CATTLE|HOGS|RATES?|"
    r"MONEY MARKET|RESERVES|OUTPUT|PRODUCTION|DIVIDEND|NET|EARNINGS|QTR|DIV)\b")


def is_templated(a: dict) -> bool:
    body = a["body"]
    if EARN_RE.search(body):
        return True
    toks = body.split()
    digits = sum(1 for t in toks if any(c.isdigit() for c in t))
    if toks and digits / len(toks) >= 0.15:
        return True
    return bool(COMMODITY_TITLE.search(a["title"]))


class UnionFind:
    def __init__(self, items):
        self.p = {x: x for x in items}

    def find(self, x):
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.p[rb] = ra


def near_duplicates(docs: dict[str, set[str]]):
    """Exact shingle-overlap counts through an inverted index.
    Returns list of (a, b, jaccard, containment) for every pair sharing a shingle."""
    ids = sorted(docs)
    num = {d: i for i, d in enumerate(ids)}
    postings: dict[str, list[int]] = collections.defaultdict(list)
    for d in ids:
        i = num[d]
        for s in docs[d]:
            postings[s].append(i)
    inter: collections.Counter = collections.Counter()
    n = len(ids)
    for plist in postings.values():
        if len(plist) < 2:
            continue
        plist.sort()
        for x in range(len(plist)):
            a = plist[x] * n
            for y in range(x + 1, len(plist)):
                inter[a + plist[y]] += 1
    out = []
    for key, c in inter.items():
        i, j = divmod(key, n)
        A, B = docs[ids[i]], docs[ids[j]]
        jac = c / (len(A) + len(B) - c)
        cont = c / min(len(A), len(B))
        out.append((ids[i], ids[j], jac, cont))
    out.sort()
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=None, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--out", dest="out_opt", default=None, help="output directory (same as the positional)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reuters", required=True, help="Reuters-21578 articles, a JSONL file")
    ap.add_argument("--wordnet", default=str(DEFAULT_WORDNET), help="WordNet dict directory")
    ap.add_argument("--originals", type=int, default=2000, help="corpus articles that may get copies")
    ap.add_argument("--distractors", type=int, default=1000, help="extra corpus articles that get no copies")
    ap.add_argument("--copy-share", type=float, default=0.6, help="share of originals given 1-4 copies")
    args = ap.parse_args(argv)
    out_dir = Path(args.out_opt or args.out or DEFAULT_OUT)
    t0 = time.time()
    seed = args.seed

    def R(*parts) -> random.Random:
        return random.Random(":".join(str(p) for p in (seed,) + parts))

    wn = WordNet(Path(args.wordnet))
    t_wn = time.time() - t0

    src = Path(args.reuters)
    if not src.is_file():
        sys.exit(f"error: Reuters file not found: {src}")
    with open(src, encoding="utf-8") as f:
        allarts = [json.loads(line) for line in f if line.strip()]
    allarts.sort(key=lambda a: a["id"])

    # --- selection ---------------------------------------------------------
    nwords = {a["id"]: len(a["body"].split()) for a in allarts}
    pool = [a for a in allarts if nwords[a["id"]] >= 60]
    R("select").shuffle(pool)
    originals = pool[: args.originals]
    chosen = {a["id"] for a in originals}
    rest = [a for a in allarts if a["id"] not in chosen and nwords[a["id"]] >= 20]
    templ = [a for a in rest if is_templated(a)]
    other = [a for a in rest if not is_templated(a)]
    R("distract").shuffle(templ)
    R("distract2").shuffle(other)
    n_t = min(len(templ), round(args.distractors * 0.7))
    distractors = templ[:n_t] + other[: args.distractors - n_t]
    corpus = {a["id"]: a for a in originals + distractors}

    # --- natural near-duplicates among corpus articles ---------------------
    t1 = time.time()
    sh = {i: shingles(a["body"]) for i, a in corpus.items()}
    pairs = near_duplicates(sh)
    uf = UnionFind(sorted(corpus))
    for a, b, jac, cont in pairs:
        if jac >= 0.5:
            uf.union(a, b)
    amb = set()
    for a, b, jac, cont in pairs:
        if jac >= 0.5:
            continue
        if (jac >= 0.2 or cont >= 0.3) and uf.find(a) != uf.find(b):
            amb.add((a, b) if a < b else (b, a))
    t_nd = time.time() - t1

    # --- copies ------------------------------------------------------------
    lower_vocab = set()
    for a in corpus.values():
        lower_vocab.update(w for w in WORD_RE.findall(a["body"]) if w.islower())
    spinner = Spinner(wn, lower_vocab)
    all_titles = sorted(a["title"] for a in allarts if a["id"] not in corpus)

    records = []  # (article, ops, parent id)
    for a in sorted(corpus.values(), key=lambda x: x["id"]):
        records.append((a, "original", None))

    copy_stats = collections.Counter()
    jac_by_level: dict[str, list[float]] = collections.defaultdict(list)
    for a in sorted(originals, key=lambda x: x["id"]):
        r = R("copies", a["id"])
        if r.random() >= args.copy_share:
            continue
        n_copies = r.randint(1, 4)
        sites = r.sample(range(len(SITES)), n_copies)
        base_t = parse_ts(a["published_at"])
        for k in range(n_copies):
            rc = R("copy", a["id"], k)
            domain, site, hstyle, fstyles = SITES[sites[k]]
            when = base_t + dt.timedelta(seconds=round(math.exp(rc.uniform(math.log(300), math.log(3 * 86400)))))
            level = rc.choice(SPIN_LEVELS)
            ops = []
            body, title = a["body"], a["title"]
            if level:
                body, _, _ = spinner.spin(body, level, rc)
                title, _, _ = spinner.spin(title, level, rc)
                ops.append(f"spin{level}")
            else:
                ops.append("verbatim")
            paras = split_paras(body)
            if len(paras) >= 3 and rc.random() < 0.12:
                i = rc.randrange(1, len(paras))
                del paras[i]
                ops.append("dropPara")
            if len(paras) >= 3 and rc.random() < 0.12:
                i = rc.randrange(0, len(paras) - 1)
                paras[i], paras[i + 1] = paras[i + 1], paras[i]
                ops.append("swapPara")
            truncated = False
            if rc.random() < 0.14:
                paras = truncate(paras, rc.uniform(0.3, 0.7))
                truncated = True
                ops.append("truncate")
            if rc.random() < 0.75:  # scraped from HTML: wrapped lines joined, blank line between paragraphs
                text = "\n\n".join(reflow(p) for p in paras)
            else:
                text = "\n    ".join(paras)
            if truncated:
                text += "\n\n" + rc.choice(TRUNC_MARKERS)
            if rc.random() < 0.4:
                text = curly_quotes(text)
                title = curly_quotes(title)
            if rc.random() < 0.45:
                text = make_header(hstyle, site, when, rc) + "\n\n" + text
                ops.append("header")
            if rc.random() < 0.6:
                parts = [make_footer(fstyles[0], site, domain, when, rc, all_titles)]
                if rc.random() < 0.4:
                    parts.append(make_footer(fstyles[1], site, domain, when, rc, all_titles))
                text += "\n\n" + "\n\n".join(parts)
                ops.append("footer")
            if rc.random() < 0.35:
                title = title + rc.choice([f" | {site}", f" | {site}", f" - {site}", f" :: {site}"])
                ops.append("titleSuffix")
            if rc.random() < 0.10:
                kind = rc.choice(["homoglyph", "zeroWidth", "both"])
                if kind in ("homoglyph", "both"):
                    text = add_homoglyphs(text, rc)
                    ops.append("homoglyph")
                if kind in ("zeroWidth", "both"):
                    text = add_invisibles(text, rc)
                    ops.append("zeroWidth")
            cid = f"{a['id']}-c{k}"
            copy = {
                "id": cid,
                "url": f"https://{domain}/{when:%Y/%m}/{slug(a['title'])}-{a['id'].split('-')[-1]}c{k}",
                "source": domain,
                "title": title,
                "body": text,
                "published_at": fmt_ts(when),
            }
            opstr = "+".join(ops)
            records.append((copy, opstr, a["id"]))
            for op in ops:
                copy_stats[op] += 1
            jac_by_level[ops[0]].append(jaccard(sh[a["id"]], shingles(text)))

    # --- stories -----------------------------------------------------------
    members: dict[str, list] = collections.defaultdict(list)
    for art, ops, parent in records:
        root = uf.find(parent or art["id"])
        members[root].append((art, ops))

    def tkey(art):
        return (art["published_at"], art["id"])

    stories = sorted(members.values(), key=lambda v: min(tkey(x[0]) for x in v))
    labels = {}
    for n, v in enumerate(stories, 1):
        first = min(v, key=lambda x: tkey(x[0]))[0]["id"]
        for art, ops in v:
            labels[art["id"]] = {"id": art["id"], "story": f"s{n}", "ops": ops, "original": art["id"] == first}
    # sanity: every story's original is a corpus article
    for art, ops, parent in records:
        if labels[art["id"]]["original"]:
            assert ops == "original", art["id"]

    arts_out = [art for art, _, _ in records]
    arts_out.sort(key=lambda x: x["id"])
    R("ingest").shuffle(arts_out)

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "articles.jsonl", "w", encoding="utf-8") as f:
        for art in arts_out:
            f.write(json.dumps({k: art[k] for k in ("id", "url", "source", "title", "body", "published_at")},
                               ensure_ascii=False) + "\n")
    with open(out_dir / "labels.jsonl", "w", encoding="utf-8") as f:
        for art in arts_out:
            f.write(json.dumps(labels[art["id"]], ensure_ascii=False) + "\n")
    with open(out_dir / "ambiguous_pairs.jsonl", "w", encoding="utf-8") as f:
        for a, b in sorted(amb):
            f.write(json.dumps({"a": a, "b": b}) + "\n")

    # --- summary -----------------------------------------------------------
    n_copies = sum(1 for _, ops, _ in records if ops != "original")
    sizes = collections.Counter(len(v) for v in stories)
    multi_corpus = sum(1 for v in stories if sum(1 for _, o in v if o == "original") > 1)
    print(f"checkset written to {out_dir}  (seed {seed}, {time.time() - t0:.1f}s total; "
          f"WordNet load {t_wn:.1f}s, near-dup pass {t_nd:.1f}s)")
    print(f"articles: {len(arts_out)}  = corpus {len(corpus)} ({len(originals)} originals, "
          f"{len(distractors)} distractors, {n_t} of them templated) + copies {n_copies}")
    print(f"stories: {len(stories)}  (with 2+ articles: {sum(c for s, c in sizes.items() if s > 1)}, "
          f"merging 2+ corpus articles: {multi_corpus}, largest: {max(sizes)})")
    print(f"corpus pairs Jaccard>=0.5 merged: {sum(1 for p in pairs if p[2] >= 0.5)}; "
          f"ambiguous pairs: {len(amb)}")
    print("copies by op:")
    def op_key(o):
        return (0, int(o[4:])) if o.startswith("spin") else (1 if o == "verbatim" else 2, o)
    for op in sorted(copy_stats, key=op_key):
        extra = ""
        if op in jac_by_level:
            js = jac_by_level[op]
            extra = (f"   mean 5-shingle Jaccard to original {sum(js) / len(js):.2f}, "
                     f">=0.5: {sum(j >= 0.5 for j in js) / len(js):.0%}")
        print(f"  {op:<12}{copy_stats[op]:>6}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
