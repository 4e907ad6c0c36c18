//! Reading a room's presence frames in one pass, without a JSON tree: the light clients of the
//! presence scenarios each read every `presence_state` (up to 1 MB at 10,000 members), and
//! building a `serde_json::Value` of it, with a `String` per key and a map per meta, made the
//! load generator, not the server, set how long a join storm lasted (and so how many diffs
//! the server sent meanwhile).
//!
//! A presence map (`{"<key>": {"metas": [{"phx_ref": "..", ..}, ..]}, ..}`) becomes a list of
//! (key id, ref ids) with every key and `phx_ref` interned; the metas' other fields are skipped.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::{borrow::Cow, fmt};

/// Interns a presence key or a `phx_ref` (see `presence_sync`).
pub(crate) type Intern = fn(&str) -> u32;

/// A presence map: each key's id and the range of its refs in `refs`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Presences {
    entries: Vec<(u32, u32, u32)>,
    refs: Vec<u32>,
}

impl Presences {
    /// Each key with its refs, in the order they came.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &[u32])> + '_ {
        self.entries.iter().map(|&(key, start, len)| {
            let start = start as usize;
            (key, &self.refs[start..start + len as usize])
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What a frame on the room's topic said about presence.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PresenceFrame {
    State(Presences),
    Diff {
        joins: Presences,
        leaves: Presences,
    },
    /// Another topic or event, or not a V2 frame.
    Other,
}

/// Reads a V2 text frame (`[join_ref, ref, topic, event, payload]`) for `topic`.
pub(crate) fn parse(text: &str, topic: &str, intern: Interns) -> PresenceFrame {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    FrameSeed { topic, intern }
        .deserialize(&mut deserializer)
        .unwrap_or(PresenceFrame::Other)
}

/// The interners for keys and refs.
#[derive(Clone, Copy)]
pub(crate) struct Interns {
    pub(crate) key: Intern,
    pub(crate) reference: Intern,
}

/// A string, borrowed from the frame unless it had escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

struct FrameSeed<'t> {
    topic: &'t str,
    intern: Interns,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = PresenceFrame;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_> {
    type Value = PresenceFrame;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a V2 frame")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let missing = || de::Error::custom("a short frame");
        seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
        seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
        let topic = seq.next_element::<Text<'de>>()?.ok_or_else(missing)?;
        let event = seq.next_element::<Text<'de>>()?.ok_or_else(missing)?;
        let frame = match (topic.0 == self.topic, &*event.0) {
            (true, "presence_state") => {
                let mut state = Presences::default();
                let seed = PresencesSeed {
                    into: &mut state,
                    intern: self.intern,
                };
                seq.next_element_seed(seed)?.ok_or_else(missing)?;
                PresenceFrame::State(state)
            }
            (true, "presence_diff") => {
                let seed = DiffSeed {
                    intern: self.intern,
                };
                seq.next_element_seed(seed)?.ok_or_else(missing)?
            }
            _ => {
                seq.next_element::<IgnoredAny>()?;
                PresenceFrame::Other
            }
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(frame)
    }
}

/// `{"joins": {..}, "leaves": {..}}`.
struct DiffSeed {
    intern: Interns,
}

impl<'de> DeserializeSeed<'de> for DiffSeed {
    type Value = PresenceFrame;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DiffSeed {
    type Value = PresenceFrame;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a presence diff")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut joins, mut leaves) = (Presences::default(), Presences::default());
        while let Some(side) = map.next_key::<Text<'de>>()? {
            let into = match &*side.0 {
                "joins" => &mut joins,
                "leaves" => &mut leaves,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(PresencesSeed {
                into,
                intern: self.intern,
            })?;
        }
        Ok(PresenceFrame::Diff { joins, leaves })
    }
}

/// A presence map, appended to `into`.
struct PresencesSeed<'p> {
    into: &'p mut Presences,
    intern: Interns,
}

impl<'de> DeserializeSeed<'de> for PresencesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PresencesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a presence map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let key = (self.intern.key)(&key.0);
            let start = self.into.refs.len();
            map.next_value_seed(RefsSeed {
                refs: &mut self.into.refs,
                intern: self.intern.reference,
                depth: Depth::Presence,
            })?;
            let len = self.into.refs.len() - start;
            self.into.entries.push((key, start as u32, len as u32));
        }
        Ok(())
    }
}

