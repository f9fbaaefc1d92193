//! Retention and the warm-up: [`Store::expire`] and [`Store::visit_recent`], over each slot's time
//! index (`ns:t:{S}DAY` lists, the `ns:t:{S}` days, the `ns:t:{S}e` edge; see the parent module).
//!
//! `expire` visits the slots in turn, from where its last call stopped, so that repeated calls make
//! progress: `due` reads a slot's days up to the cutoff's and its edge members before the cutoff;
//! `spill` moves due days' entries to the edge (a set: moving twice is harmless) and unlists emptied
//! days; `lapse` drops one edge member and, in the same script, deletes its record if that is still
//! published before the cutoff (a record deleted since, or re-ingested with a later time, is left
//! alone: the later version has its own entry); the rest of a delete follows (postings, membership).
//! Every step is one slot and idempotent, so several replicas may expire at once and a sweep cut short
//! leaves entries that the next one finishes; a record removed but not yet unlinked is what a delete
//! cut short leaves, which readers already tolerate.
//!
//! [`Store::expire`]: crate::store::Store::expire
//! [`Store::visit_recent`]: crate::store::Store::visit_recent

use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt};
use redis::Value;

use crate::domain::{Micros, StoredArticle};
use crate::error::{Error, Result};
use crate::store::redis::{array, bytes, integer, protocol_error, record, string, tuple};
use crate::store::{Expired, Visitor};

use super::ingest::Number;
use super::{RedisClusterStore, SLOTS, TIME_BUCKET_US};

/// Slots whose time index `expire` reads at once.
const SLOTS_AT_ONCE: usize = 512;
/// Days of each slot's time index a warm-up reads at most (see `warm_up`).
const WARM_UP_DAYS: usize = 8;
/// Reads a warm-up keeps in flight: slots' days, lists, records.
const WARM_UP_READS_IN_FLIGHT: usize = 64;
/// Days one `due` step returns: more than one only after retention was off or the sweeper stopped.
const DUE_DAYS: usize = 8;
/// Slots `expire` works on at once (each with up to 24 postings to remove per article): enough to
/// overlap round trips, few enough to leave the connections to ingests.
const EXPIRE_SLOTS_IN_FLIGHT: usize = 32;

/// A slot's due time-index days and edge members, as `due` answers.
struct Due {
    days: Vec<String>,
    members: Vec<Vec<u8>>,
}

impl RedisClusterStore {
    /// `Store::expire`: visits the slots from where the last call stopped (see the module doc);
    /// `more` is false only after a call went round every slot within its limit.
    pub(super) async fn expire_slots(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
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
    #[expect(clippy::if_not_else, reason = "days are spilled to the edge before its members lapse")]
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
                args.extend(due.days.iter().map(String::as_bytes));
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
                    let keys = [self.article_key(&id), edge.clone(), self.text_key(&id)];
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

    /// `Store::visit_recent`: every slot's newest `WARM_UP_DAYS` days (`ns:t:{S}`,
    /// `WARM_UP_READS_IN_FLIGHT` slots at a time), then the days' lists newest day first, each from its
    /// end, until `limit` entries; the entries (published time, then id) sort by time across slots,
    /// and the records of the newest `limit` ids are read and shown oldest first. Only the days from
    /// which every slot was read are used (a slot with more days may hold older articles of any day
    /// before its oldest read one), so a warm-up covers at most the `WARM_UP_DAYS` newest days of the
    /// busiest slots; newer days are read first, and older ones only while `limit` is not reached.
    /// Entries of deleted articles count towards `limit` and are skipped; a re-ingested article counts
    /// once and is shown once, at its newest entry.
    pub(super) async fn warm_up(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
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
}
