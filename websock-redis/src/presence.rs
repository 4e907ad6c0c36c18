//! Presence across nodes.
//!
//! Every node keeps, in memory, the presences of the other nodes for the topics it has
//! subscribers in (its *replica*), and writes its own to Redis:
//!
//! - `{prefix}presence:{topic}`, a hash: field `{node}:{phx_ref}`, value
//!   `{"key": .., "meta": {.., "phx_ref": ..}}`, written with the same pipeline as the
//!   `presence_diff` broadcast it comes from, so a node that reads the hash after subscribing
//!   misses nothing and counts nothing twice;
//! - `{prefix}node:{node}`, refreshed every heartbeat, expiring after the presence expiry.
//!
//! A node learns the others' changes from their `presence_diff` broadcasts, and their state
//! when it subscribes to a topic (and after reconnecting) from the hash. Each heartbeat it
//! checks the nodes in its replica: one whose key has expired (killed, cut off) is removed,
//! and its presences leave with a `presence_diff` to this node's sockets.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// One presence: its key and its meta (with `phx_ref`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Meta {
    pub(crate) key: String,
    pub(crate) meta: Value,
}

/// phx_ref → presence.
pub(crate) type Metas = BTreeMap<String, Meta>;

#[derive(Default)]
pub(crate) struct State {
    /// This node's presences by topic, from the `presence_diff`s it broadcast.
    pub(crate) own: HashMap<String, Metas>,
    /// The other nodes' presences: topic → node → metas.
    pub(crate) remote: HashMap<String, HashMap<u64, Metas>>,
}

/// (phx_ref, presence) pairs of one side of a diff.
pub(crate) type Side = Vec<(String, Meta)>;

/// The (joins, leaves) of a `presence_diff` payload, flattened.
pub(crate) fn parse_diff(payload: &Value) -> (Side, Side) {
    let side = |name: &str| {
        let mut out = Vec::new();
        if let Some(keys) = payload.get(name).and_then(Value::as_object) {
            for (key, presence) in keys {
                for meta in presence
                    .get("metas")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(phx_ref) = meta.get("phx_ref").and_then(Value::as_str) {
                        out.push((
                            phx_ref.to_owned(),
                            Meta {
                                key: key.clone(),
                                meta: meta.clone(),
                            },
                        ));
                    }
                }
            }
        }
        out
    };
    (side("joins"), side("leaves"))
}

/// Applies a diff to `metas`: leaves first (an update leaves the old ref, joins the new).
pub(crate) fn apply(metas: &mut Metas, joins: Vec<(String, Meta)>, leaves: &[(String, Meta)]) {
    for (phx_ref, _) in leaves {
        metas.remove(phx_ref);
    }
    for (phx_ref, meta) in joins {
        metas.insert(phx_ref, meta);
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

/// The hash value of one presence.
pub(crate) fn value(meta: &Meta) -> String {
    json!({ "key": meta.key, "meta": meta.meta }).to_string()
}

/// A hash entry back: (node, phx_ref, presence).
pub(crate) fn parse_entry(field: &str, value: &str) -> Option<(u64, String, Meta)> {
    let (node, phx_ref) = field.split_once(':')?;
    let node = u64::from_str_radix(node, 16).ok()?;
    let value: Value = serde_json::from_str(value).ok()?;
    Some((
        node,
        phx_ref.to_owned(),
        Meta {
            key: value.get("key")?.as_str()?.to_owned(),
            meta: value.get("meta")?.clone(),
        },
    ))
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

    #[test]
    fn diffs_round_trip() {
        let payload = json!({
            "joins": {"alice": {"metas": [{"phx_ref": "2", "phx_ref_prev": "1", "x": 2}]}},
            "leaves": {"alice": {"metas": [{"phx_ref": "1", "x": 1}]}},
        });
        let mut metas = Metas::new();
        metas.insert(
            "1".into(),
            Meta {
                key: "alice".into(),
                meta: json!({"phx_ref": "1", "x": 1}),
            },
        );
        let before = metas.clone();
        let (joins, leaves) = parse_diff(&payload);
        apply(&mut metas, joins, &leaves);
        assert_eq!(metas.len(), 1);
        assert_eq!(metas["2"].meta["x"], 2);
        assert_eq!(diff(&before, &metas).unwrap(), payload);
        assert!(diff(&metas, &metas).is_none());

        let f = field(0xab, "F1-2");
        let (node, phx_ref, meta) = parse_entry(&f, &value(&metas["2"])).unwrap();
        assert_eq!((node, phx_ref.as_str()), (0xab, "F1-2"));
        assert_eq!(meta, metas["2"]);
    }
}
