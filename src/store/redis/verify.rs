//! Reading a whole namespace into an [`Inventory`] for `dedupd verify`, as both Redis backends do it.
//!
//! This is the one place that lists keys (`SCAN … MATCH ns:*`, on every master of a cluster): an
//! operator's check, which reads the whole namespace, never a request's path. Each backend lists its
//! keys and reads their values; [`Layout`] says how its key names are built, and [`build`] turns the
//! values into records, numbers, postings, member lists and forwards. The time index (`ns:t…`) is
//! not checked: it keeps entries of deleted articles by design, and expiry re-checks each one.

use std::collections::BTreeMap;

use redis::Value;

use crate::domain::{ClusterId, SourceTier};
use crate::store::verify::{Inventory, Member, Posted, Problem, Rank, Record};

use super::{NUMBERS_PER_HASH, record};

/// Keys one `SCAN` call asks for, and values read per batch.
pub(super) const BATCH: usize = 512;

/// How a backend names its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `ns:a:ID`, `ns:i:HIGH`, `ns:c:CLUSTER`, `ns:f:CLUSTER`, `ns:s:BUCKET`.
    Standalone,
    /// The same with a slot's hash tag `{SSS}` after the kind: `ns:a:{SSS}ID`, ….
    Cluster,
}

/// What a key holds, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    /// An article record (string).
    Record(String),
    /// A number → id hash: the numbers its field `f` stands for are `(high × NUMBERS_PER_HASH + f)`,
    /// times `SLOTS` plus the slot on a cluster.
    Numbers { high: u64, slot: Option<u64> },
    /// A posting bucket, root or part (string): the band keys' first 3 bytes.
    Bucket([u8; 3]),
    /// A cluster's member zset.
    Members(ClusterId),
    /// A cluster's forward (string).
    Forward(ClusterId),
    /// A singleton-index hash (standalone), by bucket.
    Singletons(u32),
}

impl Key {
    /// The command that reads the key's value.
    pub(super) fn read(&self, name: &str) -> redis::Cmd {
        let mut command = match self {
            Key::Numbers { .. } | Key::Singletons(_) => redis::cmd("HGETALL"),
            Key::Members(_) => {
                let mut zrange = redis::cmd("ZRANGE");
                zrange.arg(name).arg(0).arg(-1).arg("WITHSCORES");
                return zrange;
            }
            Key::Record(_) | Key::Bucket(_) | Key::Forward(_) => redis::cmd("GET"),
        };
        command.arg(name);
        command
    }
}

/// What `name` holds, or `None` for keys verify does not read (counters, the time index, the layout
/// marker, standalone's forward sources).
pub(super) fn classify(namespace: &str, layout: Layout, name: &str) -> Option<Key> {
    let rest = name.strip_prefix(namespace)?.strip_prefix(':')?;
    let (kind, rest) = rest.split_once(':')?;
    // on a cluster every kind is followed by its slot's hash tag
    let (slot, rest) = match (layout, kind) {
        (_, "p") | (Layout::Standalone, _) => (None, rest),
        (Layout::Cluster, _) => {
            let tag = rest.strip_prefix('{')?.get(..3)?;
            (Some(u64::from_str_radix(tag, 16).ok()?), rest.get(5..)?)
        }
    };
    match kind {
        "a" => Some(Key::Record(rest.to_string())),
        "i" => Some(Key::Numbers { high: rest.parse().ok()?, slot }),
        "c" => Some(Key::Members(ClusterId(rest.to_string()))),
        "f" => Some(Key::Forward(ClusterId(rest.to_string()))),
        "s" if layout == Layout::Standalone => Some(Key::Singletons(rest.parse().ok()?)),
        "p" => {
            let hex = rest.strip_prefix('{')?.get(..6)?;
            let value = u32::from_str_radix(hex, 16).ok()?.to_be_bytes();
            Some(Key::Bucket([value[1], value[2], value[3]]))
        }
        _ => None,
    }
}

/// A zset member's rank (`TIER hex16(published) hex16(ingested)`) and id.
pub(super) fn parse_member(raw: &str) -> Member {
    let rank = (|| -> Option<Rank> {
        let tier = match raw.as_bytes().first()? {
            b'0' => SourceTier::Trusted,
            b'1' => SourceTier::Ordinary,
            b'2' => SourceTier::Aggregator,
            _ => return None,
        };
        let time = |at: usize| -> Option<i64> {
            let bits = u64::from_str_radix(raw.get(at..at + 16)?, 16).ok()?;
            Some(record::unsortable(bits.to_be_bytes()))
        };
        Some((tier, time(1)?, time(17)?))
    })();
    Member { id: super::member_id(raw).to_string(), rank, pinned: false, raw: raw.to_string() }
}

