//! `user_joined` and `user_left`, derived from the presence diffs a room sees, so that they
//! follow presence wherever it changed: a join or leave on this node or another, a socket
//! that closed, a node that died (its presences expire over Redis and arrive as a diff).

use serde_json::{Map, Value};
use websock::channels::Presence;

/// The keys of `diff`'s leaves that have no presence left in `topic`: their last one went.
pub fn gone_for_good(diff: &Value, presence: &Presence, topic: &str) -> Vec<String> {
    side(diff, "leaves")
        .keys()
        .filter(|key| presence.get_by_key(topic, key).is_empty())
        .cloned()
        .collect()
}

/// The keys of `diff`'s joins that are new in `topic`, each with its joined meta: a fresh
/// track (not an update, whose meta has `phx_ref_prev`) made at or after `since` (its
/// `joined_at`, Unix milliseconds), and every presence the key has now came with this diff.
///
/// `since` is the reader's own join: a node learns the other nodes' presences of a topic when
/// it first subscribes to it, as a diff that arrives after that first join; those presences
/// were there before the reader, and are not arrivals.
pub fn new_arrivals(
    diff: &Value,
    presence: &Presence,
    topic: &str,
    since: u64,
) -> Vec<(String, Value)> {
    let mut arrivals = Vec::new();
    for (key, joined) in side(diff, "joins") {
        let metas = joined.get("metas").and_then(Value::as_array);
        let metas = metas.map(Vec::as_slice).unwrap_or_default();
        let fresh = metas.iter().find(|meta| {
            meta.get("phx_ref_prev").is_none()
                && meta.get("joined_at").and_then(Value::as_u64) >= Some(since)
        });
        let Some(fresh) = fresh else { continue };
        let joined_refs: Vec<&Value> = metas.iter().filter_map(|m| m.get("phx_ref")).collect();
        let current = presence.get_by_key(topic, key);
        let all_new = current.iter().all(|meta| {
            meta.get("phx_ref")
                .is_some_and(|r| joined_refs.contains(&r))
        });
        if !current.is_empty() && all_new {
            arrivals.push((key.clone(), fresh.clone()));
        }
    }
    arrivals
}

/// `diff["joins"]` or `diff["leaves"]`: `{"<key>": {"metas": [..]}}`.
fn side<'a>(diff: &'a Value, name: &str) -> &'a Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    diff.get(name)
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}
