//! phoenix.js's `Presence.syncState` and `Presence.syncDiff`
//! (node_modules/phoenix/assets/js/phoenix/presence.js), ported to a compact state for
//! thousands of light clients in one process: key → set of `phx_ref`, both interned to `u32`
//! (one interner per process), metas dropped (the scenarios compare keys and refs only).
//!
//! As in phoenix.js, diffs that arrive before the channel's first `presence_state` are held
//! and applied after it.

use serde_json::{Map, Value};
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

/// Strings to small numbers: presence keys and `phx_ref`s, each in its own table.
struct Interner {
    ids: Mutex<HashMap<String, u32>>,
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
    /// The diffs that came before the first `presence_state`.
    pending: Vec<Value>,
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

    fn set(&mut self, key: u32, refs: Vec<u32>) {
        let index = key as usize;
        if index >= self.slots.len() {
            self.slots.resize(index + 1, ABSENT);
        }
        let was = self.slots[index];
        if was == MULTI {
            self.multi.remove(&key);
        }
        self.len = self.len + usize::from(!refs.is_empty()) - usize::from(was != ABSENT);
        self.slots[index] = match refs[..] {
            [] => ABSENT,
            [one] => one,
            _ => {
                self.multi.insert(key, refs);
                MULTI
            }
        };
    }

    /// Applies a frame's event, if it is a presence one.
    pub(crate) fn apply(&mut self, event: &str, payload: &Value) {
        match event {
            "presence_state" => {
                self.sync_state(payload.as_object());
                self.synced = true;
                for diff in std::mem::take(&mut self.pending) {
                    self.sync_diff(&diff);
                }
            }
            "presence_diff" if !self.synced => self.pending.push(payload.clone()),
            "presence_diff" => self.sync_diff(payload),
            _ => {}
        }
    }

    /// `syncState`: the joins and leaves that turn the current state into `new`, applied as
    /// a diff.
    fn sync_state(&mut self, new: Option<&Map<String, Value>>) {
        let empty = Map::new();
        let new: HashMap<u32, Vec<u32>> = new
            .unwrap_or(&empty)
            .iter()
            .map(|(key, presence)| (keys().id(key), ref_ids(presence)))
            .collect();
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        for (key, slot) in self.slots.iter().enumerate() {
            let key = key as u32;
            if *slot != ABSENT && !new.contains_key(&key) {
                leaves.push((key, self.refs_of(key, slot).to_vec()));
            }
        }
        for (key, new_refs) in new {
            let current = self.get(key);
            if current.is_empty() {
                joins.push((key, new_refs));
                continue;
            }
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
        self.apply_joins(joins);
        self.apply_leaves(leaves);
    }

    /// `syncDiff`: every join's refs added to its key (the current ones not in the join kept
    /// first), then every leave's refs removed, and a key with none left deleted.
    fn sync_diff(&mut self, diff: &Value) {
        let parse = |side: &str| -> Vec<(u32, Vec<u32>)> {
            diff[side]
                .as_object()
                .map(|presences| {
                    presences
                        .iter()
                        .map(|(key, presence)| (keys().id(key), ref_ids(presence)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (joins, leaves) = (parse("joins"), parse("leaves"));
        self.apply_joins(joins);
        self.apply_leaves(leaves);
    }

    fn apply_joins(&mut self, joins: Vec<(u32, Vec<u32>)>) {
        for (key, joined) in joins {
            let mut refs: Vec<u32> = self
                .get(key)
                .iter()
                .copied()
                .filter(|r| !joined.contains(r))
                .collect();
            refs.extend(joined);
            self.set(key, refs);
        }
    }

    fn apply_leaves(&mut self, leaves: Vec<(u32, Vec<u32>)>) {
        for (key, left) in leaves {
            let current = self.get(key);
            if current.is_empty() {
                continue;
            }
            let refs = current
                .iter()
                .copied()
                .filter(|r| !left.contains(r))
                .collect();
            self.set(key, refs);
        }
    }

    /// Whether the keys present are exactly `expected` (ids from [`key_ids`]).
    pub(crate) fn has_exactly(&self, expected: &[u32]) -> bool {
        self.len == expected.len() && expected.iter().all(|&key| !self.get(key).is_empty())
    }
}

/// The `phx_ref`s of a presence `{"metas": [{"phx_ref": ..}, ..]}`.
fn ref_ids(presence: &Value) -> Vec<u32> {
    presence["metas"]
        .as_array()
        .map(|metas| {
            metas
                .iter()
                .filter_map(|meta| meta["phx_ref"].as_str())
                .map(|r| refs().id(r))
                .collect()
        })
        .unwrap_or_default()
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
