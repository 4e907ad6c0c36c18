//! Presence across nodes: the data every node keeps.
//!
//! Every node keeps, in memory, its **own** presences (from
//! [`Adapter::presence_changed`](websock_channels::Adapter::presence_changed), never from a
//! broadcast) and the other nodes' presences for the topics it has subscribers in (its
//! **replica**). In Redis:
//!
//! - `{prefix}presence:{topic}`, a hash: field `{node}:{phx_ref}`, value
//!   `{"key": .., "meta": {.., "phx_ref": ..}}`, written with the same pipeline as the
//!   message that tells the other nodes, so a node that reads the hash after subscribing
//!   misses nothing and counts nothing twice;
//! - `{prefix}node:{node}`, refreshed every heartbeat, expiring after the presence expiry.
//!
//! A node sends its changes as [`Update::Diff`]s. After any reconnect (and whenever it
//! cannot be sure the others saw every diff) it sends its whole state per topic
//! ([`Update::State`]), and the others **replace** its entries with it: a Redis blip loses no
//! join or leave for longer than the reconnect.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One presence: its key and its meta (with `phx_ref`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Meta {
    pub(crate) key: String,
    pub(crate) meta: Value,
}

impl Meta {
    /// `{"key": .., "meta": {.., "phx_ref": ..}}` back: (phx_ref, presence).
    pub(crate) fn from_entry(entry: &Value) -> Option<(String, Self)> {
        let meta = entry.get("meta")?;
        let phx_ref = meta.get("phx_ref")?.as_str()?.to_owned();
        let key = entry.get("key")?.as_str()?.to_owned();
        Some((
            phx_ref,
            Self {
                key,
                meta: meta.clone(),
            },
        ))
    }
}

/// phx_ref → presence.
pub(crate) type Metas = BTreeMap<String, Meta>;

/// (phx_ref, presence) pairs of the joins of a diff.
pub(crate) type Side = Vec<(String, Meta)>;

/// What one node tells the others about its presences in one topic.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Update {
    /// These joined, these `phx_ref`s left.
    Diff { joins: Side, leaves: Vec<String> },
    /// All the node's presences in the topic: replace what you had of it.
    State(Metas),
}

/// One change of this node's presences, to send.
pub(crate) struct Change {
    pub(crate) topic: String,
    pub(crate) joins: Side,
    pub(crate) leaves: Vec<String>,
}

/// What the writer sends next.
pub(crate) enum Batch {
    /// Nothing changed.
    Nothing,
    /// These changes, in order.
    Changes(Vec<Change>),
    /// The whole state of every topic (the empty ones too: the others drop this node there).
    Full(Vec<(String, Metas)>),
}

/// Changes waiting to be written past which they are dropped for one [`Batch::Full`]: memory
/// stays bounded while Redis is slow, and nothing is lost (the state replaces them).
const OUTBOX_LIMIT: usize = 4096;

/// The other nodes' presences of one topic.
#[derive(Default)]
pub(crate) struct Replica {
    pub(crate) nodes: HashMap<u64, Metas>,
    /// While the topic's hash is being read after subscribing: the updates that arrive
    /// meanwhile, applied in order on top of what was read.
    pub(crate) loading: Option<Vec<(u64, Update)>>,
}

impl Replica {
    /// Every node's presences, by phx_ref.
    pub(crate) fn flatten(&self) -> Metas {
        self.nodes.values().flat_map(Clone::clone).collect()
    }

    /// Applies `update` from `node`.
    pub(crate) fn apply(&mut self, node: u64, update: Update) {
        match update {
            Update::Diff { joins, leaves } => {
                let metas = self.nodes.entry(node).or_default();
                for phx_ref in &leaves {
                    metas.remove(phx_ref);
                }
                metas.extend(joins);
            }
            Update::State(metas) => {
                self.nodes.insert(node, metas);
            }
        }
        self.nodes.retain(|_, metas| !metas.is_empty());
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// This node's presences by topic. A topic whose last presence left stays (empty) until
    /// the others have been told, so a full announce still clears it there.
    pub(crate) own: HashMap<String, Metas>,
    /// Changes not yet written.
    outbox: VecDeque<Change>,
    /// The others may have missed changes (a reconnect, a failed write, a full outbox): the
    /// next batch is the whole state.
    stale: bool,
    /// The other nodes' presences: topic → replica.
    pub(crate) remote: HashMap<String, Replica>,
}

impl State {
    /// A change of this node's presences in `topic`.
    pub(crate) fn record(&mut self, topic: &str, joins: Side, leaves: Vec<String>) {
        let own = self.own.entry(topic.to_owned()).or_default();
        for phx_ref in &leaves {
            own.remove(phx_ref);
        }
        own.extend(joins.iter().cloned());
        if self.stale {
            return;
        }
        if self.outbox.len() >= OUTBOX_LIMIT {
            tracing::warn!(
                limit = OUTBOX_LIMIT,
                "redis: presence changes pile up; the whole state will be sent instead"
            );
            self.mark_stale();
            return;
        }
        self.outbox.push_back(Change {
            topic: topic.to_owned(),
            joins,
            leaves,
        });
    }

