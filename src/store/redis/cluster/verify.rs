//! `dedupd verify` on a Redis Cluster: `SCAN` on every master (the nodes from `CLUSTER NODES`), the
//! values read by key, and repairs made of the protocol's own idempotent steps.
//!
//! An ingest, a merge and a delete are each several one-slot steps here, so a crash can leave one
//! cut short: an article inserted and not placed (with some of its band keys posted), claimed and
//! not added or added and not claimed, a cluster closed with its members not yet moved, a record
//! removed with its postings and membership left. Each repair finishes or undoes what was cut short
//! with the step that would have followed.

use async_trait::async_trait;
use futures::future::try_join_all;
use redis::Value;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use crate::error::Result;
use crate::store::Store;
use crate::store::redis::verify::{self, Key, Layout};
use crate::store::redis::{protocol_error, record};
use crate::store::verify::{Inventory, Posted, Problem, Verify};

use super::{RedisClusterStore, SLOTS};

/// The masters' addresses, from `CLUSTER NODES` (`id host:port@bus[,hostname] flags …`).
fn masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, address, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let is_master = flags.split(',').any(|flag| flag == "master");
            let failed = flags.split(',').any(|flag| flag == "fail" || flag == "noaddr");
            if !is_master || failed {
                return None;
            }
            let (host, port) = address.split(['@', ',']).next()?.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

impl RedisClusterStore {
    /// Every key of the namespace that verify reads, from every master.
    async fn list_keys(&self) -> Result<Vec<(String, Key)>> {
        const WHAT: &str = "verify";
        let nodes: String = self.command(WHAT, redis::cmd("CLUSTER").arg("NODES").clone()).await?;
        let masters = masters(&nodes);
        if masters.is_empty() {
            return Err(protocol_error(WHAT, "CLUSTER NODES lists no master"));
        }
        let mut keys = Vec::new();
        for (host, port) in masters {
            let mut cursor = 0;
            loop {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port });
                let mut connection = self.connection.clone();
                let scan = verify::scan(&self.namespace, cursor);
                let answer: Value = self.call(WHAT, connection.route_command(scan, routing)).await?;
                let (next, names) = verify::scanned(WHAT, answer)?;
                keys.extend(names.into_iter().filter_map(|name| {
                    verify::classify(&self.namespace, Layout::Cluster, &name).map(|key| (name, key))
                }));
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        keys.dedup_by(|a, b| a.0 == b.0);
        Ok(keys)
    }
}

#[async_trait]
impl Verify for RedisClusterStore {
    async fn inventory(&self) -> Result<Inventory> {
        const WHAT: &str = "verify";
        let keys = self.list_keys().await?;
        let mut read = Vec::with_capacity(keys.len());
        for batch in keys.chunks(verify::BATCH) {
            let values =
                try_join_all(batch.iter().map(|(name, key)| self.command::<Value>(WHAT, key.read(name)))).await?;
            read.extend(batch.iter().cloned().zip(values).map(|((name, key), value)| (name, key, value)));
        }
        let (mut inventory, _) = verify::build(read, u64::from(SLOTS));
        inventory.name = format!("redis cluster namespace {:?}", self.namespace);
        Ok(inventory)
    }

    async fn repair(&self, problem: &Problem) -> Result<bool> {
        const WHAT: &str = "repair";
        match problem {
            Problem::Unassigned { id } => {
                // only if still unassigned: never undo what an ingest placed since
                if let Some((article, _)) = self.read(id).await?
                    && article.cluster_id.is_none()
                {
                    self.delete(id).await?;
                }
                Ok(true)
            }
            Problem::UnclaimedMember { id, cluster } => {
                if let Some((_, own_member)) = self.read(id).await? {
                    let keys = [self.article_key(id)];
                    let args: [&[u8]; 2] = [cluster.as_str().as_bytes(), own_member.as_bytes()];
                    // sets the cluster only if unset; a racing placement answers where it went
                    self.run(WHAT, &self.scripts.claim, &keys, &args).await?;
                }
                Ok(true)
            }
            Problem::NotAMember { id, cluster } => {
                if let Some((article, own_member)) = self.read(id).await?
                    && let Some(named) = &article.cluster_id
                {
                    // added where its record leads now, following any forward since the check
                    let live = self.resolve(named).await?.cluster_id;
                    if live == *cluster || !self.is_member(&live, &own_member).await? {
                        self.add(&live, &[own_member]).await?;
                    }
                }
                Ok(true)
            }
            Problem::UnfinishedMerge { from, into } => {
                self.move_members(from, into).await?;
                Ok(true)
            }
            Problem::Ghost { cluster, member } | Problem::StrayMember { cluster, member, .. } => {
                self.drop_ghost(cluster, member).await?;
                Ok(true)
            }
            Problem::DanglingPosting { band, posted: Posted::Number(number) } => {
                let (bucket, field) = self.posting(*band)?;
                let number = verify::number_bytes(*number);
                self.run(WHAT, &self.scripts.unpost, &[bucket], &[&field, &number]).await?;
                Ok(true)
            }
            Problem::StaleNumber { number, id } => {
                let (hash, field, _) = self.numbered(verify::number_bytes(*number));
                // forgotten only if still stale: no record of that id carries the number
                if self.number_of(id).await? != Some(*number) {
                    self.command::<i64>(WHAT, redis::cmd("HDEL").arg(hash).arg(field).clone()).await?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl RedisClusterStore {
    /// The number the stored record of `id` carries.
    async fn number_of(&self, id: &str) -> Result<Option<u64>> {
        let mut command = redis::cmd("GET");
        command.arg(self.article_key(id));
        let stored: Option<Vec<u8>> = self.command("repair", command).await?;
        stored.map(|stored| record::number(&stored).map(|number| verify::number_value(&number))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::masters;

    #[test]
    fn masters_come_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
e7d1 127.0.0.1:30001@40001,host-a myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master,fail - 0 1 3 disconnected
";
        assert_eq!(masters(nodes), [("127.0.0.1".to_string(), 30001), ("127.0.0.1".to_string(), 30002)]);
    }
}
