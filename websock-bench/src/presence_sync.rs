//! phoenix.js's `Presence.syncState` and `Presence.syncDiff`
//! (node_modules/phoenix/assets/js/phoenix/presence.js), ported to a compact state for
//! thousands of light clients in one process: key → set of `phx_ref`, both interned to `u32`
//! (one interner per process), metas dropped (the scenarios compare keys and refs only).
//!
//! As in phoenix.js, diffs that arrive before the channel's first `presence_state` are held
//! and applied after it.

use crate::presence_parse::{self, Interns, PresenceFrame, Presences};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::{Mutex, OnceLock},
};

/// A multiply-and-rotate hash (FxHash's): the interners hash every key of every state each
/// client reads, 50 M lookups in the 10,000-member storm, where SipHash's cost shows.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Strings to small numbers: presence keys and `phx_ref`s, each in its own table.
struct Interner {
    ids: Mutex<HashMap<String, u32, BuildHasherDefault<FxHasher>>>,
}

impl Interner {
    fn id(&self, text: &str) -> u32 {
        let mut ids = self.ids.lock().expect("interner lock");
        if let Some(&id) = ids.get(text) {
            return id;
        }
        let id = ids.len() as u32;
        ids.insert(text.to_owned(), id);
        id
    }
}

fn keys() -> &'static Interner {
    static KEYS: OnceLock<Interner> = OnceLock::new();
    KEYS.get_or_init(|| Interner {
        ids: Mutex::default(),
    })
}

fn refs() -> &'static Interner {
    static REFS: OnceLock<Interner> = OnceLock::new();
    REFS.get_or_init(|| Interner {
        ids: Mutex::default(),
    })
}

const INTERNS: Interns = Interns {
    key: |text| keys().id(text),
    reference: |text| refs().id(text),
};

/// A key with no refs.
const ABSENT: u32 = u32::MAX;
/// A key with two refs or more: they are in `multi`.
const MULTI: u32 = u32::MAX - 1;

/// The ids of `names`; `None` if some name was never seen by any client of this process.
pub(crate) fn key_ids(names: &[String]) -> Option<Vec<u32>> {
    let ids = keys().ids.lock().expect("interner lock");
    names.iter().map(|name| ids.get(name).copied()).collect()
}

/// One client's presence list: 4 bytes per key of the process (key ids are dense), so 10,000
/// clients with 10,000 keys each hold 400 MB, not the gigabytes of a map per client.
#[derive(Default)]
pub(crate) struct PresenceState {
    /// By key id: [`ABSENT`], [`MULTI`], or the key's one ref.
    slots: Vec<u32>,
    /// The refs of the keys marked [`MULTI`].
    multi: HashMap<u32, Vec<u32>>,
    len: usize,
    /// The diffs (joins, leaves) that came before the first `presence_state`.
    pending: Vec<(Presences, Presences)>,
    synced: bool,
}

impl PresenceState {
    /// How many keys are present.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The refs' count, over every key (a key tracked twice has two).
    #[cfg(test)]
    fn refs(&self) -> usize {
        self.slots
            .iter()
            .enumerate()
            .map(|(key, slot)| self.refs_of(key as u32, slot).len())
            .sum()
    }

    fn refs_of<'a>(&'a self, key: u32, slot: &'a u32) -> &'a [u32] {
        match *slot {
            ABSENT => &[],
            MULTI => &self.multi[&key],
            _ => std::slice::from_ref(slot),
        }
    }

    fn get(&self, key: u32) -> &[u32] {
        match self.slots.get(key as usize) {
            Some(slot) => self.refs_of(key, slot),
            None => &[],
        }
    }

    fn set(&mut self, key: u32, refs: &[u32]) {
        let index = key as usize;
        if index >= self.slots.len() {
            self.slots.resize(index + 1, ABSENT);
        }
        let was = self.slots[index];
        if was == MULTI {
            self.multi.remove(&key);
        }
        self.len = self.len + usize::from(!refs.is_empty()) - usize::from(was != ABSENT);
        self.slots[index] = match *refs {
            [] => ABSENT,
            [one] => one,
            _ => {
                self.multi.insert(key, refs.to_vec());
                MULTI
            }
        };
    }

    /// Applies a V2 text frame, if it is a presence one on `topic`.
    pub(crate) fn apply_text(&mut self, text: &str, topic: &str) {
        match presence_parse::parse(text, topic, INTERNS) {
            PresenceFrame::State(state) => {
                self.sync_state(&state);
                self.synced = true;
                for (joins, leaves) in std::mem::take(&mut self.pending) {
                    self.sync_diff(&joins, &leaves);
                }
            }
            PresenceFrame::Diff { joins, leaves } if !self.synced => {
                self.pending.push((joins, leaves));
            }
            PresenceFrame::Diff { joins, leaves } => self.sync_diff(&joins, &leaves),
            PresenceFrame::Other => {}
        }
    }

