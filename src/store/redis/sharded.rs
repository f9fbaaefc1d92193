//! `redis+cluster://`: the index in a Redis Cluster, where one script may touch only keys of one hash
//! slot, declared in `KEYS`.
//!
//! The standalone backend ([`super::RedisStore`]) keeps its design: one script per call, atomic,
//! two round trips per ingest. On a cluster the same atomicity would need every key in one slot, one
//! hot slot that every ingest touches and that no cluster can spread. So here each [`Store`] call is a
//! short sequence of one-slot steps, each step idempotent and safe to retry or to interleave with any
//! other call's steps; the steps of one stage go out concurrently (each node's multiplexed connection
//! writes them back to back, one round trip per node and stage).
//!
//! # Key layout
//!
//! `SLOT(x)` is the xxh3 of `x` (its low 32 bits, which [`ClusterId::new`] puts at the end of a
//! cluster id as 8 hex digits) modulo 4096, as 3 hex digits: the hash tag of an article's keys. So
//! **a cluster shares its founder's slot** (founding a cluster is one script), and an article's
//! number tells the slot of its record.
//!
//! - `ns:a:{SLOT(id)}ID`, string per article: its record, as standalone (`record.rs`), whose cluster
//!   field is set once, in place, by the step that places it (`claim` or `found`). It may name a
//!   cluster that was merged away since: readers follow forwards;
//! - `ns:n:{S}` counts the articles numbered in slot `S`; an article's number is `count × 4096 + S`,
//!   and `ns:i:{S}HIGH` maps it to the id (as standalone, `HIGH` = count div 64, field count mod 64).
//!   4096 counters rather than one, which would be a key every ingest touches;
//! - `ns:p:{BUCKET}`, the posting buckets of standalone (`redis.rs`): each bucket in its own slot, so
//!   band keys spread evenly, and the parts a grown bucket splits into in its slot (the hash tag);
//! - `ns:c:{S}CLUSTER`, zset of members (score 0, member `TIER hex16 hex16 ID`, the canonical order,
//!   as standalone), where `S` is the slot of the founder, from the cluster id's last 8 characters.
//!   Every cluster has one, singletons included: standalone's singleton index (`ns:s:BUCKET`, see
//!   `redis.rs`) is not used here, since moving a founder from it into a zset on the first join would
//!   be one more step of this protocol, with its own cut-short states to repair;
//! - `ns:f:{S}CLUSTER`, the cluster it was merged into, in the zset's slot. Set once, never changed
//!   nor deleted: a chain of forwards only grows at its end, and every id in it is smaller than the
//!   last (the smaller id survives), so chains end.
//! - `ns:t:{S}DAY`, list: retention's time index, per slot and publication day (days since the epoch,
//!   [`TIME_BUCKET_US`]): one entry per ingested article, its published time as 8 bytes then its id,
//!   appended by `insert` in the record's own slot `S`: every key of a script must share its slot,
//!   so a time bucket shared by all articles would be one slot that every ingest writes; per-slot
//!   buckets add no step and no round trip to an ingest. Days rather than hours because there are
//!   4,096 slots: a bucket key costs ~135 bytes however little it holds (measured; README, *Redis
//!   memory and CPU*);
//! - `ns:t:{S}`, zset: the slot's days that have a list (score = the day); a starting server reads
//!   the newest eight of every slot, and their lists, for its boilerplate warm-up (`visit_recent`);
//! - `ns:t:{S}e`, zset (score 0, members are the list entries, so bytewise order is time order): the
//!   slot's edge, the entries of past days that `expire` is working through, among them those of
//!   the day the cutoff falls in that are not due yet.
//!
//! # Why merges stay correct across slots
//!
//! A member's truth is the zset of the live cluster at the end of its `c`'s forward chain. Every step
//! keeps that true or makes it true again:
//!
//! - **join** = `add` to the target zset and `claim` the article's `c` (set only if unset), sent
//!   together. `add` refuses a closed cluster and answers its forward (followed until a live cluster
//!   takes the member), so a member is never added to a cluster whose members were already taken for
//!   a move; the claim names the target, which resolves to wherever the add ended. If another ingest
//!   claimed the article first (adoption of a racing copy), the two clusters are united. An ingest cut
//!   short between the two leaves either an unclaimed member (reported unassigned, so the retried
//!   ingest assigns it again) or a claim without membership (the retry's `insert` checks membership and
//!   reports it unassigned too; `assign` always re-adds the article itself).
//! - **merge** of `X` into `S` (the smaller id) = `close X` (set the forward, read the members), `add`
//!   them to `S` (following `S`'s forward if `S` was merged meanwhile), `finish X` (drop its zset). From
//!   `close` on, `X`'s members resolve to `S`, so their `c` fields never need rewriting. A merge cut
//!   short leaves a closed cluster with members: whoever resolves through it moves them again (`add` is
//!   idempotent), so the move always completes. Two merges racing on one cluster are serialised by
//!   `close` (one slot): the second learns the forward, resolves, and unites what is left.
//! - a union repeats "resolve every target, merge all into the smallest" until one live cluster is
//!   left, so concurrent unions of overlapping sets converge on the smallest id.
//! - **delete** removes the record first (one script: only one deleter wins), then the postings and the
//!   member. A merge moving the member at the same time can leave it behind as a *ghost* (a member
//!   without its record, or with another version's): readers skip ghosts, and a ghost at the head is
//!   removed when met.
//!
//! # Retention
//!
//! `expire` visits the slots in turn (from where its last call stopped, so repeated calls make
//! progress): `due` reads a slot's days up to the cutoff's and its edge members before the cutoff;
//! `spill` moves due days' entries to the edge (a set: moving twice is harmless) and unlists emptied
//! days; `lapse` drops one edge member and, in the same script, deletes its record if that is still
//! published before the cutoff (a record deleted since, or re-ingested with a later time, is left
//! alone: the later version has its own entry); the rest of a delete follows (postings, membership).
//! Every step is one slot and idempotent, so several replicas may expire at once and a sweep cut short
//! leaves entries that the next one finishes; a record removed but not yet unlinked is what a delete
//! cut short leaves, which readers already tolerate.
//!
//! # Round trips per ingest
//!
//! `insert` (article's node) → `post` every band key (every node holding one) → `fetch` the candidates
//! by number (their nodes) → resolve the clusters they name (the clusters' nodes); then the engine
//! verifies, and `assign` is `found` (article's node) for a new cluster, or `add` (the cluster's node)
//! together with `claim` (the article's node) to join one: the facts `assign` needs about its links
//! are kept from the lookup of the same ingest (a fact gone stale is caught by `add`/`claim`, never
//! trusted). A node gets one round trip per stage it takes part in. `insert` posts the band keys whose
//! buckets its own node serves, after writing the record (`insert.lua`: the one script that touches other
//! slots, of its own node only), so the post stage skips the article's node. A cluster lives in its
//! founder's slot, so `fetch` of a founder also reads its cluster's head and canonical (`fetch.lua`); only
//! clusters named by no fetched founder take the resolve stage. An original costs three stages (four with
//! candidates to fetch): the article's node 3 at most (insert, fetch, found), every other node 2 (post,
//! fetch). A copy joining a cluster whose founder is among its candidates (the usual case: the original)
//! costs four (insert, post, fetch, add+claim), at most three on any node: a node holding only band keys 1
//! (post) or 2 (and a candidate: fetch), the cluster's node 3 (post, fetch, add), the article's node 3
//! (insert, fetch, claim), a node holding both roles 3 (insert, fetch, add+claim); without the founder
//! among the candidates the resolve stage adds one to the cluster's node. Merges and races add steps, off
//! the hot path.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Script, Value};

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, now_micros};
use crate::error::{Error, Result};
use crate::store::{
    Assigned, Candidate, ClusterHead, Expired, Inserted, Lookup, MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY, Store, Visitor,
};