    /// The next write replaces the others' view of this node with the whole state.
    pub(crate) fn mark_stale(&mut self) {
        self.stale = true;
        self.outbox.clear();
    }

    pub(crate) fn take_batch(&mut self) -> Batch {
        if self.stale {
            self.stale = false;
            let own = self.own.iter().map(|(t, m)| (t.clone(), m.clone()));
            return Batch::Full(own.collect());
        }
        if self.outbox.is_empty() {
            return Batch::Nothing;
        }
        Batch::Changes(self.outbox.drain(..).collect())
    }

    /// After a successful write: the topics this node left are forgotten once nothing about
    /// them is pending.
    pub(crate) fn written(&mut self) {
        if !self.stale && self.outbox.is_empty() {
            self.own.retain(|_, metas| !metas.is_empty());
        }
    }
}

/// `{"<key>": {"metas": [..]}}` of `metas`.
pub(crate) fn to_list<'a>(metas: impl IntoIterator<Item = &'a Meta>) -> Map<String, Value> {
    let mut out = Map::new();
    for meta in metas {
        let entry = out
            .entry(meta.key.clone())
            .or_insert_with(|| json!({ "metas": [] }));
        if let Some(list) = entry.get_mut("metas").and_then(Value::as_array_mut) {
            list.push(meta.meta.clone());
        }
    }
    out
}

/// The hash field of one presence.
pub(crate) fn field(node: u64, phx_ref: &str) -> String {
    format!("{node:016x}:{phx_ref}")
}

/// The node a hash field belongs to.
pub(crate) fn field_node(field: &str) -> Option<u64> {
    let (node, _) = field.split_once(':')?;
    u64::from_str_radix(node, 16).ok()
}

/// The hash value of one presence.
pub(crate) fn value(meta: &Meta) -> String {
    json!({ "key": meta.key, "meta": meta.meta }).to_string()
}

/// A hash entry back: (node, phx_ref, presence).
pub(crate) fn parse_entry(field: &str, value: &str) -> Option<(u64, String, Meta)> {
    let node = field_node(field)?;
    let (phx_ref, meta) = Meta::from_entry(&serde_json::from_str(value).ok()?)?;
    Some((node, phx_ref, meta))
}

/// The `presence_diff` payload that takes `before` to `after` (`None` when they agree).
pub(crate) fn diff(before: &Metas, after: &Metas) -> Option<Value> {
    let joins = to_list(
        after
            .iter()
            .filter(|(r, _)| !before.contains_key(*r))
            .map(|(_, m)| m),
    );
    let leaves = to_list(
        before
            .iter()
            .filter(|(r, _)| !after.contains_key(*r))
            .map(|(_, m)| m),
    );
    (!joins.is_empty() || !leaves.is_empty()).then(|| json!({ "joins": joins, "leaves": leaves }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str, phx_ref: &str) -> (String, Meta) {
        (
            phx_ref.to_owned(),
            Meta {
                key: key.to_owned(),
                meta: json!({ "phx_ref": phx_ref }),
            },
        )
    }

    #[test]
    fn a_state_replaces_a_node_and_diffs_follow() {
        let mut replica = Replica::default();
        replica.apply(
            1,
            Update::Diff {
                joins: vec![meta("alice", "1"), meta("bob", "2")],
                leaves: vec![],
            },
        );
        replica.apply(2, Update::State(Metas::from([meta("carol", "3")])));
        let before = replica.flatten();
        // Node 1 reconnected: only bob is left there.
        replica.apply(1, Update::State(Metas::from([meta("bob", "2")])));
        let after = replica.flatten();
        assert_eq!(after.keys().collect::<Vec<_>>(), ["2", "3"]);
        let payload = diff(&before, &after).unwrap();
        assert_eq!(payload["leaves"]["alice"]["metas"][0]["phx_ref"], "1");
        assert_eq!(payload["joins"], json!({}));
        replica.apply(2, Update::State(Metas::new()));
        assert_eq!(replica.nodes.len(), 1);
    }

    #[test]
    fn own_state_keeps_left_topics_until_written() {
        let mut state = State::default();
        state.record("t", vec![meta("alice", "1")], vec![]);
        state.record("t", vec![], vec!["1".into()]);
        assert!(matches!(state.take_batch(), Batch::Changes(c) if c.len() == 2));
        assert!(state.own["t"].is_empty());
        state.mark_stale();
        assert!(matches!(state.take_batch(), Batch::Full(f) if f.len() == 1));
        state.written();
        assert!(state.own.is_empty());
        assert!(matches!(state.take_batch(), Batch::Nothing));
    }

    #[test]
    fn hash_entries_round_trip() {
        let (phx_ref, m) = meta("alice", "F1-2");
        let f = field(0xab, &phx_ref);
        let (node, back_ref, back) = parse_entry(&f, &value(&m)).unwrap();
        assert_eq!((node, back_ref.as_str()), (0xab, "F1-2"));
        assert_eq!(back, m);
    }
}