/// A number as its bytes in records and postings.
pub(super) fn number_value(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

/// A number as the 5 bytes records and postings hold.
pub(super) fn number_bytes(number: u64) -> [u8; record::NUMBER_WIDTH] {
    let bytes = number.to_be_bytes();
    std::array::from_fn(|i| bytes[8 - record::NUMBER_WIDTH + i])
}

/// The singleton entries read from the standalone index, as (cluster, founder's number).
pub(super) type Singletons = Vec<(ClusterId, u64)>;

/// Builds the inventory from every key read and its value. `slots` is the cluster's number of
/// article slots (numbers are `seq × slots + slot` there).
pub(super) fn build(keys: Vec<(String, Key, Value)>, slots: u64) -> (Inventory, Singletons) {
    let mut inventory = Inventory::default();
    let mut singletons = Vec::new();
    let unreadable = |name: &str, detail: String| Problem::Unreadable { key: name.to_string(), detail };
    for (name, key, value) in keys {
        match (key, value) {
            // gone between the listing and the read
            (_, Value::Nil) => {}
            (Key::Record(id), Value::BulkString(stored)) => {
                match record::decode(&stored).and_then(|article| Ok((article, record::number(&stored)?))) {
                    Ok((article, number)) if article.meta.id == id => {
                        inventory.records.insert(id, Record { article, number: Some(number_value(&number)) });
                    }
                    Ok((article, _)) => {
                        inventory.problems.push(unreadable(&name, format!("holds the record of {}", article.meta.id)));
                    }
                    Err(error) => inventory.problems.push(unreadable(&name, error.to_string())),
                }
            }
            (Key::Numbers { high, slot }, Value::Array(fields)) => {
                for pair in fields.chunks_exact(2) {
                    let (Some(field), Some(id)) = (text(&pair[0]), text(&pair[1])) else { continue };
                    let Ok(field) = field.parse::<u64>() else {
                        inventory.problems.push(unreadable(&name, format!("field {field:?}")));
                        continue;
                    };
                    let seq = high * NUMBERS_PER_HASH + field;
                    let number = slot.map_or(seq, |slot| seq * slots + slot);
                    inventory.numbers.insert(number, id);
                }
            }
            (Key::Bucket(root), Value::BulkString(entries)) => {
                // a split root holds its depth (one byte), its parts the entries
                if entries.len() == 1 {
                    continue;
                }
                if entries.len() % (2 + record::NUMBER_WIDTH) != 0 {
                    inventory.problems.push(unreadable(&name, format!("{} bytes of entries", entries.len())));
                    continue;
                }
                for entry in entries.chunks_exact(2 + record::NUMBER_WIDTH) {
                    let band = record::unband(&[root[0], root[1], root[2], entry[0], entry[1]]);
                    inventory.postings.push((band, Posted::Number(number_value(&entry[2..]))));
                }
            }
            (Key::Members(cluster), Value::Array(members)) => {
                // member, score pairs: a pinned member has a score below 0
                let members: Vec<Member> = members
                    .chunks(2)
                    .filter_map(|pair| {
                        let mut member = parse_member(&text(pair.first()?)?);
                        member.pinned = pair.get(1).and_then(score).is_some_and(|score| score < 0.0);
                        Some(member)
                    })
                    .collect();
                inventory.clusters.insert(cluster, members);
            }
            (Key::Forward(cluster), value) => match text(&value) {
                Some(into) => {
                    inventory.forwards.insert(cluster, ClusterId(into));
                }
                None => inventory.problems.push(unreadable(&name, format!("{value:?}"))),
            },
            (Key::Singletons(bucket), Value::Array(fields)) => {
                for pair in fields.chunks_exact(2) {
                    let (Some(field), Some(number)) = (text(&pair[0]), text(&pair[1])) else { continue };
                    match (singleton_cluster(&field, bucket), number.parse::<u64>()) {
                        (Some(cluster), Ok(number)) => singletons.push((cluster, number)),
                        _ => inventory.problems.push(unreadable(&name, format!("entry {field:?} → {number:?}"))),
                    }
                }
            }
            (_, value) => inventory.problems.push(unreadable(&name, format!("unexpected {value:?}"))),
        }
    }
    (inventory, singletons)
}

/// The cluster id a standalone singleton entry stands for: the field is the id without its dash and
/// last 3 hex digits, which are the bucket's low 12 bits (`lua/standalone/common.lua`).
fn singleton_cluster(field: &str, bucket: u32) -> Option<ClusterId> {
    if field.len() != 21 || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(ClusterId(format!("{}-{}{:03x}", &field[..16], &field[16..], bucket & 0xfff)))
}

/// Adds the standalone singleton clusters to `inventory.clusters`: each entry's founder, when its
/// number leads to a record of that cluster and the cluster has no zset; any other entry is stale.
pub(super) fn add_singletons(inventory: &mut Inventory, singletons: Singletons) {
    let mut found: BTreeMap<ClusterId, Vec<Member>> = BTreeMap::new();
    for (cluster, number) in singletons {
        let founder = inventory
            .numbers
            .get(&number)
            .and_then(|id| inventory.records.get(id))
            .filter(|record| record.number == Some(number) && record.article.cluster_id.as_ref() == Some(&cluster));
        match founder {
            Some(record) if !inventory.clusters.contains_key(&cluster) && !found.contains_key(&cluster) => {
                let raw = super::member(&record.article);
                found.insert(cluster, vec![parse_member(&raw)]);
            }
            _ => inventory.problems.push(Problem::StaleSingleton { cluster }),
        }
    }
    inventory.clusters.extend(found);
}

/// A zset score as `ZRANGE … WITHSCORES` answers it.
fn score(value: &Value) -> Option<f64> {
    match value {
        Value::Double(score) => Some(*score),
        other => text(other)?.parse().ok(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

/// The keys `SCAN` listed in one call, and the cursor to go on from (`0`: done).
pub(super) fn scanned(what: &str, answer: Value) -> crate::error::Result<(u64, Vec<String>)> {
    let [cursor, keys] = super::tuple(what, answer)?;
    let cursor = super::string(what, cursor)?.parse().map_err(|e| super::protocol_error(what, e))?;
    let keys = super::array(what, keys)?
        .into_iter()
        .map(|key| super::string(what, key))
        .collect::<crate::error::Result<_>>()?;
    Ok((cursor, keys))
}

/// `SCAN cursor MATCH ns:* COUNT BATCH`.
pub(super) fn scan(namespace: &str, cursor: u64) -> redis::Cmd {
    let mut command = redis::cmd("SCAN");
    command.arg(cursor).arg("MATCH").arg(format!("{namespace}:*")).arg("COUNT").arg(BATCH);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_classified_by_layout() {
        let standalone = |name| classify("ns", Layout::Standalone, name);
        assert_eq!(standalone("ns:a:some:id"), Some(Key::Record("some:id".into())));
        assert_eq!(standalone("ns:i:12"), Some(Key::Numbers { high: 12, slot: None }));
        assert_eq!(standalone("ns:p:{0a0b0c}:2:1"), Some(Key::Bucket([0x0a, 0x0b, 0x0c])));
        assert_eq!(standalone("ns:s:77"), Some(Key::Singletons(77)));
        assert_eq!(standalone("ns:t:e"), None);
        assert_eq!(standalone("other:a:x"), None);
        let cluster = |name| classify("ns", Layout::Cluster, name);
        assert_eq!(cluster("ns:a:{0ff}id"), Some(Key::Record("id".into())));
        assert_eq!(cluster("ns:i:{010}3"), Some(Key::Numbers { high: 3, slot: Some(16) }));
        assert_eq!(cluster("ns:c:{abc}cid"), Some(Key::Members(ClusterId("cid".into()))));
        assert_eq!(cluster("ns:p:{0a0b0c}"), Some(Key::Bucket([0x0a, 0x0b, 0x0c])));
        assert_eq!(cluster("ns:n:{abc}"), None);
    }

    #[test]
    fn members_and_singleton_entries_read_back() {
        let article = crate::domain::StoredArticle {
            meta: crate::domain::ArticleMeta {
                id: "m-1".into(),
                url: String::new(),
                source: String::new(),
                title: String::new(),
            },
            tier: SourceTier::Ordinary,
            published_us: -5,
            ingested_us: 7,
            content_hash: 0,
            fingerprint: crate::fingerprint::fingerprint("m"),
            band_keys: vec![],
            cluster_id: None,
        };
        let member = parse_member(&super::super::member(&article));
        assert_eq!(member.id, "m-1");
        assert_eq!(member.rank, Some((SourceTier::Ordinary, -5, 7)));
        let cluster = ClusterId::new(1_700_000_000_000_000, "founder");
        let id = cluster.as_str();
        let field = format!("{}{}", &id[..16], &id[17..22]);
        let bucket = u32::from_str_radix(&id[id.len() - 4..], 16).unwrap() % 32768;
        assert_eq!(singleton_cluster(&field, bucket), Some(cluster));
        assert_eq!(number_value(&number_bytes(0x01_0203_0405)), 0x01_0203_0405);
    }
}