use super::{
    CALL_DEADLINE, CONNECTION_TIMEOUT, RESPONSE_TIMEOUT, array, bytes, claim_layout, integer, load_scripts, member,
    protocol_error, record, redact, string, tcp_settings, tuple, validate_namespace, within_deadline,
};

/// Width of the rank prefix of a member (tier digit and two 16-digit times).
const RANK_WIDTH: usize = 33;
/// Most forwards followed, and most union rounds, before a call gives up: chains are short (each
/// merge makes one hop), so hitting this means a bug or a hand edit.
const MAX_HOPS: usize = 32;
/// Facts kept from lookups for the assigns that follow; an ingest that fails between the two leaves
/// its entry behind, so the map is cleared when it grows past this (a missing entry costs one read).
const MAX_PREPARED: usize = 4096;

/// Width of a time-index bucket (`ns:t:{S}DAY`): a day (see the module doc).
pub const TIME_BUCKET_US: Micros = 86_400_000_000;
/// Slots whose time index `expire` reads at once.
const SLOTS_AT_ONCE: usize = 512;
/// Days of each slot's time index a warm-up reads at most (see `visit_recent`).
const WARM_UP_DAYS: usize = 8;
/// Reads a warm-up keeps in flight: slots' days, lists, records.
const WARM_UP_READS_IN_FLIGHT: usize = 64;
/// Days one `due` step returns: more than one only after retention was off or the sweeper stopped.
const DUE_DAYS: usize = 8;
/// Slots `expire` works on at once (each with up to 24 postings to remove per article): enough to
/// overlap round trips, few enough to leave the connections to ingests.
const EXPIRE_SLOTS_IN_FLIGHT: usize = 32;

/// The compiled scripts; each touches only the keys it is given, all in one slot, but for `insert`, which
/// also posts to buckets of other slots on its own node (`insert.lua`).
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
}

impl Scripts {
    fn new() -> Self {
        // the scripts that read a record's header get its helpers
        let with_record = |body: &str| Script::new(&format!("{}\n{body}", include_str!("sharded/record.lua")));
        let with_numbers = |body: &str| Script::new(&format!("{}\n{body}", include_str!("numbers.lua")));
        let with_record_and_numbers = |body: &str| {
            Script::new(&format!("{}\n{}\n{body}", include_str!("sharded/record.lua"), include_str!("numbers.lua")))
        };
        // the scripts that post or read postings also get the posting buckets
        let with_postings = |body: &str| {
            Script::new(&format!("{}\n{}\n{body}", include_str!("numbers.lua"), include_str!("postings.lua")))
        };
        Scripts {
            // the one script that touches other slots (those its node serves): see insert.lua
            insert: Script::new(&format!(
                "#!lua flags=allow-cross-slot-keys\n{}\n{}\n{}",
                include_str!("numbers.lua"),
                include_str!("postings.lua"),
                include_str!("sharded/insert.lua")
            )),
            post: with_postings(include_str!("sharded/post.lua")),
            read: with_postings(include_str!("sharded/read.lua")),
            head: Script::new(include_str!("sharded/head.lua")),
            add: Script::new(include_str!("sharded/add.lua")),
            found: with_record(include_str!("sharded/found.lua")),
            claim: with_record(include_str!("sharded/claim.lua")),
            close: Script::new(include_str!("sharded/close.lua")),
            finish: Script::new(include_str!("sharded/finish.lua")),
            remove: with_numbers(include_str!("sharded/remove.lua")),
            unpost: with_postings(include_str!("sharded/unpost.lua")),
            fetch: with_record_and_numbers(include_str!("sharded/fetch.lua")),
            due: Script::new(include_str!("sharded/due.lua")),
            spill: Script::new(include_str!("sharded/spill.lua")),
            lapse: with_record_and_numbers(include_str!("sharded/lapse.lua")),
        }
    }

    fn all(&self) -> [&Script; 15] {
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
        ]
    }
}

/// What an article's lookup learned about it and its candidates, for its assign.
struct Prepared {
    member: String,
    /// Candidate id → (member, cluster as resolved at lookup time).
    candidates: HashMap<String, (String, Option<ClusterId>)>,
}

/// An article taking part in an assign: its member and its cluster (`None`: unassigned).
struct Fact {
    id: String,
    member: String,
    cluster: Option<ClusterId>,
}

/// A candidate as `fetch` read it: its record and member and, when its cluster lives in its slot, the
/// cluster's head (unless forwarded) and the canonical's record (when in that slot too).
struct Fetched {
    article: StoredArticle,
    member: String,
    head: Option<Head>,
    canonical: Option<StoredArticle>,
}

/// A live cluster and its first member (`""` when empty).
struct Head {
    cluster_id: ClusterId,
    first: String,
}

pub struct RedisClusterStore {
    /// Cheap to clone; follows MOVED/ASK and reconnects by itself.
    connection: ClusterConnection,
    namespace: String,
    scripts: Scripts,
    prepared: Mutex<HashMap<String, Prepared>>,
    /// The slot the next `expire` starts at: where the last one stopped.
    expire_from: Mutex<usize>,
}

