#!/usr/bin/env python3
"""Rebuild the realweb-own labelled set from the public web.

The repository keeps only the labels and the page addresses (manifest.jsonl),
never the pages' text. This script fetches each address with your own network
connection, extracts the text a reader sees with trafilatura, and writes a set
in the `dedupd eval` format:

    OUT/articles.jsonl        id, url, source, title, body, published_at (if known)
    OUT/labels.jsonl          labels of the articles that could be fetched
    OUT/ambiguous_pairs.jsonl pairs whose two articles were both fetched
    OUT/build-report.json     what was fetched, dropped and relabelled

Pages change, move or disappear, and a whole page is longer than the excerpt
we labelled, so a rebuilt set is close to ours but not the same: see README.md.

Usage:
    pip install trafilatura lxml_html_clean
    python3 benches/realweb/build.py [--out realweb-data] [--cache DIR] [--offline]

--cache keeps the downloaded HTML (one file per id) so a second run needs no
network; --offline uses only that cache.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) realweb-build/1.0 (research; dedupd eval set)'
MIN_CHARS = 200


def load(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def dump(path, rows):
    with open(path, 'w', encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')


def fetch(url, timeout):
    """Return the page's HTML as text, or raise OSError / urllib errors."""
    req = urllib.request.Request(url, headers={'User-Agent': USER_AGENT, 'Accept': 'text/html,*/*'})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        charset = resp.headers.get_content_charset() or 'utf-8'
    return raw.decode(charset, errors='replace')


def extract(html, url):
    """Readable text and title of a page, via trafilatura (None when nothing usable)."""
    import trafilatura  # imported here so --help works without it

    body = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                               favor_recall=True)
    meta = trafilatura.extract_metadata(html, default_url=url)
    title = meta.title if meta is not None and meta.title else ''
    return body, title


def first_line(text):
    for line in text.split('\n'):
        if sum(ch.isalnum() for ch in line) >= 3:
            return line.strip()[:150]
    return ''


def relabel(labels, kept):
    """Keep the labels of fetched articles; give every cluster that lost its original a new one.

    The new original is the first remaining member in file order, as the set's own rule for
    unknown originals picks the best available copy. Returns (labels, relabelled ids).
    """
    rows = [dict(l) for l in labels if l['id'] in kept]
    by_story = {}
    for r in rows:
        by_story.setdefault(r['story'], []).append(r)
    changed = []
    for members in by_story.values():
        if not any(m['original'] for m in members):
            members[0]['original'] = True
            changed.append(members[0]['id'])
    return rows, changed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='realweb-data', help='output directory (default: realweb-data)')
    ap.add_argument('--cache', help='directory for downloaded HTML, reused on later runs')
    ap.add_argument('--offline', action='store_true', help='do not fetch; use only --cache')
    ap.add_argument('--timeout', type=float, default=20.0, help='seconds per request (default 20)')
    ap.add_argument('--delay', type=float, default=0.5, help='seconds between requests (default 0.5)')
    args = ap.parse_args()
    if args.offline and not args.cache:
        sys.exit('--offline needs --cache')
    try:
        import trafilatura  # noqa: F401
    except ImportError as e:
        sys.exit('cannot import trafilatura (%s): pip install trafilatura lxml_html_clean' % e)

    manifest = load(os.path.join(HERE, 'manifest.jsonl'))
    labels = load(os.path.join(HERE, 'labels.jsonl'))
    pairs = load(os.path.join(HERE, 'ambiguous_pairs.jsonl'))
    os.makedirs(args.out, exist_ok=True)
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)

    articles, report = [], {'fetched': 0, 'failed': {}, 'too_short': [], 'relabelled_original': []}
    for n, m in enumerate(manifest, 1):
        cached = os.path.join(args.cache, m['id'] + '.html') if args.cache else None
        html = None
        if cached and os.path.exists(cached):
            with open(cached, encoding='utf-8') as f:
                html = f.read()
        elif not args.offline:
            try:
                html = fetch(m['url'], args.timeout)
            except (OSError, urllib.error.URLError, ValueError) as e:
                report['failed'][m['id']] = str(e)[:200]
            time.sleep(args.delay)
            if html is not None and cached:
                with open(cached, 'w', encoding='utf-8') as f:
                    f.write(html)
        if html is None:
            report['failed'].setdefault(m['id'], 'not in cache')
            continue
        body, title = extract(html, m['url'])
        if not body or len(body) < MIN_CHARS:
            report['too_short'].append(m['id'])
            continue
        report['fetched'] += 1
        a = {'id': m['id'], 'url': m['url'], 'source': m['source'],
             'title': title or first_line(body), 'body': body}
        if m.get('published_at'):
            a['published_at'] = m['published_at']
        articles.append(a)
        print('%3d/%d %-32s %6d chars' % (n, len(manifest), m['id'], len(body)), file=sys.stderr)

    kept = {a['id'] for a in articles}
    rows, changed = relabel(labels, kept)
    report['relabelled_original'] = changed
    dump(os.path.join(args.out, 'articles.jsonl'), articles)
    dump(os.path.join(args.out, 'labels.jsonl'), rows)
    dump(os.path.join(args.out, 'ambiguous_pairs.jsonl'),
         [p for p in pairs if p['a'] in kept and p['b'] in kept])
    with open(os.path.join(args.out, 'build-report.json'), 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print('wrote %d of %d articles to %s (%d failed, %d too short, %d clusters got a new original)'
          % (len(articles), len(manifest), args.out, len(report['failed']), len(report['too_short']),
             len(changed)))


if __name__ == '__main__':
    main()
