//! Presence: who is in a topic, in exactly the shape phoenix.js's `Presence` consumes.
//!
//! At scale (thousands of members joining one topic) two things would cost the square of the
//! members: a `presence_diff` per change to every member, and a `presence_state` tree built and
//! encoded per joiner. So changes are merged per topic over a short interval
//! ([`SocketRoute::presence_interval`](crate::SocketRoute::presence_interval), 25 ms) into one
//! diff, encoded once for every member, as Phoenix.Tracker broadcasts deltas in intervals;
//! each meta is encoded once when tracked, and a topic's `presence_state` is copied together
//! from those bytes once per version of the topic.

use crate::{
    Broadcast, PubSub,
    broadcast::SubscriberId,
    presence_pending::{Change, Pending},
    telemetry::Counters,
};
use serde_json::{Map, Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{sync::mpsc, time::Instant};

/// How long a topic's presence changes are merged before one `presence_diff` goes out.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(25);
/// The least time between two diffs of one topic, per key in it. Each diff is a write to every
/// member's socket (several µs of server CPU each with the wakeups, mostly the kernel's): a
/// storm of 10,000 joins flushed every 25 ms spent 97 s of server CPU (measured), 38 s with
/// diffs spaced by 30 µs per member, ~1 s less again at 50 µs once broadcasts took the fast
/// lane: 500 ms apart at 10,000 members, 50 ms at 1,000, the interval below 500
/// (Phoenix.Tracker spaces its deltas by a broadcast period, 1.5 s).
const GAP_PER_MEMBER: Duration = Duration::from_micros(50);

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
    phx_ref: Arc<str>,
    /// The meta as the client sees it (the user's fields plus `phx_ref`), encoded once: the
    /// states and diffs copy these bytes, and a few dozen bytes beat a map per member.
    wire: Arc<str>,
}

impl Entry {
    fn change(&self, key: &Arc<str>) -> Change {
        Change {
            key: key.clone(),
            phx_ref: self.phx_ref.clone(),
            wire: self.wire.clone(),
        }
    }