/// Slots an article's keys are spread over: its record, number counter and number→id hashes share
/// one of these hash tags, so that numbering an article is one script, and the number tells the tag.
const SLOTS: u32 = 4096;

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

/// An article number as the scripts write it.
type Number = [u8; record::NUMBER_WIDTH];

/// The numbers in a `post` or `read` answer: an array of integers (what the scripts' Lua numbers
/// become in a reply, with no string made for each).
fn numbers(what: &str, answer: Value) -> Result<Vec<Number>> {
    array(what, answer)?
        .into_iter()
        .map(|n| {
            let n = integer(what, n)?;
            if !(0..1 << (8 * record::NUMBER_WIDTH)).contains(&n) {
                return Err(protocol_error(what, format!("article number {n} out of range")));
            }
            let bytes = n.to_be_bytes();
            Ok(std::array::from_fn(|i| bytes[8 - record::NUMBER_WIDTH + i]))
        })
        .collect()
}

/// A slot's due time-index days and edge members, as `due` answers.
struct Due {
    days: Vec<String>,
    members: Vec<Vec<u8>>,
}

fn member_id(member: &str) -> &str {
    member.get(RANK_WIDTH..).unwrap_or("")
}

impl RedisClusterStore {
    /// Connects with the default namespace, [`super::DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_namespace(url, super::DEFAULT_NAMESPACE).await
    }

    /// Connects to the cluster `url` names: `redis+cluster://[user:password@]host:port[,host:port…]`,
    /// any of its nodes (the client discovers the rest). Fails with [`Error::Unavailable`] if none can
    /// be reached.
    pub async fn connect_with_namespace(url: &str, namespace: &str) -> Result<Self> {
        validate_namespace(namespace)?;
        let invalid =
            |reason: &str| Error::invalid("store", format!("invalid redis cluster url {}: {reason}", redact(url)));
        let rest = url.strip_prefix("redis+cluster://").ok_or_else(|| invalid("expected redis+cluster://"))?;
        let (credentials, hosts) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, rest),
        };
        let hosts = hosts.trim_end_matches('/');
        let nodes: Vec<String> = hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect();
        if nodes.is_empty() {
            return Err(invalid("no host:port given"));
        }
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3)
            .max_retry_wait(500)
            .tcp_settings(tcp_settings());
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
        claim_layout(&mut connection, namespace, "redis-cluster").await?;
        tracing::info!(url = %redact(url), namespace, "redis cluster store connected");
        Ok(RedisClusterStore {
            connection,
            namespace: namespace.to_string(),
            scripts,
            prepared: Mutex::new(HashMap::new()),
            expire_from: Mutex::new(0),
        })
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
    fn numbered(&self, number: &Number) -> (String, String, String) {
        let n = number.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let slot = (n % u64::from(SLOTS)) as u32;
        let seq = n / u64::from(SLOTS);
        let tag = slot_tag(slot);
        (format!("{}:i:{{{tag}}}{}", self.namespace, seq / 64), (seq % 64).to_string(), tag)
    }

    /// The record numbered `number`, with its member and, when its cluster lives in its slot, that
    /// cluster's head (`fetch.lua`); `None` if that article is gone.
    async fn fetch(&self, number: &Number) -> Result<Option<Fetched>> {
        const WHAT: &str = "fetch";
        let (hash, field, tag) = self.numbered(number);
        let [records, zsets, forwards] = self.slot_prefixes(&tag);
        let args: [&[u8]; 5] = [field.as_bytes(), number, records.as_bytes(), zsets.as_bytes(), forwards.as_bytes()];
        let answer = self.run(WHAT, &self.scripts.fetch, &[hash], &args).await?;
        if matches!(answer, Value::Nil) {
            return Ok(None);
        }
        let mut items = array(WHAT, answer)?.into_iter();
        let record = items.next().ok_or_else(|| protocol_error(WHAT, "no record"))?;
        let article = record::decode(&bytes(WHAT, record)?)?;
        let member = member(&article);
        let (head, canonical) = match (items.next(), items.next()) {
            (None, None) => (None, None),
            (Some(head), Some(canonical)) => {
                let mut head = array(WHAT, head)?.into_iter();
                let head = match (head.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), head.next()) {
                    (Some("h"), Some(first)) => {
                        let first = string(WHAT, first)?;
                        article.cluster_id.clone().map(|cluster_id| Head { cluster_id, first })
                    }
                    // forwarded: `resolve` follows it (and finishes a move cut short)
                    (Some("f"), Some(_)) => None,
                    _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' head")),
                };
                let canonical = match canonical {
                    Value::Nil => None,
                    canonical => Some(record::decode(&bytes(WHAT, canonical)?)?),
                };
                (head, canonical)
            }
            _ => return Err(protocol_error(WHAT, "expected a record, or a record and its cluster's head")),
        };
        Ok(Some(Fetched { article, member, head, canonical }))
    }

    /// The root of the posting bucket a band key is posted in, and its field there (see `redis.rs`):
    /// each bucket its own slot, so postings spread over the cluster; the root's name is its hash
    /// tag, so the parts it splits into as it grows (`postings.lua`) share its slot.
    fn posting(&self, band: u64) -> Result<(String, [u8; 2])> {
        let [tag, a, b, c, d] = record::band(band)?;
        Ok((format!("{}:p:{{{tag:02x}{a:02x}{b:02x}}}", self.namespace), [c, d]))
    }

    /// The zset and forward keys of a cluster, in one slot.
    fn cluster_keys(&self, cluster_id: &ClusterId) -> [String; 2] {
        let [_, zset, forward] = self.slot_prefixes(&cluster_tag(cluster_id));
        [zset + cluster_id.as_str(), forward + cluster_id.as_str()]
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

    fn with_prepared<T>(&self, f: impl FnOnce(&mut HashMap<String, Prepared>) -> T) -> T {
        let mut prepared = self.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut prepared)
    }

    // -----------------------------------------------------------------------------------------------
    // clusters

    /// The live cluster `cluster_id` resolves to, with its first member. Completes any move a merge
    /// left unfinished on the way.
    async fn resolve(&self, cluster_id: &ClusterId) -> Result<Head> {
        const WHAT: &str = "resolve";
        let mut current = cluster_id.clone();
        for _ in 0..MAX_HOPS {
            let keys = self.cluster_keys(&current);
            let answer = array(WHAT, self.run(WHAT, &self.scripts.head, &keys, &[]).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next(), items.next()) {
                (Some("h"), Some(first), None) => return Ok(Head { cluster_id: current, first: string(WHAT, first)? }),
                (Some("f"), Some(into), Some(pending)) => {
                    let into = ClusterId(string(WHAT, into)?);
                    if integer(WHAT, pending)? > 0 {
                        // a merge was cut short between close and finish: finish it
                        self.move_members(&current, &into).await?;
                    }
                    current = into;
                }
                _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' answer")),
            }
        }
        Err(Error::Internal(format!("redis resolve: cluster {cluster_id} forwards more than {MAX_HOPS} times")))
    }

    /// Adds members to a cluster, following its forwards; returns the live cluster they are in.
    async fn add(&self, cluster_id: &ClusterId, members: &[String]) -> Result<Head> {
        const WHAT: &str = "add";
        let mut current = cluster_id.clone();
        let args: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        for _ in 0..MAX_HOPS {
            let keys = self.cluster_keys(&current);
            let answer = array(WHAT, self.run(WHAT, &self.scripts.add, &keys, &args).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
                (Some("h"), Some(first)) => return Ok(Head { cluster_id: current, first: string(WHAT, first)? }),
                (Some("f"), Some(into)) => current = ClusterId(string(WHAT, into)?),
                _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' answer")),
            }
        }
        Err(Error::Internal(format!("redis add: cluster {cluster_id} forwards more than {MAX_HOPS} times")))
    }

    /// Merges `absorbed` into `survivor` (see the module doc). Returns without doing anything when
    /// `absorbed` was merged elsewhere first: the caller resolves again.
    async fn merge(&self, absorbed: &ClusterId, survivor: &ClusterId) -> Result<()> {
        debug_assert!(survivor < absorbed, "the older (smaller) cluster id survives");
        self.move_members(absorbed, survivor).await
    }

    /// `close`, `add` to the survivor, `finish`: each step idempotent, so this also completes a merge
    /// that was cut short.
    async fn move_members(&self, absorbed: &ClusterId, survivor: &ClusterId) -> Result<()> {
        const WHAT: &str = "merge";
        let keys = self.cluster_keys(absorbed);
        let answer = array(WHAT, self.run(WHAT, &self.scripts.close, &keys, &[survivor.as_str().as_bytes()]).await?)?;
        let mut items = answer.into_iter();
        let members = match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
            (Some("m"), Some(members)) => {
                array(WHAT, members)?.into_iter().map(|m| string(WHAT, m)).collect::<Result<Vec<_>>>()?
            }
            (Some("f"), Some(_)) => return Ok(()),
            _ => return Err(protocol_error(WHAT, "expected an 'm' or 'f' answer")),
        };
        if !members.is_empty() {
            self.add(survivor, &members).await?;
        }
        self.run(WHAT, &self.scripts.finish, &keys, &[]).await?;
        Ok(())
    }

    /// Unites clusters until one live cluster is left: the smallest id.
    async fn unite(&self, targets: &BTreeSet<ClusterId>) -> Result<Head> {
        let mut targets = targets.clone();
        for _ in 0..MAX_HOPS {
            let heads = try_join_all(targets.iter().map(|t| self.resolve(t))).await?;
            let live: BTreeSet<ClusterId> = heads.iter().map(|h| h.cluster_id.clone()).collect();
            let Some(survivor) = live.first().cloned() else {
                return Err(Error::Internal("redis unite: no cluster to unite".into()));
            };
            if live.len() == 1 {
                let head = heads.into_iter().find(|h| h.cluster_id == survivor);
                return head.ok_or_else(|| Error::Internal("redis unite: lost the survivor".into()));
            }
            for absorbed in live.iter().skip(1) {
                self.merge(absorbed, &survivor).await?;
            }
            targets = live;
        }
        Err(Error::Internal(format!("redis unite: no single cluster after {MAX_HOPS} rounds")))
    }

    // -----------------------------------------------------------------------------------------------
    // articles

    /// The record, cluster field and member of an article; `None` if there is none.
    async fn read(&self, id: &str) -> Result<Option<(StoredArticle, String)>> {
        let mut command = redis::cmd("GET");
        command.arg(self.article_key(id));
        let Some(stored) = self.command::<Option<Vec<u8>>>("read", command).await? else { return Ok(None) };
        let article = record::decode(&stored)?;
        let member = member(&article);
        Ok(Some((article, member)))
    }

    /// The canonical of a live cluster whose first member is `head.first`, skipping (and removing)
    /// ghosts; `None` if the cluster is empty.
    async fn canonical(
        &self,
        head: Head,
        known: &HashMap<String, StoredArticle>,
    ) -> Result<Option<(ClusterId, StoredArticle)>> {
        let mut head = head;
        for _ in 0..MAX_HOPS {
            if head.first.is_empty() {
                return Ok(None);
            }
            let id = member_id(&head.first).to_string();
            if let Some(article) = known.get(&id)
                && member(article) == head.first
            {
                let canonical = StoredArticle { cluster_id: Some(head.cluster_id.clone()), ..article.clone() };
                return Ok(Some((head.cluster_id, canonical)));
            }
            match self.read(&id).await? {
                Some((article, stored_member)) if stored_member == head.first => {
                    return Ok(Some((
                        head.cluster_id.clone(),
                        StoredArticle { cluster_id: Some(head.cluster_id), ..article },
                    )));
                }
                _ => {
                    self.drop_ghost(&head.cluster_id, &head.first).await?;
                    head = self.resolve(&head.cluster_id).await?;
                }
            }
        }
        Err(Error::Internal("redis canonical: too many ghosts".into()))
    }

    async fn is_member(&self, cluster_id: &ClusterId, member: &str) -> Result<bool> {
        let [zset, _] = self.cluster_keys(cluster_id);
        let mut command = redis::cmd("ZSCORE");
        command.arg(zset).arg(member);
        Ok(self.command::<Option<f64>>("member", command).await?.is_some())
    }

    async fn drop_ghost(&self, cluster_id: &ClusterId, ghost: &str) -> Result<()> {
        let [zset, _] = self.cluster_keys(cluster_id);
        let mut command = redis::cmd("ZREM");
        command.arg(zset).arg(ghost);
        self.command::<i64>("ghost", command).await?;
        Ok(())
    }

    /// Candidates and heads for the ids found under the looked-up keys, with how many keys each shares.
    async fn candidates(&self, counts: HashMap<Number, u32>, limit: usize) -> Result<(Lookup, Vec<(String, String)>)> {
        let mut shared: Vec<(Number, u32)> = counts.into_iter().filter(|&(_, n)| n >= MIN_SHARED_KEYS).collect();
        // only the most shared can make the cut; ties at the cut are broken by id, which only the
        // records know, so every article tied with the last one kept is read
        if shared.len() > limit {
            shared.sort_unstable_by_key(|&(_, n)| std::cmp::Reverse(n));
            let cut = limit.checked_sub(1).map_or(u32::MAX, |last| shared[last].1);
            shared.retain(|&(_, n)| n >= cut);
        }
        let fetched = try_join_all(shared.iter().map(|(number, _)| self.fetch(number))).await?;
        let mut found: Vec<(Candidate, String)> = Vec::new();
        // heads and canonicals that came with the records, by the cluster named in the record
        let mut fetched_heads: HashMap<ClusterId, Head> = HashMap::new();
        let mut known: HashMap<String, StoredArticle> = HashMap::new();
        for ((_, shared_keys), fetched) in shared.into_iter().zip(fetched) {
            let Some(Fetched { article, member, head, canonical }) = fetched else { continue };
            if let Some(head) = head {
                fetched_heads.insert(head.cluster_id.clone(), head);
            }
            if let Some(canonical) = canonical {
                known.insert(canonical.meta.id.clone(), canonical);
            }
            found.push((Candidate { article, shared_keys }, member));
        }
        found.sort_unstable_by(|(a, _), (b, _)| {
            b.shared_keys.cmp(&a.shared_keys).then_with(|| a.article.meta.id.cmp(&b.article.meta.id))
        });
        found.truncate(limit);
        // the clusters as named in the records, resolved to the live ones: a head read with a record
        // is as fresh as one read now would be (a stage later), so only the others take a step
        let named: BTreeSet<ClusterId> = found.iter().filter_map(|(c, _)| c.article.cluster_id.clone()).collect();
        let heads = try_join_all(named.iter().map(|c| (c, fetched_heads.remove(c))).map(|(c, fetched)| async move {
            match fetched {
                Some(head) => Ok(head),
                None => self.resolve(c).await,
            }
        }))
        .await?;
        let live: HashMap<ClusterId, ClusterId> =
            named.into_iter().zip(heads.iter().map(|h| h.cluster_id.clone())).collect();
        for (candidate, _) in &mut found {
            if let Some(named) = &candidate.article.cluster_id {
                candidate.article.cluster_id = live.get(named).cloned();
            }
        }
        known.extend(found.iter().map(|(c, _)| (c.article.meta.id.clone(), c.article.clone())));
        let mut distinct: Vec<Head> = Vec::new();
        for head in heads {
            if !distinct.iter().any(|h| h.cluster_id == head.cluster_id) {
                distinct.push(head);
            }
        }
        let canonicals = try_join_all(distinct.into_iter().map(|head| self.canonical(head, &known))).await?;
        let clusters = canonicals
            .into_iter()
            .flatten()
            .map(|(cluster_id, canonical)| ClusterHead { cluster_id, canonical })
            .collect();
        let members = found.iter().map(|(c, m)| (c.article.meta.id.clone(), m.clone())).collect();
        let candidates = found.into_iter().map(|(c, _)| c).collect();
        Ok((Lookup { candidates, clusters }, members))
    }

    /// Own and linked articles as they are now (one read each, concurrently); `None` if `id` is gone.
    async fn facts(&self, id: &str, links: &[String]) -> Result<Option<Vec<Fact>>> {
        let ids: Vec<&str> = std::iter::once(id).chain(links.iter().map(String::as_str)).collect();
        let records = try_join_all(ids.iter().map(|id| self.read(id))).await?;
        let mut facts = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            match record {
                Some((article, member)) => {
                    facts.push(Fact { id: article.meta.id, member, cluster: article.cluster_id })
                }
                None if i == 0 => return Ok(None),
                // a link that no longer exists is ignored
                None => {}
            }
        }
        Ok(Some(facts))
    }
}

