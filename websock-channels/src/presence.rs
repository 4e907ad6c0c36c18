//! Presence: who is in a topic, in exactly the shape phoenix.js's `Presence` consumes.

use crate::{Broadcast, PubSub, broadcast::SubscriberId, pubsub::PresenceDiff};
use serde_json::{Map, Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// [`ChannelSocket::track`](crate::ChannelSocket::track) of a key the channel already tracks
/// in its topic. Its `Display` is `already_tracked`, as Phoenix's error, so
/// `ChannelReply::error(Payload::reason(error))` answers `{"reason":"already_tracked"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyTracked {
    pub(crate) topic: String,
    pub(crate) key: String,
}

impl AlreadyTracked {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The key already tracked.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for AlreadyTracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("already_tracked")
    }
}

impl std::error::Error for AlreadyTracked {}

/// Who tracked a presence: one channel (a socket and a topic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner(pub(crate) SubscriberId);

struct Entry {
    owner: Owner,
    phx_ref: String,
    meta: Map<String, Value>,
}

impl Entry {
    /// The meta as the client sees it: the user's fields plus `phx_ref`.
    fn wire(&self) -> Value {
        let mut meta = self.meta.clone();
        meta.insert("phx_ref".to_owned(), Value::String(self.phx_ref.clone()));
        Value::Object(meta)
    }
}

/// The presences of every topic of one socket endpoint, kept in this process; changes are
/// broadcast as `presence_diff` through the endpoint's [`PubSub`](crate::PubSub).
///
/// Use it through [`ChannelSocket::track`](crate::ChannelSocket::track) (which untracks by
/// itself when the channel ends) and read it from anywhere with [`list`](Self::list).
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    topics: Mutex<HashMap<String, BTreeMap<String, Vec<Entry>>>>,
    /// Makes `phx_ref`s unique across restarts of this process, as the client matches metas
    /// by `phx_ref` alone.
    prefix: String,
    next_ref: AtomicU64,
    /// The endpoint's pubsub, whose adapter knows the presences of other nodes.
    pubsub: Mutex<Option<PubSub>>,
}

