//! `redis+cluster://`: the index in a Redis Cluster, where one script may touch only keys of one hash
//! slot, declared in `KEYS`.
//!
//! The standalone backend's atomicity (one script per call) would need every key in one slot here:
//! one hot slot that every ingest touches and that no cluster can spread. So each [`Store`] call is a
//! short sequence of one-slot steps, each step idempotent and safe to retry or to interleave with any
//! other call's steps; the steps of one stage go out concurrently (each node's multiplexed connection
//! writes them back to back, one round trip per node and stage). The steps of an ingest are in
//! [`ingest`], how clusters merge and why that stays correct across slots in [`merge`], expiry and the
//! warm-up in [`retention`]. Scripts are in `lua/cluster/`.
//!
//! # Key layout
//!
//! `SLOT(x)` is the xxh3 of `x` (its low 32 bits, which [`ClusterId::new`] puts at the end of a
//! cluster id as 8 hex digits) modulo [`SLOTS`], as 3 hex digits: the hash tag of an article's keys.
//! So **a cluster shares its founder's slot** (founding a cluster is one script), and an article's
//! number tells the slot of its record. Besides the posting buckets of the parent module, each in its
//! own slot so that band keys spread evenly (`ns` is the namespace):
//!
//! - `ns:a:{SLOT(id)}ID`, string per article: its record, whose cluster field is set once, in place, by
//!   the step that places it (`claim` or `found`). It may name a cluster that was merged away since:
//!   readers follow forwards;
//! - `ns:b:{SLOT(id)}ID`, string: the article's kept text (`--keep-text`), in its record's slot so that
//!   `keep` writes it only while that version is stored, and `remove` and `lapse` delete it with the
//!   record (a replacement removes the old version as a delete does);
//! - `ns:n:{S}` counts the articles numbered in slot `S`; an article's number is `count × SLOTS + S`,
//!   and `ns:i:{S}HIGH` maps it to the id, as on standalone. A counter per slot rather than one, which
//!   would be a key every ingest touches;
//! - `ns:c:{S}CLUSTER`, zset of members, where `S` is the slot of the founder, from the cluster id's
//!   last 8 characters. Every cluster has one, singletons included: standalone's singleton index is
//!   not used here, since moving a founder from it into a zset on the first join would be one more
//!   step of this protocol, with its own cut-short states to repair;
//! - `ns:f:{S}CLUSTER`, the cluster it was merged into, in the zset's slot. Set once, never changed
//!   nor deleted: a chain of forwards only grows at its end, and every id in it is smaller than the
//!   last (the smaller id survives), so chains end;
//! - `ns:t:{S}DAY`, list: retention's time index, per slot and publication day (days since the epoch,
//!   [`TIME_BUCKET_US`]): one entry per ingested article, its published time as 8 bytes then its id,
//!   appended by `insert` in the record's own slot `S`. Every key of a script must share its slot, so
//!   a time bucket shared by all articles would be one slot that every ingest writes; per-slot buckets
//!   add no step and no round trip to an ingest. Days rather than hours because there are [`SLOTS`]
//!   slots, and a bucket key costs Redis's overhead per key however little it holds;
//! - `ns:t:{S}`, zset: the slot's days that have a list (score = the day);
//! - `ns:t:{S}e`, zset (score 0, members are the list entries, so bytewise order is time order): the
//!   slot's edge, the entries of past days that `expire` is working through, among them those of the
//!   day the cutoff falls in that are not due yet;
//! - moderation verdicts ([`verdicts`]): `ns:x:{S}CLUSTER`, set, the clusters this one is kept apart
//!   from, in the zset's slot; a pinned canonical is the member with score -1 in its zset (every other
//!   member has 0, and the zset orders by score first); `ns:v`, list, the verdict log.

mod ingest;
mod merge;
mod retention;
mod verdicts;
mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::future::try_join_all;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Script, Value};

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict};
use crate::error::{Error, Result};
use crate::store::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim};
use crate::store::{Assigned, Expired, Inserted, Lookup, Split, Store, Visitor};

use super::feed::FeedKeys;
use super::{
    CALL_DEADLINE, CONNECTION_TIMEOUT, DEFAULT_NAMESPACE, Lib, NUMBERS_PER_HASH, RESPONSE_TIMEOUT, RedisOptions, bytes,
    claim_layout, load_scripts, member, member_id, record, redact, tcp_settings, validate_namespace, within_deadline,
};
use ingest::Number;