/// `{'x'}`, `{'c', cluster}`, `{'h', first}` or `{'ok'}`, as found and claim answer.
enum Placed {
    Gone,
    Elsewhere(ClusterId),
    Head(String),
    Claimed,
}

fn placed(what: &str, answer: Value) -> Result<Placed> {
    let mut items = array(what, answer)?.into_iter();
    match (items.next().map(|t| string(what, t)).transpose()?.as_deref(), items.next()) {
        (Some("x"), None) => Ok(Placed::Gone),
        (Some("ok"), None) => Ok(Placed::Claimed),
        (Some("c"), Some(cluster)) => Ok(Placed::Elsewhere(ClusterId(string(what, cluster)?))),
        (Some("h"), Some(first)) => Ok(Placed::Head(string(what, first)?)),
        _ => Err(protocol_error(what, "expected an 'x', 'ok', 'c' or 'h' answer")),
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
        const WHAT: &str = "insert";
        debug_assert!(article.cluster_id.is_none(), "new articles are inserted unassigned");
        let id = article.meta.id.clone();
        // facts an earlier attempt left behind may be of another version: never reuse them
        self.with_prepared(|prepared| prepared.remove(&id));
        let own_member = member(&article);
        let encoded = record::encode(&article)?;
        let own_slot = slot(&id);
        let (counter, hashes) = self.number_keys(own_slot);
        // the time-index entry rides on this step: same slot, no round trip of its own
        let day = article.published_us.div_euclid(TIME_BUCKET_US);
        let [list, days] = self.time_keys(own_slot, day);
        let keys = [self.article_key(&id), counter, list, days];
        let entry = [&record::sortable(article.published_us)[..], id.as_bytes()].concat();
        let (own_slot, day) = (own_slot.to_string(), day.to_string());
        let cap = POSTINGS_READ_PER_KEY.to_string();
        let postings = article.band_keys.iter().map(|&band| self.posting(band)).collect::<Result<Vec<_>>>()?;
        let mut args: Vec<&[u8]> = vec![
            &encoded,
            id.as_bytes(),
            hashes.as_bytes(),
            own_slot.as_bytes(),
            &entry,
            day.as_bytes(),
            cap.as_bytes(),
        ];
        for (bucket, field) in &postings {
            args.extend([bucket.as_bytes(), &field[..]]);
        }
        let mut own_number: Option<Number> = None;
        // per band key, what `insert` found posted under it on its own node (`None`: another node's)
        let mut posted_here: Vec<Option<Vec<Number>>> = Vec::new();
        // another version is removed first (as a delete would), then this one is written
        for _ in 0..3 {
            let answer = array(WHAT, self.run(WHAT, &self.scripts.insert, &keys, &args).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
                (Some("n"), Some(number)) => {
                    let number = bytes(WHAT, number)?;
                    own_number =
                        Some(number.try_into().map_err(|_| protocol_error(WHAT, "a number of unexpected width"))?);
                    posted_here = items
                        .map(|found| match found {
                            Value::Nil => Ok(None),
                            found => numbers(WHAT, found).map(Some),
                        })
                        .collect::<Result<_>>()?;
                    if posted_here.len() != postings.len() {
                        return Err(protocol_error(WHAT, "expected an answer per band key"));
                    }
                    break;
                }
                (Some("r"), None) => {
                    self.delete(&id).await?;
                }
                (Some("u"), Some(stored)) => {
                    let mut stored = record::decode(&bytes(WHAT, stored)?)?;
                    let Some(named) = stored.cluster_id.take() else {
                        return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id: id });
                    };
                    let head = self.resolve(&named).await?;
                    if !self.is_member(&head.cluster_id, &member(&stored)).await? {
                        // claimed by an ingest cut short before its add: unassigned, so that the
                        // retry assigns it again
                        return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id: id });
                    }
                    stored.cluster_id = Some(head.cluster_id.clone());
                    let canonical_id =
                        if head.first.is_empty() { id.clone() } else { member_id(&head.first).to_string() };
                    return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id });
                }
                _ => return Err(protocol_error(WHAT, "expected an 'n', 'r' or 'u' answer")),
            }
        }
        let Some(own_number) = own_number else {
            return Err(Error::Unavailable(format!("redis {WHAT}: {id} keeps being replaced concurrently")));
        };
        // the record exists before any posting names it, so whoever finds the number can read it;
        // `insert` posted the band keys of its own node, the others are posted now
        let posted = try_join_all(postings.iter().zip(posted_here).map(|((bucket, field), here)| {
            let (number, cap) = (&own_number, &cap);
            async move {
                if let Some(found) = here {
                    return Ok(found);
                }
                let answer = self
                    .run("post", &self.scripts.post, std::slice::from_ref(bucket), &[field, number, cap.as_bytes()])
                    .await?;
                numbers("post", answer)
            }
        }))
        .await?;
        let mut counts: HashMap<Number, u32> = HashMap::new();
        for found in posted.into_iter().flatten() {
            if found != own_number {
                *counts.entry(found).or_default() += 1;
            }
        }
        let (lookup, members) = self.candidates(counts, limit).await?;
        let candidates = members
            .into_iter()
            .zip(lookup.candidates.iter())
            .map(|((candidate, member), c)| (candidate, (member, c.article.cluster_id.clone())))
            .collect();
        self.with_prepared(|prepared| {
            if prepared.len() >= MAX_PREPARED {
                prepared.clear();
            }
            prepared.insert(id.clone(), Prepared { member: own_member, candidates });
        });
        Ok(Inserted::New(lookup))
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        let cap = POSTINGS_READ_PER_KEY.to_string();
        let posted = try_join_all(keys.iter().map(|&band| {
            let cap = &cap;
            async move {
                let (bucket, field) = self.posting(band)?;
                let answer = self.run("lookup", &self.scripts.read, &[bucket], &[&field, cap.as_bytes()]).await?;
                numbers("lookup", answer)
            }
        }))
        .await?;
        let mut counts: HashMap<Number, u32> = HashMap::new();
        for found in posted.into_iter().flatten() {
            *counts.entry(found).or_default() += 1;
        }
        Ok(self.candidates(counts, limit).await?.0)
    }

    async fn assign(&self, id: &str, links: &[String]) -> Result<Assigned> {
        const WHAT: &str = "assign";
        let not_found = || Error::NotFound { what: "article", id: id.to_string() };
        // what the lookup of this ingest saw; stale facts are safe (add follows forwards, claim
        // refuses to overwrite a cluster and reports ghosts), missing ones are read
        let prepared = self.with_prepared(|prepared| prepared.remove(id));
        let facts = match prepared {
            Some(prepared) if links.iter().all(|l| prepared.candidates.contains_key(l)) => {
                let mut facts = vec![Fact { id: id.to_string(), member: prepared.member, cluster: None }];
                for link in links {
                    if let Some((member, cluster)) = prepared.candidates.get(link) {
                        facts.push(Fact { id: link.clone(), member: member.clone(), cluster: cluster.clone() });
                    }
                }
                facts
            }
            _ => self.facts(id, links).await?.ok_or_else(not_found)?,
        };
        let mut targets: BTreeSet<ClusterId> = facts.iter().filter_map(|f| f.cluster.clone()).collect();
        // the own member is added even when the article has a cluster (adding is idempotent): an
        // ingest cut short between claim and add left it claimed but no member, and this is its retry
        let mut to_add: Vec<String> =
            facts.iter().filter(|f| f.cluster.is_none() || f.id == id).map(|f| f.member.clone()).collect();
        let mut to_claim: Vec<&Fact> = facts.iter().filter(|f| f.cluster.is_none()).collect();
        for _ in 0..MAX_HOPS {
            let head = if targets.is_empty() {
                // a new cluster, founded by this article in its own slot: found = add + claim
                let founded = ClusterId::new(now_micros(), id);
                let [zset, _] = self.cluster_keys(&founded);
                let keys = [self.article_key(id), zset];
                let own_member = facts.first().map(|f| f.member.as_bytes()).unwrap_or_default();
                let args: [&[u8]; 2] = [founded.as_str().as_bytes(), own_member];
                match placed(WHAT, self.run(WHAT, &self.scripts.found, &keys, &args).await?)? {
                    Placed::Gone => return Err(not_found()),
                    Placed::Elsewhere(cluster) => {
                        // adopted by a racing ingest since the lookup
                        targets.insert(cluster);
                        to_claim.retain(|f| f.id != id);
                        continue;
                    }
                    Placed::Head(first) => {
                        let own = to_claim.iter().position(|f| f.id == id);
                        if let Some(own) = own {
                            to_add.retain(|m| m != &to_claim[own].member);
                            to_claim.remove(own);
                        }
                        if to_add.is_empty() {
                            return Ok(Assigned { cluster_id: founded, canonical_id: member_id(&first).to_string() });
                        }
                        founded
                    }
                    Placed::Claimed => return Err(protocol_error(WHAT, "found answered 'ok'")),
                }
            } else if targets.len() == 1 {
                // one cluster: add follows its forwards, nothing to resolve first
                targets.first().cloned().ok_or_else(|| protocol_error(WHAT, "no target"))?
            } else {
                self.unite(&targets).await?.cluster_id
            };
            // join = add and claim at once: the claim names `head`, which resolves to wherever the add
            // ends; a claim without its add (cut short) is repaired by the retry (see above)
            let add =
                async { if to_add.is_empty() { self.resolve(&head).await } else { self.add(&head, &to_add).await } };
            let claims = try_join_all(to_claim.iter().map(|fact| {
                let keys = [self.article_key(&fact.id)];
                let cluster = head.as_str().as_bytes();
                async move {
                    let answer = self.run(WHAT, &self.scripts.claim, &keys, &[cluster, fact.member.as_bytes()]).await?;
                    placed(WHAT, answer)
                }
            }));
            let (live, claims) = futures::try_join!(add, claims)?;
            let mut elsewhere: Vec<ClusterId> = Vec::new();
            for (fact, claim) in to_claim.iter().zip(claims) {
                match claim {
                    Placed::Claimed | Placed::Head(_) => {}
                    Placed::Gone => {
                        self.drop_ghost(&live.cluster_id, &fact.member).await?;
                        if fact.id == id {
                            return Err(not_found());
                        }
                    }
                    Placed::Elsewhere(cluster) => elsewhere.push(cluster),
                }
            }
            if elsewhere.is_empty() {
                let canonical_id =
                    if live.first.is_empty() { id.to_string() } else { member_id(&live.first).to_string() };
                return Ok(Assigned { cluster_id: live.cluster_id, canonical_id });
            }
            // placed by a racing ingest first: unite the clusters (every joiner is a member already)
            targets = elsewhere.into_iter().chain(std::iter::once(live.cluster_id)).collect();
            to_add.clear();
            to_claim.clear();
        }
        Err(Error::Internal(format!("redis {WHAT}: {id} did not settle in {MAX_HOPS} rounds")))
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
        let answer = self.run(WHAT, &self.scripts.remove, &[self.article_key(id)], &[hashes.as_bytes()]).await?;
        if matches!(answer, Value::Nil) {
            return Ok(Deleted::default());
        }
        let stored = bytes(WHAT, answer)?;
        let canonical_id = self.unlink(&record::decode(&stored)?, record::number(&stored)?).await?;
        Ok(Deleted { deleted: true, canonical_id })
    }

    /// Every slot's newest `WARM_UP_DAYS` days (`ns:t:{S}`, `WARM_UP_READS_IN_FLIGHT` slots at a
    /// time), then the days' lists newest day first, each from its end, until `limit` entries; the
    /// entries (published time, then id) sort by time across slots, and the records of the newest
    /// `limit` ids are read and shown oldest first. Only the days from which every slot was read are
    /// used (a slot with more days may hold older articles of any day before its oldest read one),
    /// so a warm-up covers at most the eight newest days of the busiest slots; newer days are read
    /// first, and older ones only while `limit` is not reached. Entries of deleted articles
    /// count towards `limit` and are skipped; a re-ingested article counts once and is shown once,
    /// at its newest entry.
    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        const WHAT: &str = "visit recent";
        if limit == 0 {
            return Ok(());
        }
        let newest_days = futures::stream::iter(0..SLOTS as usize)
            .map(|slot| async move {
                let [days_key, _] = self.slot_time_keys(slot);
                let mut newest = redis::cmd("ZREVRANGE");
                newest.arg(days_key).arg(0).arg(WARM_UP_DAYS - 1);
                let days: Vec<String> = self.command(WHAT, newest).await?;
                Ok::<_, Error>((slot, days))
            })
            .buffered(WARM_UP_READS_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        // a slot that has more days than were read may hold articles of any day before its oldest
        // read one: the index is complete only from the latest such day on
        let complete_from = newest_days
            .iter()
            .filter(|(_, days)| days.len() >= WARM_UP_DAYS)
            .filter_map(|(_, days)| days.last()?.parse::<i64>().ok())
            .max()
            .unwrap_or(i64::MIN);
        let mut lists: Vec<(i64, usize, String)> = newest_days
            .into_iter()
            .flat_map(|(slot, days)| days.into_iter().map(move |day| (slot, day)))
            .filter_map(|(slot, day)| Some((day.parse::<i64>().ok()?, slot, day)))
            .filter(|(day, _, _)| *day >= complete_from)
            .collect();
        lists.sort_unstable_by(|a, b| b.cmp(a));
        let wanted = isize::try_from(limit).unwrap_or(isize::MAX);
        let mut entries: Vec<Vec<u8>> = Vec::new();
        // a day at a time, so that a newer day's entries are all read before an older day's
        for day_lists in lists.chunk_by(|a, b| a.0 == b.0) {
            let keys: Vec<String> = day_lists.iter().map(|(_, slot, day)| self.day_key(*slot, day)).collect();
            let listed = futures::stream::iter(keys)
                .map(|key| async move {
                    let mut latest = redis::cmd("LRANGE");
                    latest.arg(key).arg(-wanted).arg(-1);
                    self.command::<Vec<Vec<u8>>>(WHAT, latest).await
                })
                .buffered(WARM_UP_READS_IN_FLIGHT)
                .try_collect::<Vec<_>>()
                .await?;
            entries.extend(listed.into_iter().flatten());
            if entries.len() >= limit {
                break;
            }
        }
        // newest first by (published, id), an id at its newest entry, the limit kept, then oldest first
        entries.sort_unstable_by(|a, b| b.cmp(a));
        let mut seen = std::collections::HashSet::new();
        let mut ids: Vec<String> = entries
            .iter()
            .filter_map(|entry| std::str::from_utf8(entry.get(8..)?).ok())
            .filter(|id| seen.insert(id.to_string()))
            .take(limit)
            .map(str::to_string)
            .collect();
        ids.reverse();
        let mut records =
            futures::stream::iter(ids).map(|id| async move { self.read(&id).await }).buffered(WARM_UP_READS_IN_FLIGHT);
        while let Some(read) = records.next().await {
            if let Some((article, _)) = read? {
                visit(&article);
            }
        }
        Ok(())
    }

    /// Visits the slots from where the last call stopped (see the module doc); `more` is false only
    /// after a call went round every slot within its limit.
    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        // nothing is published before the earliest time
        let Some(last) = cutoff.checked_sub(1) else { return Ok(Expired::default()) };
        let day = last.div_euclid(TIME_BUCKET_US).to_string();
        let cutoff = record::sortable(cutoff);
        let start = *self.expire_from.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut expired = Expired::default();
        let mut handled = 0;
        let count = SLOTS as usize;
        for first in (0..count).step_by(SLOTS_AT_ONCE) {
            let slots: Vec<usize> = (first..(first + SLOTS_AT_ONCE).min(count)).map(|i| (start + i) % count).collect();
            // one entry is enough to tell whether a slot has work
            let peek = (limit - handled).max(1);
            let dues = try_join_all(slots.iter().map(|&slot| self.due(slot, &day, &cutoff, peek))).await?;
            let due: Vec<(usize, Due)> = slots
                .into_iter()
                .zip(dues)
                .filter(|(_, due)| !due.days.is_empty() || !due.members.is_empty())
                .collect();
            if due.is_empty() {
                continue;
            }
            // the budget left, shared out: slots without a share are left for the next call
            let share = ((limit - handled) / due.len()).max(1);
            let shares = (limit - handled) / share;
            let outcomes: Vec<(usize, usize, usize, bool)> = futures::stream::iter(due.into_iter().enumerate())
                .map(|(i, (slot, due))| {
                    let (day, cutoff) = (&day, &cutoff);
                    async move {
                        if i >= shares {
                            return Ok((slot, 0, 0, false));
                        }
                        let mut used = 0;
                        let (removed, done) = self.expire_slot(slot, due, day, cutoff, share, &mut used).await?;
                        Ok::<_, Error>((slot, removed, used, done))
                    }
                })
                .buffered(EXPIRE_SLOTS_IN_FLIGHT)
                .try_collect()
                .await?;
            let mut unfinished = None;
            for (slot, removed, used, done) in outcomes {
                expired.removed += removed;
                handled += used;
                if !done && unfinished.is_none() {
                    unfinished = Some(slot);
                }
            }
            if let Some(slot) = unfinished {
                *self.expire_from.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = slot;
                expired.more = true;
                return Ok(expired);
            }
        }
        Ok(expired)
    }
}