    /// Applies an event already decoded, if it is a presence one.
    pub(crate) fn apply(&mut self, event: &str, payload: &Value) {
        let text = json!([null, null, "", event, payload]).to_string();
        self.apply_text(&text, "");
    }

    /// `syncState`: the joins and leaves that turn the current state into `new`, applied as
    /// a diff.
    fn sync_state(&mut self, new: &Presences) {
        if self.len == 0 {
            // A client's first state (every one in a join storm): all joins.
            return self.apply_joins(new.iter());
        }
        let mut in_new = vec![false; self.slots.len()];
        for (key, _) in new.iter() {
            if let Some(seen) = in_new.get_mut(key as usize) {
                *seen = true;
            }
        }
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        for (key, slot) in self.slots.iter().enumerate() {
            if *slot != ABSENT && !in_new[key] {
                leaves.push((key as u32, self.refs_of(key as u32, slot).to_vec()));
            }
        }
        for (key, new_refs) in new.iter() {
            let current = self.get(key);
            let joined: Vec<u32> = new_refs
                .iter()
                .copied()
                .filter(|r| !current.contains(r))
                .collect();
            let left: Vec<u32> = current
                .iter()
                .copied()
                .filter(|r| !new_refs.contains(r))
                .collect();
            if !joined.is_empty() {
                joins.push((key, joined));
            }
            if !left.is_empty() {
                leaves.push((key, left));
            }
        }
        self.apply_joins(joins.iter().map(|(key, refs)| (*key, &refs[..])));
        self.apply_leaves(leaves.iter().map(|(key, refs)| (*key, &refs[..])));
    }

    /// `syncDiff`: every join's refs added to its key (the current ones not in the join kept
    /// first), then every leave's refs removed, and a key with none left deleted.
    fn sync_diff(&mut self, joins: &Presences, leaves: &Presences) {
        self.apply_joins(joins.iter());
        self.apply_leaves(leaves.iter());
    }

    fn apply_joins<'a>(&mut self, joins: impl Iterator<Item = (u32, &'a [u32])>) {
        for (key, joined) in joins {
            let current = self.get(key);
            if current.is_empty() {
                self.set(key, joined);
                continue;
            }
            let mut refs: Vec<u32> = current
                .iter()
                .copied()
                .filter(|r| !joined.contains(r))
                .collect();
            refs.extend_from_slice(joined);
            self.set(key, &refs);
        }
    }

    fn apply_leaves<'a>(&mut self, leaves: impl Iterator<Item = (u32, &'a [u32])>) {
        for (key, left) in leaves {
            let current = self.get(key);
            if current.is_empty() {
                continue;
            }
            let refs: Vec<u32> = current
                .iter()
                .copied()
                .filter(|r| !left.contains(r))
                .collect();
            self.set(key, &refs);
        }
    }

    /// Whether the keys present are exactly `expected` (ids from [`key_ids`]).
    pub(crate) fn has_exactly(&self, expected: &[u32]) -> bool {
        self.len == expected.len() && expected.iter().all(|&key| !self.get(key).is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn presence(refs: &[&str]) -> Value {
        json!({ "metas": refs.iter().map(|r| json!({ "phx_ref": r })).collect::<Vec<_>>() })
    }

    #[test]
    fn diffs_before_the_state_are_applied_after_it() {
        let mut state = PresenceState::default();
        state.apply(
            "presence_diff",
            &json!({ "joins": { "t-b": presence(&["t2"]) }, "leaves": {} }),
        );
        assert_eq!(state.len(), 0);
        state.apply("presence_state", &json!({ "t-a": presence(&["t1"]) }));
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn a_key_leaves_when_its_last_ref_does() {
        let mut state = PresenceState::default();
        state.apply("presence_state", &json!({ "t-c": presence(&["t3", "t4"]) }));
        let leave = json!({ "joins": {}, "leaves": { "t-c": presence(&["t3"]) } });
        state.apply("presence_diff", &leave);
        assert_eq!((state.len(), state.refs()), (1, 1));
        let leave = json!({ "joins": {}, "leaves": { "t-c": presence(&["t4"]) } });
        state.apply("presence_diff", &leave);
        assert_eq!(state.len(), 0);
    }

    #[test]
    fn a_new_state_replaces_the_old_one() {
        let mut state = PresenceState::default();
        state.apply(
            "presence_state",
            &json!({ "t-d": presence(&["t5"]), "t-e": presence(&["t6"]) }),
        );
        state.apply("presence_state", &json!({ "t-d": presence(&["t7"]) }));
        assert_eq!((state.len(), state.refs()), (1, 1));
        let join = json!({ "joins": { "t-d": presence(&["t8"]) }, "leaves": {} });
        state.apply("presence_diff", &join);
        assert_eq!(state.refs(), 2);
    }
}