/// Most forwards followed, and most union rounds, before a call gives up: chains are short (each
/// merge makes one hop), so hitting this means a bug or a hand edit.
const MAX_HOPS: usize = 32;

/// Width of a time-index bucket (`ns:t:{S}DAY`): a day (see the module doc).
const TIME_BUCKET_US: Micros = 86_400_000_000;

/// Slots an article's keys are spread over: its record, number counter and number→id hashes share
/// one of these hash tags, so that numbering an article is one script, and the number tells the tag.
pub(super) const SLOTS: u32 = 4096;

/// The compiled scripts; each touches only the keys it is given, all in one slot, but for `insert`,
/// which also posts to buckets of other slots on its own node (`lua/cluster/insert.lua`).
struct Scripts {
    insert: Script,
    post: Script,
    read: Script,
    head: Script,
    add: Script,
    found: Script,
    claim: Script,
    close: Script,
    finish: Script,
    remove: Script,
    unpost: Script,
    fetch: Script,
    due: Script,
    spill: Script,
    lapse: Script,
    rift: Script,
    move_to: Script,
    part: Script,
    pin: Script,
    keep: Script,
}

impl Scripts {
    fn new() -> Self {
        use Lib::{Numbers, Postings, Record};
        let script = |libs: &[Lib], body: &str| super::script(libs, &[body]);
        Scripts {
            insert: script(&[Record, Numbers, Postings], include_str!("../lua/cluster/insert.lua")),
            post: script(&[Numbers, Postings], include_str!("../lua/cluster/post.lua")),
            read: script(&[Numbers, Postings], include_str!("../lua/cluster/read.lua")),
            head: script(&[], include_str!("../lua/cluster/head.lua")),
            add: script(&[], include_str!("../lua/cluster/add.lua")),
            found: script(&[Record], include_str!("../lua/cluster/found.lua")),
            claim: script(&[Record], include_str!("../lua/cluster/claim.lua")),
            close: script(&[], include_str!("../lua/cluster/close.lua")),
            finish: script(&[], include_str!("../lua/cluster/finish.lua")),
            remove: script(&[Record, Numbers], include_str!("../lua/cluster/remove.lua")),
            unpost: script(&[Numbers, Postings], include_str!("../lua/cluster/unpost.lua")),
            fetch: script(&[Record], include_str!("../lua/cluster/fetch.lua")),
            due: script(&[], include_str!("../lua/cluster/due.lua")),
            spill: script(&[], include_str!("../lua/cluster/spill.lua")),
            lapse: script(&[Record, Numbers], include_str!("../lua/cluster/lapse.lua")),
            rift: script(&[], include_str!("../lua/cluster/rift.lua")),
            move_to: script(&[Record], include_str!("../lua/cluster/move.lua")),
            part: script(&[], include_str!("../lua/cluster/part.lua")),
            pin: script(&[], include_str!("../lua/cluster/pin.lua")),
            keep: script(&[Record], include_str!("../lua/cluster/keep.lua")),
        }
    }

    fn all(&self) -> [&Script; 20] {
        [
            &self.insert,
            &self.post,
            &self.read,
            &self.head,
            &self.add,
            &self.found,
            &self.claim,
            &self.close,
            &self.finish,
            &self.remove,
            &self.unpost,
            &self.fetch,
            &self.due,
            &self.spill,
            &self.lapse,
            &self.rift,
            &self.move_to,
            &self.part,
            &self.pin,
            &self.keep,
        ]
    }
}

/// The `redis+cluster://` store: see the module doc.
pub struct RedisClusterStore {
    /// Cheap to clone; follows MOVED/ASK and reconnects by itself.
    connection: ClusterConnection,
    namespace: String,
    scripts: Scripts,
    /// The slot the next `expire` starts at: where the last one stopped.
    expire_from: Mutex<usize>,
}

/// The hash of `id` whose hex digits a cluster id founded by `id` ends with (see [`ClusterId::new`]).
fn id_hash(id: &str) -> u32 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as u32
}

/// An article's slot (0..SLOTS) and its hash tag.
fn slot(id: &str) -> u32 {
    id_hash(id) % SLOTS
}