impl RedisClusterStore {
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

    /// `due` of one slot: up to [`DUE_DAYS`] days up to the cutoff's, and up to `limit` edge members
    /// before the cutoff.
    async fn due(&self, slot: usize, day: &str, cutoff: &[u8], limit: usize) -> Result<Due> {
        const WHAT: &str = "expire";
        let keys = self.slot_time_keys(slot);
        let (limit, most_days) = (limit.to_string(), DUE_DAYS.to_string());
        let args: [&[u8]; 4] = [day.as_bytes(), cutoff, limit.as_bytes(), most_days.as_bytes()];
        let [days, members] = tuple(WHAT, self.run(WHAT, &self.scripts.due, &keys, &args).await?)?;
        Ok(Due {
            days: array(WHAT, days)?.into_iter().map(|d| string(WHAT, d)).collect::<Result<_>>()?,
            members: array(WHAT, members)?.into_iter().map(|m| bytes(WHAT, m)).collect::<Result<_>>()?,
        })
    }

    /// Expires what is due in one slot, counting each entry moved to the edge or lapsed in `handled`,
    /// until nothing is due (returns `done`) or `handled` reaches `limit`. Returns the articles removed.
    async fn expire_slot(
        &self,
        slot: usize,
        mut due: Due,
        day: &str,
        cutoff: &[u8],
        limit: usize,
        handled: &mut usize,
    ) -> Result<(usize, bool)> {
        const WHAT: &str = "expire";
        let [days_key, edge] = self.slot_time_keys(slot);
        let mut removed = 0;
        // each round moves entries to the edge or lapses edge members: the time index shrinks
        loop {
            if due.days.is_empty() && due.members.is_empty() {
                return Ok((removed, true));
            }
            if *handled >= limit {
                return Ok((removed, false));
            }
            if !due.days.is_empty() {
                let mut keys = vec![days_key.clone(), edge.clone()];
                keys.extend(due.days.iter().map(|d| self.day_key(slot, d)));
                let budget = (limit - *handled).to_string();
                let mut args: Vec<&[u8]> = vec![budget.as_bytes(), cutoff];
                args.extend(due.days.iter().map(|d| d.as_bytes()));
                let [moved, members] = tuple(WHAT, self.run(WHAT, &self.scripts.spill, &keys, &args).await?)?;
                // a spill that moved nothing unlisted emptied days; counted anyway, so that no state
                // of the index can keep this loop from reaching its limit
                *handled += usize::try_from(integer(WHAT, moved)?).map_err(|e| protocol_error(WHAT, e))?.max(1);
                let members: Vec<Vec<u8>> =
                    array(WHAT, members)?.into_iter().map(|m| bytes(WHAT, m)).collect::<Result<_>>()?;
                if !members.is_empty() {
                    // the days may have more: the `due` after these members are lapsed tells
                    due = Due { days: Vec::new(), members };
                    continue;
                }
            } else {
                due.members.truncate(limit - *handled);
                *handled += due.members.len();
                let (_, hashes) = self.number_keys(slot as u32);
                let records = try_join_all(due.members.iter().map(|entry| {
                    let id = String::from_utf8_lossy(entry.get(8..).unwrap_or_default()).into_owned();
                    let keys = [self.article_key(&id), edge.clone()];
                    let hashes = hashes.as_bytes();
                    async move {
                        let args: [&[u8]; 3] = [entry, cutoff, hashes];
                        match self.run(WHAT, &self.scripts.lapse, &keys, &args).await? {
                            Value::Nil => Ok(None),
                            record => {
                                let stored = bytes(WHAT, record)?;
                                Ok(Some((record::decode(&stored)?, record::number(&stored)?)))
                            }
                        }
                    }
                }))
                .await?;
                let records: Vec<(StoredArticle, Number)> = records.into_iter().flatten().collect();
                removed += records.len();
                try_join_all(records.iter().map(|(record, number)| self.unlink(record, *number))).await?;
            }
            due = self.due(slot, day, cutoff, (limit - *handled).max(1)).await?;
        }
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

    /// Posted numbers arrive as integers and become the 5 bytes records and postings hold; anything
    /// else is a protocol error, never a truncated number.
    #[test]
    fn posted_numbers_are_integers_of_five_bytes() {
        let answer = Value::Array(vec![Value::Int(0), Value::Int(4096 * 7 + 5), Value::Int((1 << 40) - 1)]);
        assert_eq!(numbers("post", answer).unwrap(), [[0; 5], [0, 0, 0, 0x70, 0x05], [0xff; 5]]);
        for bad in [Value::Int(1 << 40), Value::Int(-1), Value::BulkString(vec![0; 5])] {
            assert!(numbers("post", Value::Array(vec![bad])).is_err());
        }
        assert!(numbers("post", Value::Nil).is_err());
    }
}