impl Default for Presence {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

impl Presence {
    /// An empty presence; [`SocketRoute`](crate::SocketRoute) makes one per endpoint.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            inner: Arc::new(Inner {
                topics: Mutex::default(),
                prefix: format!("F{:x}", nanos & 0xffff_ffff_ffff),
                next_ref: AtomicU64::new(1),
                pubsub: Mutex::new(None),
            }),
        }
    }

    /// The presences of `topic`: `{"<key>": {"metas": [{.., "phx_ref": ".."}]}}`, what
    /// `presence_state` carries.
    ///
    /// With a networked [`Adapter`](crate::Adapter) (Redis), the presences tracked on the
    /// other nodes are listed too, after this node's metas of the same key.
    pub fn list(&self, topic: &str) -> Value {
        let mut out = Map::new();
        {
            let topics = self.lock();
            if let Some(keys) = topics.get(topic) {
                for (key, entries) in keys {
                    let metas: Vec<Value> = entries.iter().map(Entry::wire).collect();
                    out.insert(key.clone(), json!({ "metas": metas }));
                }
            }
        }
        for (key, remote) in self.remote(topic) {
            let Some(remote_metas) = remote.get("metas").and_then(Value::as_array) else {
                continue;
            };
            let entry = out.entry(key).or_insert_with(|| json!({ "metas": [] }));
            if let Some(metas) = entry.get_mut("metas").and_then(Value::as_array_mut) {
                metas.extend(remote_metas.iter().cloned());
            }
        }
        Value::Object(out)
    }

    /// The keys present in `topic` (on every node, as [`list`](Self::list)).
    pub fn keys(&self, topic: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .lock()
            .get(topic)
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default();
        keys.extend(self.remote(topic).into_iter().map(|(key, _)| key));
        keys.sort();
        keys.dedup();
        keys
    }

    /// The metas of `key` in `topic`, each with its `phx_ref` (on every node, as
    /// [`list`](Self::list)); empty when `key` is not present. Phoenix's
    /// `Presence.get_by_key/2`: read in an `#[on_out("presence_diff")]` it tells whether a key
    /// that left has gone for good (its last presence), or one that joined is new (every meta
    /// it has came with that diff).
    pub fn get_by_key(&self, topic: &str, key: &str) -> Vec<Value> {
        let mut metas: Vec<Value> = self
            .lock()
            .get(topic)
            .and_then(|keys| keys.get(key))
            .map(|entries| entries.iter().map(Entry::wire).collect())
            .unwrap_or_default();
        if let Some(remote) = self.remote(topic).get(key) {
            let remote = remote.get("metas").and_then(Value::as_array);
            metas.extend(remote.into_iter().flatten().cloned());
        }
        metas
    }

    fn remote(&self, topic: &str) -> Map<String, Value> {
        let pubsub = self
            .inner
            .pubsub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        pubsub.map(|p| p.remote_presence(topic)).unwrap_or_default()
    }

    /// Lists the other nodes' presences through `pubsub`'s adapter;
    /// [`SocketRoute::with_pubsub`](crate::SocketRoute::with_pubsub) calls it.
    pub(crate) fn set_pubsub(&self, pubsub: PubSub) {
        *self
            .inner
            .pubsub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pubsub);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, Vec<Entry>>>> {
        // A panic while holding the lock leaves consistent data (every change is one insert
        // or remove), so a poisoned lock is used as is.
        self.inner
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_ref(&self) -> String {
        let n = self.inner.next_ref.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.inner.prefix)
    }

    /// Tracks `key` with `meta` for `owner`; returns the diff to broadcast. One meta per owner
    /// and key, as Phoenix.Presence: a second `track` is an error, not a second meta.
    pub(crate) fn track(
        &self,
        owner: Owner,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<(String, Broadcast), AlreadyTracked> {
        let mut topics = self.lock();
        let entries = topics
            .entry(topic.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default();
        if entries.iter().any(|e| e.owner == owner) {
            return Err(AlreadyTracked {
                topic: topic.to_owned(),
                key: key.to_owned(),
            });
        }
        let entry = Entry {
            owner,
            phx_ref: self.new_ref(),
            meta: into_map(meta),
        };
        let joins = json!({ key: { "metas": [entry.wire()] } });
        let phx_ref = entry.phx_ref.clone();
        entries.push(entry);
        Ok((phx_ref, self.diff(topic, joins, json!({}))))
    }

    /// Replaces `owner`'s meta for `key`: a new `phx_ref`, with `phx_ref_prev` the old one. The
    /// diff holds the new meta in `joins` and the old in `leaves`.
    ///
    /// `meta` computes the new meta from the current one (the user's fields, without
    /// `phx_ref`/`phx_ref_prev`), as Phoenix's `update/4` with a function: a status change
    /// keeps the other fields. It runs under the presence lock: it must not touch presence.
    pub(crate) fn update(
        &self,
        owner: Owner,
        topic: &str,
        key: &str,
        meta: impl FnOnce(Value) -> Value,
    ) -> Option<Broadcast> {
        let mut topics = self.lock();
        let entry = topics
            .get_mut(topic)?
            .get_mut(key)?
            .iter_mut()
            .find(|e| e.owner == owner)?;
        let old = entry.wire();
        let mut current = entry.meta.clone();
        current.remove("phx_ref_prev");
        let mut meta = into_map(meta(Value::Object(current)));
        meta.remove("phx_ref");
        meta.insert(
            "phx_ref_prev".to_owned(),
            Value::String(entry.phx_ref.clone()),
        );
        entry.meta = meta;
        entry.phx_ref = self.new_ref();
        let joins = json!({ key: { "metas": [entry.wire()] } });
        let leaves = json!({ key: { "metas": [old] } });
        Some(self.diff(topic, joins, leaves))
    }

    /// Untracks `owner`'s `key`, or every key of `owner` in `topic` when `key` is `None`.
    pub(crate) fn untrack(
        &self,
        owner: Owner,
        topic: &str,
        key: Option<&str>,
    ) -> Option<Broadcast> {
        let mut topics = self.lock();
        let keys = topics.get_mut(topic)?;
        let mut leaves = Map::new();
        keys.retain(|k, entries| {
            if key.is_some_and(|key| key != k) {
                return true;
            }
            let (gone, kept): (Vec<Entry>, Vec<Entry>) = std::mem::take(entries)
                .into_iter()
                .partition(|e| e.owner == owner);
            if !gone.is_empty() {
                let metas: Vec<Value> = gone.iter().map(Entry::wire).collect();
                leaves.insert(k.clone(), json!({ "metas": metas }));
            }
            *entries = kept;
            !entries.is_empty()
        });
        if keys.is_empty() {
            topics.remove(topic);
        }
        (!leaves.is_empty()).then(|| self.diff(topic, json!({}), Value::Object(leaves)))
    }
}

fn into_map(meta: Value) -> Map<String, Value> {
    match meta {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other);
            map
        }
    }
}