    fn meta(&self) -> Value {
        // Encoded by `encode_meta` from a map: it always decodes.
        serde_json::from_str(&self.wire).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// One topic's presences on this node, what is not broadcast yet, and its encoded state.
#[derive(Default)]
struct Topic {
    keys: BTreeMap<Arc<str>, Vec<Entry>>,
    pending: Pending,
    /// Whether the flusher has this topic's `pending` on its list.
    scheduled: bool,
    /// When the last diff of this topic was broadcast: see [`GAP_PER_MEMBER`].
    flushed_at: Option<Instant>,
    /// The `presence_state` payload as of the last one built, if nothing but the keys in
    /// `appended` joined since; a join storm appends each joiner to the last state (a copy)
    /// instead of walking every key again.
    state: Option<Arc<String>>,
    /// New keys (and their one meta) tracked since `state` was built.
    appended: Vec<(Arc<str>, Arc<str>)>,
}

impl Topic {
    /// Records a change for the next diff; `true` when the topic must be put on the
    /// flusher's list. `appended`: the change is a new key with one meta (a join).
    fn changed(
        &mut self,
        linked: bool,
        appended: Option<(Arc<str>, Arc<str>)>,
        record: impl FnOnce(&mut Pending),
    ) -> bool {
        match appended {
            Some(key_and_meta) if self.state.is_some() => self.appended.push(key_and_meta),
            _ => {
                self.state = None;
                self.appended = Vec::new();
            }
        }
        // With no pubsub (a `Presence` of its own), nobody would get the diff.
        if !linked {
            return false;
        }
        record(&mut self.pending);
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// Whether this topic's last diff left less than [`GAP_PER_MEMBER`] per key ago.
    fn too_soon(&self) -> bool {
        let gap = GAP_PER_MEMBER * u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.flushed_at.is_some_and(|at| at.elapsed() < gap)
    }

    /// The `presence_state` payload, built or brought up to date.
    fn encoded_state(&mut self) -> Arc<String> {
        let state = match self.state.take() {
            Some(state) if self.appended.is_empty() => state,
            // `Arc<String>`, not `Arc<str>`: moved in, not copied (a state is large).
            Some(state) => Arc::new(append_keys(&state, &std::mem::take(&mut self.appended))),
            None => Arc::new(encode_state(&self.keys, &Map::new())),
        };
        self.state = Some(state.clone());
        state
    }
}

/// Where the merged diffs go: the endpoint's pubsub and counters.
#[derive(Clone)]
struct Link {
    pubsub: PubSub,
    counters: Arc<Counters>,
    interval: Duration,
}

/// The presences of every topic of one socket endpoint, kept in this process; changes are
/// broadcast as `presence_diff` through the endpoint's [`PubSub`](crate::PubSub), merged per
/// topic over [`SocketRoute::presence_interval`](crate::SocketRoute::presence_interval).
///
/// Use it through [`ChannelSocket::track`](crate::ChannelSocket::track) (which untracks by
/// itself when the channel ends) and read it from anywhere with [`list`](Self::list).
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    topics: Mutex<HashMap<String, Topic>>,
    /// Makes `phx_ref`s unique across restarts of this process, as the client matches metas
    /// by `phx_ref` alone.
    prefix: String,
    next_ref: AtomicU64,
    /// The endpoint's pubsub (whose adapter knows the presences of other nodes) and counters.
    link: Mutex<Option<Link>>,
    /// The topics whose diffs are due, in the order they are due, to the flusher task.
    flusher: Mutex<Option<mpsc::UnboundedSender<(Instant, String)>>>,
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

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks leaves consistent data (one insert, remove or swap at a
    // time), so a poisoned lock is used as is.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
                link: Mutex::new(None),
                flusher: Mutex::new(None),
            }),
        }
    }

    /// The presences of `topic`: `{"<key>": {"metas": [{.., "phx_ref": ".."}]}}`, what
    /// `presence_state` carries, changes not yet broadcast included.
    ///
    /// With a networked [`Adapter`](crate::Adapter) (Redis), the presences tracked on the
    /// other nodes are listed too, after this node's metas of the same key.
    pub fn list(&self, topic: &str) -> Value {
        let mut out = Map::new();
        {
            let mut topics = self.lock();
            if let Some(state) = topics.get_mut(topic) {
                // The caller may push this to a client: see `Pending::leave`.
                state.pending.served();
                for (key, entries) in &state.keys {
                    let metas: Vec<Value> = entries.iter().map(Entry::meta).collect();
                    out.insert(key.to_string(), json!({ "metas": metas }));
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

    /// [`list`](Self::list), encoded: the `presence_state` payload. Copied together from the
    /// metas' bytes once per version of the topic, and shared by every socket that pushes
    /// that version (a join storm's joiners in one interval, a resync).
    pub(crate) fn encoded_state(&self, topic: &str) -> Arc<String> {
        let remote = self.remote(topic);
        let mut topics = self.lock();
        let mut state = topics.get_mut(topic);
        if let Some(state) = state.as_deref_mut() {
            // The caller pushes this to a client: see `Pending::leave`.
            state.pending.served();
        }
        if !remote.is_empty() {
            // Other nodes' presences change without this node's version: merged each time,
            // written straight from this node's encoded metas and the other nodes' values.
            let empty = BTreeMap::new();
            let keys = state.map_or(&empty, |state| &state.keys);
            return Arc::new(encode_state(keys, &remote));
        }
        match state {
            Some(state) => state.encoded_state(),
            None => Arc::new("{}".to_owned()),
        }
    }

    /// The keys present in `topic` (on every node, as [`list`](Self::list)).
    pub fn keys(&self, topic: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .lock()
            .get(topic)
            .map(|state| state.keys.keys().map(ToString::to_string).collect())
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
            .and_then(|state| state.keys.get(key))
            .map(|entries| entries.iter().map(Entry::meta).collect())
            .unwrap_or_default();
        if let Some(remote) = self.remote(topic).get(key) {
            let remote = remote.get("metas").and_then(Value::as_array);
            metas.extend(remote.into_iter().flatten().cloned());
        }
        metas
    }

    fn remote(&self, topic: &str) -> Map<String, Value> {
        self.link()
            .map(|link| link.pubsub.remote_presence(topic))
            .unwrap_or_default()
    }

    fn link(&self) -> Option<Link> {
        relock(&self.inner.link).clone()
    }

    /// Broadcasts the diffs through `pubsub` and counts them in `counters`, every
    /// `interval`; [`SocketRoute`](crate::SocketRoute) calls it.
    pub(crate) fn set_link(&self, pubsub: PubSub, counters: Arc<Counters>, interval: Duration) {
        *relock(&self.inner.link) = Some(Link {
            pubsub,
            counters,
            interval,
        });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        relock(&self.inner.topics)
    }

    fn new_ref(&self) -> Arc<str> {
        let n = self.inner.next_ref.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.inner.prefix).into()
    }

    /// Tracks `key` with `meta` for `owner`; returns its `phx_ref`. One meta per owner and
    /// key, as Phoenix.Presence: a second `track` is an error, not a second meta. The
    /// `presence_diff` goes out with the topic's next merged diff.
    pub(crate) fn track(
        &self,
        owner: Owner,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<Arc<str>, AlreadyTracked> {
        let phx_ref = self.new_ref();
        let wire = encode_meta(into_map(meta), &phx_ref, None);
        let linked = self.link().is_some();
        let schedule = {
            let mut topics = self.lock();
            if !topics.contains_key(topic) {
                topics.insert(topic.to_owned(), Topic::default());
            }
            let state = topics.get_mut(topic).expect("inserted above");
            let key: Arc<str> = match state.keys.get_key_value(key) {
                Some((key, _)) => key.clone(),
                None => key.into(),
            };
            // One meta per key is the rule: room for exactly one (a `Vec` would make four).
            let entries = state
                .keys
                .entry(key.clone())
                .or_insert_with(|| Vec::with_capacity(1));
            if entries.iter().any(|e| e.owner == owner) {
                return Err(AlreadyTracked {
                    topic: topic.to_owned(),
                    key: key.to_string(),
                });
            }
            let entry = Entry {
                owner,
                phx_ref: phx_ref.clone(),
                wire,
            };
            let change = entry.change(&key);
            let appended = entries
                .is_empty()
                .then(|| (key.clone(), entry.wire.clone()));
            entries.push(entry);
            state.changed(linked, appended, |pending| pending.join(change))
        };
        if schedule {
            self.schedule(topic);
        }
        Ok(phx_ref)
    }

    /// Replaces `owner`'s meta for `key`: a new `phx_ref`, with `phx_ref_prev` the old one. The
    /// diff holds the new meta in `joins` and the old in `leaves`; `false` if `owner` tracks
    /// nothing under `key`.
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
    ) -> bool {
        let linked = self.link().is_some();
        let new_ref = self.new_ref();
        let schedule = {
            let mut topics = self.lock();
            let Some(state) = topics.get_mut(topic) else {
                return false;
            };
            let Some(key) = state.keys.get_key_value(key).map(|(k, _)| k.clone()) else {
                return false;
            };
            let entries = state.keys.get_mut(&key).expect("found above");
            let Some(entry) = entries.iter_mut().find(|e| e.owner == owner) else {
                return false;
            };
            let old = entry.change(&key);
            let mut current = into_map(entry.meta());
            current.remove("phx_ref");
            current.remove("phx_ref_prev");
            let meta = into_map(meta(Value::Object(current)));
            entry.wire = encode_meta(meta, &new_ref, Some(&entry.phx_ref));
            entry.phx_ref = new_ref;
            let new = entry.change(&key);
            state.changed(linked, None, |pending| {
                pending.leave(old);
                pending.join(new);
            })
        };
        if schedule {
            self.schedule(topic);
        }
        true
    }

    /// Untracks `owner`'s `key`, or every key of `owner` in `topic` when `key` is `None`;
    /// `false` if it tracked none of them.
    pub(crate) fn untrack(&self, owner: Owner, topic: &str, key: Option<&str>) -> bool {
        let linked = self.link().is_some();
        let (left, schedule) = {
            let mut topics = self.lock();
            let Some(state) = topics.get_mut(topic) else {
                return false;
            };
            let mut gone = Vec::new();
            state.keys.retain(|k, entries| {
                if key.is_some_and(|key| key != &**k) {
                    return true;
                }
                entries.retain(|e| {
                    let keep = e.owner != owner;
                    if !keep {
                        gone.push(e.change(k));
                    }
                    keep
                });
                !entries.is_empty()
            });
            let left = !gone.is_empty();
            let schedule = left
                && state.changed(linked, None, |pending| {
                    gone.into_iter().for_each(|c| pending.leave(c));
                });
            if state.keys.is_empty() && !state.scheduled {
                topics.remove(topic);
            }
            (left, schedule)
        };
        if schedule {
            self.schedule(topic);
        }
        left
    }
}

/// The merged diffs: one task per [`Presence`] broadcasts each topic's pending changes when
/// its interval is over, one topic after the other, so a topic's diffs leave in order.
impl Presence {
    /// Puts `topic` on the flusher's list, starting the flusher on first use (and again if
    /// the runtime it ran on has gone).
    fn schedule(&self, topic: &str) {
        let Some(link) = self.link() else {
            return;
        };
        let due = (Instant::now() + link.interval, topic.to_owned());
        let mut flusher = relock(&self.inner.flusher);
        let due = match flusher.as_ref() {
            Some(tx) => match tx.send(due) {
                Ok(()) => return,
                // The flusher's runtime has shut down.
                Err(mpsc::error::SendError(due)) => due,
            },
            None => due,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                topic,
                "presence changed outside a Tokio runtime: presence_diff not sent"
            );
            self.unschedule(topic);
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(due);
        runtime.spawn(flush_loop(Arc::downgrade(&self.inner), rx));
        *flusher = Some(tx);
    }

    /// Puts `topic`, still scheduled, back on the flusher's list.
    fn reschedule(&self, topic: &str) {
        if let (Some(link), Some(tx)) = (self.link(), relock(&self.inner.flusher).as_ref()) {
            if tx
                .send((Instant::now() + link.interval, topic.to_owned()))
                .is_ok()
            {
                return;
            }
        }
        self.unschedule(topic);
    }

    fn unschedule(&self, topic: &str) {
        if let Some(state) = self.lock().get_mut(topic) {
            state.scheduled = false;
        }
    }

    /// Broadcasts `topic`'s pending changes as one `presence_diff` (encoded once for every
    /// subscriber), and hands the net change to the adapter.
    async fn flush(&self, topic: &str) {
        let taken = {
            let mut topics = self.lock();
            let Some(state) = topics.get_mut(topic) else {
                return;
            };
            if state.too_soon() {
                // Stays scheduled: due again one interval later, behind the others.
                drop(topics);
                return self.reschedule(topic);
            }
            state.scheduled = false;
            state.flushed_at = Some(Instant::now());
            let taken = (!state.pending.is_empty()).then(|| state.pending.take());
            if state.keys.is_empty() {
                topics.remove(topic);
            }
            taken
        };
        let (Some(taken), Some(link)) = (taken, self.link()) else {
            return;
        };
        let (payload, diff) = taken.encode();
        if !diff.joins.is_empty() || !diff.leaves.is_empty() {
            link.pubsub.presence_changed(topic, &diff);
        }
        link.counters.presence_diff();
        let broadcast = Broadcast::new(topic, "presence_diff", payload);
        if let Err(error) = link.pubsub.send(broadcast).await {
            tracing::warn!(topic, %error, "presence_diff not broadcast to other nodes");
        }
    }
}

async fn flush_loop(inner: Weak<Inner>, mut due: mpsc::UnboundedReceiver<(Instant, String)>) {
    while let Some((at, topic)) = due.recv().await {
        tokio::time::sleep_until(at).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        Presence { inner }.flush(&topic).await;
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

/// The meta as the client sees it: the user's fields plus `phx_ref` (and `phx_ref_prev`
/// after an update), encoded.
fn encode_meta(mut meta: Map<String, Value>, phx_ref: &str, prev: Option<&str>) -> Arc<str> {
    meta.insert("phx_ref".to_owned(), Value::String(phx_ref.to_owned()));
    match prev {
        Some(prev) => meta.insert("phx_ref_prev".to_owned(), Value::String(prev.to_owned())),
        None => meta.remove("phx_ref_prev"),
    };
    serde_json::to_string(&meta)
        .expect("JSON values always serialize")
        .into()
}

/// `state` (`{..}`) with `"<key>": {"metas": [<meta>]}` added for each of `keys`.
fn append_keys(state: &str, keys: &[(Arc<str>, Arc<str>)]) -> String {
    let added: usize = keys.iter().map(|(k, m)| k.len() + m.len() + 20).sum();
    let mut out = Vec::with_capacity(state.len() + added);
    out.extend_from_slice(&state.as_bytes()[..state.len() - 1]);
    for (key, meta) in keys {
        if out.len() > 1 {
            out.push(b',');
        }
        write_key(&mut out, key, std::slice::from_ref(meta));
    }
    out.push(b'}');
    String::from_utf8(out).expect("JSON text built from strings is UTF-8")
}

/// `"<key>":{"metas":[<metas>]}`.
fn write_key(out: &mut Vec<u8>, key: &str, metas: &[Arc<str>]) {
    serde_json::to_writer(&mut *out, key).expect("a string always serializes");
    out.extend_from_slice(br#":{"metas":["#);
    for (i, meta) in metas.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(meta.as_bytes());
    }
    out.extend_from_slice(b"]}");
}

/// `{"<key>": {"metas": [..]}}` from this node's metas' encoded bytes (copied, not encoded
/// again), with the presences of other nodes (`remote`, in [`Presence::list`]'s shape) added:
/// a key on both has this node's metas, then theirs.
fn encode_state(keys: &BTreeMap<Arc<str>, Vec<Entry>>, remote: &Map<String, Value>) -> String {
    let remote_metas = |key: &str| -> &[Value] {
        remote
            .get(key)
            .and_then(|presence| presence.get("metas"))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    };
    let local: usize = keys
        .iter()
        .map(|(key, entries)| {
            key.len() + 16 + entries.iter().map(|e| e.wire.len() + 1).sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(local + 2);
    out.push(b'{');
    let mut write = |key: &str, local: &[Entry], theirs: &[Value]| {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).expect("a string always serializes");
        out.extend_from_slice(br#":{"metas":["#);
        for (j, entry) in local.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(entry.wire.as_bytes());
        }
        for (j, meta) in theirs.iter().enumerate() {
            if j > 0 || !local.is_empty() {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, meta).expect("JSON values always serialize");
        }
        out.extend_from_slice(b"]}");
    };
    for (key, entries) in keys {
        write(key, entries, remote_metas(key));
    }
    for key in remote.keys().filter(|key| !keys.contains_key(key.as_str())) {
        write(key, &[], remote_metas(key));
    }
    out.push(b'}');
    String::from_utf8(out).expect("JSON text built from strings is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(pubsub: &PubSub) -> Presence {
        let presence = Presence::new();
        presence.set_link(pubsub.clone(), Arc::default(), Duration::from_millis(5));
        presence
    }

    /// An adapter whose other nodes hold `remote` (in `list`'s shape) for every topic.
    struct OtherNodes {
        local: crate::LocalAdapter,
        remote: Map<String, Value>,
    }

    impl crate::Adapter for OtherNodes {
        fn subscribe(&self, topic: &str, subscriber: crate::Subscriber) {
            self.local.subscribe(topic, subscriber);
        }
        fn unsubscribe(&self, topic: &str, id: SubscriberId) {
            self.local.unsubscribe(topic, id);
        }
        fn broadcast(
            &self,
            message: Arc<Broadcast>,
        ) -> crate::broadcast::BoxFuture<'_, Result<(), crate::PubSubError>> {
            self.local.broadcast(message)
        }
        fn remote_presence(&self, _topic: &str) -> Map<String, Value> {
            self.remote.clone()
        }
    }

    /// With other nodes' presences, the state a joiner gets is the list: a key on both nodes
    /// has both's metas (this node's first), a key only there is there, the empty
    /// topic of this node is theirs alone.
    #[tokio::test]
    async fn the_encoded_state_merges_other_nodes_presences() {
        let remote = json!({
            "alice": {"metas": [{"phx_ref": "r1", "device": "phone"}]},
            "bob": {"metas": [{"phx_ref": "r2"}, {"phx_ref": "r3", "n": "é\"q"}]},
        });
        let Value::Object(remote) = remote else {
            unreachable!()
        };
        let pubsub = PubSub::new(OtherNodes {
            local: crate::LocalAdapter::new(),
            remote,
        });
        let presence = linked(&pubsub);
        let owner = Owner(SubscriberId::next());
        presence
            .track(owner, "t", "alice", json!({"device": "web"}))
            .unwrap();
        presence.track(owner, "t", "carol", json!({})).unwrap();
        let encoded: Value = serde_json::from_str(&presence.encoded_state("t")).unwrap();
        let list = presence.list("t");
        assert_eq!(encoded, list);
        assert_eq!(list["alice"]["metas"][0]["device"], json!("web"));
        assert_eq!(list["alice"]["metas"][1]["device"], json!("phone"));
        assert_eq!(list["bob"]["metas"].as_array().unwrap().len(), 2);
        let other: Value = serde_json::from_str(&presence.encoded_state("u")).unwrap();
        assert_eq!(other, presence.list("u"));
        assert_eq!(other.as_object().unwrap().len(), 2);
    }

    #[test]
    fn track_update_untrack_list() {
        let presence = Presence::new();
        let a = Owner(SubscriberId::next());
        let b = Owner(SubscriberId::next());
        let ref_a = presence
            .track(a, "t", "alice", json!({"device": "web"}))
            .unwrap();
        presence
            .track(b, "t", "alice", json!({"device": "phone"}))
            .unwrap();
        let again = presence.track(a, "t", "alice", json!({"device": "two"}));
        assert_eq!(again.unwrap_err().key(), "alice");
        let list = presence.list("t");
        assert_eq!(list["alice"]["metas"][0]["phx_ref"], json!(&*ref_a));
        assert_eq!(list["alice"]["metas"].as_array().unwrap().len(), 2);
        let encoded: Value = serde_json::from_str(&presence.encoded_state("t")).unwrap();
        assert_eq!(encoded, list);

        assert!(presence.update(a, "t", "alice", |_| json!({"device": "tablet"})));
        let meta = &presence.list("t")["alice"]["metas"][0];
        assert_eq!(meta["phx_ref_prev"], json!(&*ref_a));
        assert_eq!(meta["device"], json!("tablet"));
        assert_ne!(meta["phx_ref"], json!(&*ref_a));

        assert!(presence.untrack(a, "t", None));
        assert_eq!(presence.keys("t"), vec!["alice".to_owned()]);
        assert!(presence.untrack(b, "t", None));
        assert_eq!(presence.list("t"), json!({}));
        assert_eq!(&*presence.encoded_state("t"), "{}");
        assert!(!presence.untrack(b, "t", None));
    }

    #[test]
    fn get_by_key_lists_one_keys_metas_until_its_last_leaves() {
        let presence = Presence::new();
        let (a, b) = (Owner(SubscriberId::next()), Owner(SubscriberId::next()));
        assert!(presence.get_by_key("t", "alice").is_empty());
        let ref_a = presence.track(a, "t", "alice", json!({"tab": 1})).unwrap();
        presence.track(b, "t", "alice", json!({"tab": 2})).unwrap();
        presence.track(b, "t", "bob", json!({"tab": 3})).unwrap();
        let metas = presence.get_by_key("t", "alice");
        assert_eq!(metas.len(), 2);
        assert_eq!(metas[0]["phx_ref"], json!(&*ref_a));
        assert_eq!(metas[1]["tab"], json!(2));
        assert!(presence.get_by_key("other", "alice").is_empty());
        assert!(presence.untrack(a, "t", None));
        assert_eq!(presence.get_by_key("t", "alice").len(), 1);
        assert!(presence.untrack(b, "t", Some("alice")));
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
        assert!(presence.update(a, "t", "alice", |mut meta| {
            assert!(meta.get("phx_ref").is_none());
            meta["status"] = json!("away");
            meta
        }));
        let joined = &presence.list("t")["alice"]["metas"][0];
        assert_eq!(joined["joined_at"], json!(7));
        assert_eq!(joined["status"], json!("away"));
        // A second update sees no stale `phx_ref_prev` among the user's fields.
        assert!(presence.update(a, "t", "alice", |meta| {
            assert!(meta.get("phx_ref_prev").is_none());
            meta
        }));
    }

    /// The encoded state is built once per version, and a change makes a new one.
    #[test]
    fn the_encoded_state_is_shared_until_a_change() {
        let presence = Presence::new();
        let a = Owner(SubscriberId::next());
        presence.track(a, "t", "a\"b", json!({"n": 1})).unwrap();
        let one = presence.encoded_state("t");
        let two = presence.encoded_state("t");
        assert!(Arc::ptr_eq(&one, &two));
        let b = Owner(SubscriberId::next());
        presence.track(b, "t", "bob", json!({})).unwrap();
        let three = presence.encoded_state("t");
        assert!(!Arc::ptr_eq(&one, &three));
        let decoded: Value = serde_json::from_str(&three).unwrap();
        assert_eq!(decoded, presence.list("t"));
        // A second meta for a key, and a leave, rebuild it.
        let c = Owner(SubscriberId::next());
        presence.track(c, "t", "bob", json!({"n": 3})).unwrap();
        presence.untrack(a, "t", None);
        let decoded: Value = serde_json::from_str(&presence.encoded_state("t")).unwrap();
        assert_eq!(decoded, presence.list("t"));
        assert_eq!(decoded["bob"]["metas"].as_array().unwrap().len(), 2);
    }

    /// A large topic's diffs are spaced by its size, not by the interval: 5,000 presences
    /// (250 ms apart) changing every few milliseconds over ~300 ms make a handful of diffs,
    /// not one per 5 ms interval, and the last change still arrives.
    #[tokio::test]
    async fn a_large_topics_diffs_are_spaced_by_its_size() {
        let pubsub = PubSub::local();
        let mut diffs = pubsub.subscribe("t");
        let presence = linked(&pubsub);
        let owner = Owner(SubscriberId::next());
        for i in 0..5_000 {
            presence
                .track(owner, "t", &format!("u{i}"), json!({}))
                .unwrap();
        }
        let first = diffs.recv().await.unwrap();
        assert_eq!(
            first.payload().as_json().unwrap()["joins"]
                .as_object()
                .unwrap()
                .len(),
            5_000
        );
        for i in 0..60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            presence
                .track(owner, "t", &format!("late{i}"), json!({}))
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(900)).await;
        let mut count = 0;
        let mut late = 0;
        while let Some(diff) = diffs.try_recv() {
            count += 1;
            late += diff.payload().as_json().unwrap()["joins"]
                .as_object()
                .unwrap()
                .len();
        }
        assert_eq!(late, 60, "every change arrives");
        assert!(count <= 5, "{count} diffs in ~300 ms at 250 ms apart");
    }

    /// Many changes in one interval make one `presence_diff`.
    #[tokio::test]
    async fn changes_in_one_interval_make_one_diff() {
        let pubsub = PubSub::local();
        let mut diffs = pubsub.subscribe("t");
        let presence = linked(&pubsub);
        let owners: Vec<Owner> = (0..50).map(|_| Owner(SubscriberId::next())).collect();
        for (i, owner) in owners.iter().enumerate() {
            presence
                .track(*owner, "t", &format!("u{i}"), json!({}))
                .unwrap();
        }
        // Joined and left within the interval, never in a state: not in the diff at all.
        presence.untrack(owners[0], "t", None);
        let diff = diffs.recv().await.unwrap();
        assert_eq!(diff.event(), "presence_diff");
        let payload = diff.payload().as_json().unwrap();
        assert_eq!(payload["joins"].as_object().unwrap().len(), 49);
        assert_eq!(payload["leaves"], json!({}));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(diffs.try_recv().is_none(), "one diff for the interval");
    }
}
