//! The changes to one topic's presence not yet broadcast: merged over a short interval into
//! one `presence_diff`, as Phoenix.Tracker sends deltas in intervals. A join storm of N
//! members then costs one diff per interval to each member, not one per join (N² frames).

use crate::pubsub::{PresenceDiff, PresenceMeta};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One presence in a pending diff, its meta already encoded (the user's fields plus
/// `phx_ref`, as the client sees it).
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) key: Arc<str>,
    pub(crate) phx_ref: Arc<str>,
    pub(crate) wire: Arc<str>,
}

/// A topic's pending joins and leaves, merged with phoenix.js `syncDiff`'s semantics: a diff
/// applies its joins, then its leaves, and both are idempotent for a client that already has
/// them (a join of a `phx_ref` it holds adds nothing, a leave of one it lacks removes nothing).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Joins in order, each with the change number it was made at.
    joins: Vec<(u64, Change)>,
    /// Leaves, each with whether its join was never broadcast (a local client saw it in a
    /// `presence_state` only).
    leaves: Vec<(bool, Change)>,
    /// The change number of the last change, and of the last one a `presence_state` was built
    /// with (a client holds the pending joins up to it already).
    seq: u64,
    served: u64,
}

impl Pending {
    pub(crate) fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }

    pub(crate) fn join(&mut self, change: Change) {
        self.seq += 1;
        self.joins.push((self.seq, change));
    }

    /// A leave of a presence whose join is still pending cancels the join. The leave goes
    /// out all the same if a `presence_state` was built since the join: a client holds that
    /// presence, and only a leave removes it (for the others it removes nothing). The other
    /// nodes never heard of it either way.
    pub(crate) fn leave(&mut self, change: Change) {
        self.seq += 1;
        let joined = self
            .joins
            .iter()
            .rposition(|(_, join)| join.phx_ref == change.phx_ref);
        match joined {
            Some(at) => {
                let (seq, _) = self.joins.remove(at);
                if seq <= self.served {
                    self.leaves.push((true, change));
                }
            }
            None => self.leaves.push((false, change)),
        }
    }

    /// A `presence_state` is built now, with every pending change in it.
    pub(crate) fn served(&mut self) {
        self.served = self.seq;
    }

    /// Takes the pending changes (decoded outside the presence lock: [`Taken::encode`]).
    pub(crate) fn take(&mut self) -> Taken {
        let joins = std::mem::take(&mut self.joins)
            .into_iter()
            .map(|(_, change)| change)
            .collect();
        let leaves = std::mem::take(&mut self.leaves);
        self.served = self.seq;
        Taken { joins, leaves }
    }
}

/// The changes of one interval.
pub(crate) struct Taken {
    joins: Vec<Change>,
    leaves: Vec<(bool, Change)>,
}

impl Taken {
    /// The `presence_diff` payload (`{"joins": {"<key>": {"metas": [..]}}, "leaves": {..}}`)
    /// and, for the adapter, the net change (a join whose leave is in the same diff never
    /// reaches the other nodes).
    pub(crate) fn encode(self) -> (Value, PresenceDiff) {
        let Self { joins, leaves } = self;
        let all_leaves: Vec<Change> = leaves.iter().map(|(_, c)| c.clone()).collect();
        let payload = serde_json::json!({ "joins": list(&joins), "leaves": list(&all_leaves) });
        let net_joins = joins.iter().map(meta).collect();
        let net_leaves = leaves
            .iter()
            .filter(|(unseen, _)| !unseen)
            .map(|(_, c)| meta(c))
            .collect();
        let diff = PresenceDiff {
            joins: net_joins,
            leaves: net_leaves,
        };
        (payload, diff)
    }
}

fn decode(change: &Change) -> Value {
    // Encoded by this crate from a JSON object: it always decodes.
    serde_json::from_str(&change.wire).unwrap_or_else(|_| Value::Object(Map::new()))
}

fn meta(change: &Change) -> PresenceMeta {
    PresenceMeta::new(&*change.key, decode(change))
}

/// `{"<key>": {"metas": [..]}}`, metas in the order they changed.
fn list(changes: &[Change]) -> Value {
    let mut out = Map::new();
    for change in changes {
        let entry = out
            .entry(change.key.to_string())
            .or_insert_with(|| serde_json::json!({ "metas": [] }));
        if let Some(metas) = entry.get_mut("metas").and_then(Value::as_array_mut) {
            metas.push(decode(change));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(key: &str, phx_ref: &str) -> Change {
        Change {
            key: key.into(),
            phx_ref: phx_ref.into(),
            wire: format!(r#"{{"phx_ref":"{phx_ref}"}}"#).into(),
        }
    }

    #[test]
    fn a_join_and_leave_in_one_interval_cancel() {
        let mut pending = Pending::default();
        pending.join(change("a", "1"));
        pending.join(change("b", "2"));
        pending.leave(change("a", "1"));
        pending.leave(change("c", "0"));
        let (payload, diff) = pending.take().encode();
        assert_eq!(
            payload,
            json!({"joins": {"b": {"metas": [{"phx_ref": "2"}]}},
                   "leaves": {"c": {"metas": [{"phx_ref": "0"}]}}})
        );
        assert_eq!(diff.joins.len(), 1);
        assert_eq!(diff.leaves[0].phx_ref(), "0");
        assert!(pending.is_empty());
    }

    /// A client given a `presence_state` holding a pending join must get its leave.
    #[test]
    fn a_served_join_is_left_explicitly() {
        let mut pending = Pending::default();
        pending.join(change("a", "1"));
        pending.served();
        pending.leave(change("a", "1"));
        pending.join(change("a", "3"));
        let (payload, diff) = pending.take().encode();
        assert_eq!(
            payload,
            json!({"joins": {"a": {"metas": [{"phx_ref": "3"}]}},
                   "leaves": {"a": {"metas": [{"phx_ref": "1"}]}}})
        );
        // The other nodes see only the net change.
        assert_eq!(diff.joins.len(), 1);
        assert_eq!(diff.joins[0].phx_ref(), "3");
        assert!(diff.leaves.is_empty());
    }
}