impl Presence {
    /// The `presence_diff` broadcast of a change; the adapter learns the change here, typed,
    /// never from the broadcast (whose event name any channel can send).
    fn diff(&self, topic: &str, joins: Value, leaves: Value) -> Broadcast {
        let pubsub = self
            .inner
            .pubsub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(pubsub) = pubsub {
            pubsub.presence_changed(topic, &PresenceDiff::from_lists(&joins, &leaves));
        }
        Broadcast::new(
            topic,
            "presence_diff",
            json!({ "joins": joins, "leaves": leaves }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_update_untrack_diffs() {
        let presence = Presence::new();
        let a = Owner(SubscriberId::next());
        let b = Owner(SubscriberId::next());
        let (ref_a, diff_a) = presence
            .track(a, "t", "alice", json!({"device": "web"}))
            .unwrap();
        let joins = &diff_a.payload().as_json().unwrap()["joins"];
        assert_eq!(joins["alice"]["metas"][0]["phx_ref"], json!(ref_a));
        presence
            .track(b, "t", "alice", json!({"device": "phone"}))
            .unwrap();
        let again = presence.track(a, "t", "alice", json!({"device": "two"}));
        assert_eq!(again.unwrap_err().key(), "alice");
        let list = presence.list("t");
        assert_eq!(list["alice"]["metas"].as_array().unwrap().len(), 2);

        let update = presence
            .update(a, "t", "alice", |_| json!({"device": "tablet"}))
            .unwrap();
        let p = update.payload().as_json().unwrap();
        assert_eq!(
            p["joins"]["alice"]["metas"][0]["phx_ref_prev"],
            json!(ref_a)
        );
        assert_eq!(p["leaves"]["alice"]["metas"][0]["phx_ref"], json!(ref_a));
        assert_ne!(p["joins"]["alice"]["metas"][0]["phx_ref"], json!(ref_a));

        let leave = presence.untrack(a, "t", None).unwrap();
        let p = leave.payload().as_json().unwrap();
        assert_eq!(p["leaves"]["alice"]["metas"][0]["device"], json!("tablet"));
        assert_eq!(presence.keys("t"), vec!["alice".to_owned()]);
        presence.untrack(b, "t", None).unwrap();
        assert_eq!(presence.list("t"), json!({}));
        assert!(presence.untrack(b, "t", None).is_none());
    }

    #[test]
    fn get_by_key_lists_one_keys_metas_until_its_last_leaves() {
        let presence = Presence::new();
        let (a, b) = (Owner(SubscriberId::next()), Owner(SubscriberId::next()));
        assert!(presence.get_by_key("t", "alice").is_empty());
        let (ref_a, _) = presence.track(a, "t", "alice", json!({"tab": 1})).unwrap();
        presence.track(b, "t", "alice", json!({"tab": 2})).unwrap();
        presence.track(b, "t", "bob", json!({"tab": 3})).unwrap();
        let metas = presence.get_by_key("t", "alice");
        assert_eq!(metas.len(), 2);
        assert_eq!(metas[0]["phx_ref"], json!(ref_a));
        assert_eq!(metas[1]["tab"], json!(2));
        assert!(presence.get_by_key("other", "alice").is_empty());
        presence.untrack(a, "t", None).unwrap();
        assert_eq!(presence.get_by_key("t", "alice").len(), 1);
        presence.untrack(b, "t", Some("alice")).unwrap();
        assert!(presence.get_by_key("t", "alice").is_empty());
        assert_eq!(presence.get_by_key("t", "bob").len(), 1);
    }

    #[test]
    fn update_from_the_current_meta_keeps_other_fields() {
        let presence = Presence::new();
        let a = Owner(SubscriberId::next());
        presence
            .track(a, "t", "alice", json!({"joined_at": 7, "status": "online"}))
            .unwrap();
        let diff = presence
            .update(a, "t", "alice", |mut meta| {
                assert!(meta.get("phx_ref").is_none());
                meta["status"] = json!("away");
                meta
            })
            .unwrap();
        let joined = &diff.payload().as_json().unwrap()["joins"]["alice"]["metas"][0];
        assert_eq!(joined["joined_at"], json!(7));
        assert_eq!(joined["status"], json!("away"));
        // A second update sees no stale `phx_ref_prev` among the user's fields.
        presence
            .update(a, "t", "alice", |meta| {
                assert!(meta.get("phx_ref_prev").is_none());
                meta
            })
            .unwrap();
    }
}
