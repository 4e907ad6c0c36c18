//! `user_joined` and `user_left`, derived from the presence diffs a room sees, so that they
//! follow presence wherever it changed: a join or leave on this node or another, a socket
//! that closed, a node that died (its presences expire over Redis and arrive as a diff).
//!
//! A diff from another node may reach the room before or after this node's copy of that
//! node's presence has taken it in (the broadcast and the presence update travel apart), so
//! both readings below hold either way: the diff's own metas are added or taken out of the
//! key's current ones before they are counted.

use serde_json::Value;
use websock::channels::Presence;

/// The keys of `diff`'s leaves that have no presence left in `topic`: their last one went.
pub fn gone_for_good(diff: &Value, presence: &Presence, topic: &str) -> Vec<String> {
    let mut gone = Vec::new();
    for (key, left) in side(diff, "leaves") {
        let left = refs(Some(left));
        // An update of the key (the same diff joins its new meta) keeps it present.
        let rejoined = !refs(joins_of(diff, key)).is_empty();
        let remaining = presence
            .get_by_key(topic, key)
            .into_iter()
            .any(|meta| meta.get("phx_ref").is_some_and(|r| !left.contains(r)));
        if !rejoined && !remaining {
            gone.push(key.clone());
        }
    }
    gone
}

/// The keys of `diff`'s joins that are new in `topic`, each with its joined meta: a fresh
/// track (not an update, whose meta has `phx_ref_prev`) made at or after `since` (its
/// `joined_at`, Unix milliseconds), by a key with no other presence in `topic`.
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
        let fresh = metas.into_iter().flatten().find(|meta| {
            meta.get("phx_ref_prev").is_none()
                && meta.get("joined_at").and_then(Value::as_u64) >= Some(since)
        });
        let Some(fresh) = fresh else { continue };
        let this_diff = refs(Some(joined));
        let others = presence
            .get_by_key(topic, key)
            .into_iter()
            .any(|meta| meta.get("phx_ref").is_some_and(|r| !this_diff.contains(r)));
        if !others {
            arrivals.push((key.clone(), fresh.clone()));
        }
    }
    arrivals
}

/// The entries of `diff["joins"]` or `diff["leaves"]`: `{"<key>": {"metas": [..]}}`.
fn side<'a>(diff: &'a Value, name: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    diff.get(name)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn joins_of<'a>(diff: &'a Value, key: &str) -> Option<&'a Value> {
    diff.get("joins")?.get(key)
}

/// The `phx_ref`s of one key's `{"metas": [..]}`.
fn refs(entry: Option<&Value>) -> Vec<Value> {
    let metas = entry.and_then(|e| e.get("metas")).and_then(Value::as_array);
    metas
        .into_iter()
        .flatten()
        .filter_map(|meta| meta.get("phx_ref").cloned())
        .collect()
}