fn slot_tag(slot: u32) -> String {
    format!("{slot:03x}")
}

/// The hash tag of a cluster's keys: its founder's slot, from the id's last 8 characters when they
/// are hex digits (every id this store makes); any other id (one a client made up) gets a tag of its
/// own.
fn cluster_tag(cluster_id: &ClusterId) -> String {
    let id = cluster_id.as_str();
    let suffix = id.len().checked_sub(8).and_then(|start| id.get(start..));
    let founder_hash = suffix
        .filter(|suffix| suffix.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|suffix| u32::from_str_radix(suffix, 16).ok());
    slot_tag(founder_hash.map_or_else(|| slot(id), |hash| hash % SLOTS))
}

impl RedisClusterStore {
    /// Connects with the default namespace, [`DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_namespace(url, DEFAULT_NAMESPACE).await
    }

    /// Connects to the cluster `url` names: `redis+cluster://[user:password@]host:port[,host:port…]`
    /// (`rediss+cluster://` for TLS), any of its nodes (the client discovers the rest). Fails with
    /// [`Error::Unavailable`] if none can be reached.
    pub async fn connect_with_namespace(url: &str, namespace: &str) -> Result<Self> {
        Self::connect_with_options(url, namespace, &RedisOptions::default()).await
    }

    /// Like [`RedisClusterStore::connect_with_namespace`], with the `--redis-*` options. Waiting for
    /// replicas is refused: a barrier would have to reach every master a call wrote to.
    pub async fn connect_with_options(url: &str, namespace: &str, options: &RedisOptions) -> Result<Self> {
        validate_namespace(namespace)?;
        if options.wait_replicas > 0 {
            return Err(Error::invalid(
                "redis_wait_replicas",
                "waiting for replicas is for redis:// and rediss:// stores, not yet for a redis cluster",
            ));
        }
        let invalid =
            |reason: &str| Error::invalid("store", format!("invalid redis cluster url {}: {reason}", redact(url)));
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
            ("rediss", rest)
        } else {
            return Err(invalid("expected redis+cluster:// or rediss+cluster://"));
        };
        let (credentials, hosts) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, rest),
        };
        let hosts = hosts.trim_end_matches('/');
        let nodes: Vec<String> =
            hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("{scheme}://{h}")).collect();
        if nodes.is_empty() {
            return Err(invalid("no host:port given"));
        }
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3)
            .max_retry_wait(500)
            .tcp_settings(tcp_settings());
        if let Some(certificates) = options.tls_certificates()? {
            builder = builder.certs(certificates);
        }
        if let Some(credentials) = credentials {
            let (user, password) = credentials.split_once(':').unwrap_or(("", credentials));
            if !user.is_empty() {
                builder = builder.username(user);
            }
            builder = builder.password(password);
        }
        let client = builder.build().map_err(|e| invalid(&e.to_string()))?;
        let unreachable = |reason: String| {
            Error::Unavailable(format!("cannot connect to redis cluster at {}: {reason}", redact(url)))
        };
        let mut connection = tokio::time::timeout(CALL_DEADLINE, client.get_async_connection())
            .await
            .map_err(|_| unreachable(format!("no answer within {CALL_DEADLINE:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let scripts = Scripts::new();
        load_scripts(&mut connection, &scripts.all()).await?;
        load_scripts(&mut connection, &super::feed::scripts()).await?;
        claim_layout(&mut connection, namespace, "redis-cluster").await?;
        tracing::info!(url = %redact(url), namespace, "redis cluster store connected");
        Ok(RedisClusterStore { connection, namespace: namespace.to_string(), scripts, expire_from: Mutex::new(0) })
    }

    async fn call<T>(&self, what: &'static str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
        within_deadline(what, call).await
    }

    /// Runs `script` with `keys` (one slot) and `args`.
    async fn run(&self, what: &'static str, script: &Script, keys: &[String], args: &[&[u8]]) -> Result<Value> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        self.call(what, invocation.invoke_async(&mut connection)).await
    }

    /// One plain command.
    async fn command<T: redis::FromRedisValue>(&self, what: &'static str, command: redis::Cmd) -> Result<T> {
        let mut connection = self.connection.clone();
        self.call(what, command.query_async(&mut connection)).await
    }

    fn article_key(&self, id: &str) -> String {
        let [records, _, _] = self.slot_prefixes(&slot_tag(slot(id)));
        records + id
    }

    /// The article's kept text, in its record's slot.
    fn text_key(&self, id: &str) -> String {
        format!("{}:b:{{{}}}{id}", self.namespace, slot_tag(slot(id)))
    }

    /// The prefixes of the record, member zset and forward keys of the slot tagged `tag`: an id or a
    /// cluster id completes them.
    fn slot_prefixes(&self, tag: &str) -> [String; 3] {
        let ns = &self.namespace;
        [format!("{ns}:a:{{{tag}}}"), format!("{ns}:c:{{{tag}}}"), format!("{ns}:f:{{{tag}}}")]
    }

    /// The number counter of a slot, and the prefix of its number→id hashes.
    fn number_keys(&self, slot: u32) -> (String, String) {
        let tag = slot_tag(slot);
        (format!("{}:n:{{{tag}}}", self.namespace), format!("{}:i:{{{tag}}}", self.namespace))
    }

    /// The number→id hash holding `number` and its field there (as `insert.lua` writes them), and the
    /// hash tag of the number's slot, where its record is.
    fn numbered(&self, number: Number) -> (String, String, String) {
        let n = number.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let slot = (n % u64::from(SLOTS)) as u32;
        let seq = n / u64::from(SLOTS);
        let tag = slot_tag(slot);
        let (high, field) = (seq / NUMBERS_PER_HASH, seq % NUMBERS_PER_HASH);
        (format!("{}:i:{{{tag}}}{high}", self.namespace), field.to_string(), tag)
    }

    /// The zset and forward keys of a cluster, in one slot.
    fn cluster_keys(&self, cluster_id: &ClusterId) -> [String; 2] {
        let [_, zset, forward] = self.slot_prefixes(&cluster_tag(cluster_id));
        [zset + cluster_id.as_str(), forward + cluster_id.as_str()]
    }

    /// The set of clusters a cluster is kept apart from, in the cluster's slot.
    fn apart_key(&self, cluster_id: &ClusterId) -> String {
        format!("{}:x:{{{}}}{}", self.namespace, cluster_tag(cluster_id), cluster_id.as_str())
    }

    /// The time-index list of an article's publication day and its slot's list of days, both in the
    /// slot of the article's record.
    fn time_keys(&self, slot: u32, day: Micros) -> [String; 2] {
        let [days, _] = self.slot_time_keys(slot as usize);
        [self.day_key(slot as usize, &day.to_string()), days]
    }

    /// A slot's list of days and its edge.
    fn slot_time_keys(&self, slot: usize) -> [String; 2] {
        let tag = slot_tag(slot as u32);
        [format!("{}:t:{{{tag}}}", self.namespace), format!("{}:t:{{{tag}}}e", self.namespace)]
    }

    /// The time-index list of one day in one slot.
    fn day_key(&self, slot: usize, day: &str) -> String {
        format!("{}:t:{{{}}}{day}", self.namespace, slot_tag(slot as u32))
    }

    /// The record, cluster field and member of an article; `None` if there is none.
    async fn read(&self, id: &str) -> Result<Option<(StoredArticle, String)>> {
        let mut command = redis::cmd("GET");
        command.arg(self.article_key(id));
        let Some(stored) = self.command::<Option<Vec<u8>>>("read", command).await? else { return Ok(None) };
        let article = record::decode(&stored)?;
        let member = member(&article);
        Ok(Some((article, member)))
    }

    /// What a removal leaves to do once the record is gone: its postings, and its membership (the
    /// cluster's canonical re-elected). Returns the canonical afterwards.
    async fn unlink(&self, removed: &StoredArticle, number: Number) -> Result<Option<String>> {
        const WHAT: &str = "delete";
        let own_member = member(removed);
        try_join_all(removed.band_keys.iter().map(|&band| async move {
            let (bucket, field) = self.posting(band)?;
            self.run(WHAT, &self.scripts.unpost, &[bucket], &[&field, &number]).await
        }))
        .await?;
        let Some(named) = removed.cluster_id.clone() else {
            return Ok(None);
        };
        let live = self.resolve(&named).await?.cluster_id;
        self.drop_ghost(&live, &own_member).await?;
        if live != named {
            // members a cut-short merge left behind would bring it back
            self.drop_ghost(&named, &own_member).await?;
        }
        let head = self.resolve(&live).await?;
        let canonical = self.canonical(head, &HashMap::new()).await?;
        Ok(canonical.map(|(_, article)| article.meta.id))
    }
}

#[async_trait]
impl Store for RedisClusterStore {
    fn kind(&self) -> &'static str {
        "redis-cluster"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        let Some((mut article, _)) = self.read(id).await? else { return Ok(None) };
        if let Some(named) = &article.cluster_id {
            article.cluster_id = Some(self.resolve(named).await?.cluster_id);
        }
        Ok(Some(article))
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        self.insert(article, limit).await
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.read_postings(keys, limit).await
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        self.place(article, links).await
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        const WHAT: &str = "cluster";
        let head = self.resolve(cluster_id).await?;
        let [zset, _] = self.cluster_keys(&head.cluster_id);
        let mut command = redis::cmd("ZRANGE");
        command.arg(zset).arg(0).arg(-1);
        let members: Vec<String> = self.command(WHAT, command).await?;
        let records = try_join_all(members.iter().map(|m| self.read(member_id(m)))).await?;
        let members: Vec<StoredArticle> = members
            .iter()
            .zip(records)
            .filter_map(|(expected, record)| {
                // a ghost (deleted, or another version) is no member
                let (article, stored) = record?;
                (&stored == expected).then(|| StoredArticle { cluster_id: Some(head.cluster_id.clone()), ..article })
            })
            .collect();
        if members.is_empty() {
            return Ok(None);
        }
        Ok(Some(ClusterView { cluster_id: head.cluster_id, members }))
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        const WHAT: &str = "delete";
        let (_, hashes) = self.number_keys(slot(id));
        let keys = [self.article_key(id), self.text_key(id)];
        let answer = self.run(WHAT, &self.scripts.remove, &keys, &[hashes.as_bytes()]).await?;
        if matches!(answer, Value::Nil) {
            return Ok(Deleted::default());
        }
        let stored = bytes(WHAT, answer)?;
        let canonical_id = self.unlink(&record::decode(&stored)?, record::number(&stored)?).await?;
        Ok(Deleted { deleted: true, canonical_id })
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.warm_up(limit, visit).await
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.expire_slots(cutoff, limit).await
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts (`verdicts.rs`)

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        self.split_off(from, moving, into).await
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        self.apart_pairs(clusters).await
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        self.join_clusters(a, b).await
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        self.pin_canonical(article).await
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        self.append_verdict(verdict).await
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.read_verdicts(before, limit).await
    }

    // the duplicate feed (`feed.rs`)

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        let mut connection = self.connection.clone();
        super::feed::append(&mut connection, &FeedKeys::new(&self.namespace), event, trim).await
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let mut connection = self.connection.clone();
        super::feed::before(&mut connection, &FeedKeys::new(&self.namespace), before, limit).await
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let mut connection = self.connection.clone();
        super::feed::after(&mut connection, &FeedKeys::new(&self.namespace), after, limit).await
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        let mut connection = self.connection.clone();
        super::feed::bounds(&mut connection, &FeedKeys::new(&self.namespace)).await
    }

    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        const WHAT: &str = "put text";
        let keys = [self.article_key(id), self.text_key(id)];
        let answer = self.run(WHAT, &self.scripts.keep, &keys, &[&content_hash.to_be_bytes()[..], text]).await?;
        Ok(super::integer(WHAT, answer)? == 1)
    }

    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let mut command = redis::cmd("GET");
        command.arg(self.text_key(id));
        self.command("text", command).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster's keys share its founder's slot: founding is one script.
    #[test]
    fn a_cluster_shares_its_founders_tag() {
        let founded = ClusterId::new(1_700_000_000_000_000, "some-article");
        assert_eq!(cluster_tag(&founded), slot_tag(slot("some-article")));
        assert_eq!(cluster_tag(&ClusterId("made-up{}".into())), slot_tag(slot("made-up{}")));
        assert_eq!(id_hash("some-article") % SLOTS, slot("some-article"));
        assert_eq!(member_id(&format!("1{}abc", "0".repeat(32))), "abc");
    }
}