/// Where in `{"metas": [{"phx_ref": ..}]}` a [`RefsSeed`] is.
#[derive(Clone, Copy)]
enum Depth {
    /// `{"metas": [..]}`
    Presence,
    /// `[{..}, ..]`
    Metas,
    /// `{"phx_ref": "..", ..}`
    Meta,
}

/// A presence's `phx_ref`s, appended to `refs`.
struct RefsSeed<'r> {
    refs: &'r mut Vec<u32>,
    intern: Intern,
    depth: Depth,
}

impl<'de> DeserializeSeed<'de> for RefsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.depth {
            Depth::Metas => deserializer.deserialize_seq(self),
            Depth::Presence | Depth::Meta => deserializer.deserialize_map(self),
        }
    }
}

impl<'de> Visitor<'de> for RefsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a presence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(RefsSeed {
                refs: &mut *self.refs,
                intern: self.intern,
                depth: Depth::Meta,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<Text<'de>>()? {
            match (self.depth, &*field.0) {
                (Depth::Presence, "metas") => map.next_value_seed(RefsSeed {
                    refs: &mut *self.refs,
                    intern: self.intern,
                    depth: Depth::Metas,
                })?,
                (Depth::Meta, "phx_ref") => {
                    let reference = map.next_value::<Text<'de>>()?;
                    self.refs.push((self.intern)(&reference.0));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interns() -> Interns {
        // Keys and refs of one letter and digits: their number is their id.
        fn id(text: &str) -> u32 {
            text[1..].parse().unwrap()
        }
        Interns {
            key: id,
            reference: id,
        }
    }

    #[test]
    fn a_state_gives_every_key_and_its_refs() {
        let text = r#"[null,null,"room:bench","presence_state",
            {"u1":{"metas":[{"online_at":1,"phx_ref":"r10"}]},
             "u2":{"metas":[{"phx_ref":"r20","n":{"deep":[1,2]}},{"phx_ref":"r21"}]}}]"#;
        let PresenceFrame::State(state) = parse(text, "room:bench", interns()) else {
            panic!("a state");
        };
        let entries: Vec<_> = state.iter().map(|(k, r)| (k, r.to_vec())).collect();
        assert_eq!(entries, vec![(1, vec![10]), (2, vec![20, 21])]);
    }

    #[test]
    fn a_diff_gives_its_joins_and_leaves() {
        let text = r#"[null,null,"room:bench","presence_diff",
            {"leaves":{"u3":{"metas":[{"phx_ref":"r30"}]}},"joins":{}}]"#;
        let PresenceFrame::Diff { joins, leaves } = parse(text, "room:bench", interns()) else {
            panic!("a diff");
        };
        assert_eq!(joins.len(), 0);
        let leaves: Vec<_> = leaves.iter().map(|(k, r)| (k, r.to_vec())).collect();
        assert_eq!(leaves, vec![(3, vec![30])]);
    }

    #[test]
    fn other_topics_events_and_garbage_are_other() {
        let other = r#"[null,null,"room:other","presence_state",{"u1":{"metas":[]}}]"#;
        assert_eq!(parse(other, "room:bench", interns()), PresenceFrame::Other);
        let tick = r#"[null,null,"room:bench","tick",{"a":1}]"#;
        assert_eq!(parse(tick, "room:bench", interns()), PresenceFrame::Other);
        assert_eq!(parse("[1,2", "room:bench", interns()), PresenceFrame::Other);
    }
}
