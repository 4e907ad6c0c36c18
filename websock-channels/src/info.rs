//! A typed value published to a topic ([`PubSub::publish_info`](crate::PubSub::publish_info)):
//! Phoenix's `PubSub.broadcast(MyApp.PubSub, "game:42", {:game_update, state})`, whose
//! subscribers' `handle_info` receive the term itself, not a client frame.
//!
//! On the node that published it the value is kept as it is and cloned for each subscriber
//! that takes its type. A networked adapter sends it to other nodes as JSON (serde), tagged
//! with its type's name ([`InfoValue::tag`]); there it is decoded once, by the first
//! subscriber whose type has that name and is `Deserialize`, and that decoded value is cloned
//! for the others.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use std::{
    any::{Any, TypeId},
    fmt,
    marker::PhantomData,
    sync::{Arc, OnceLock},
};

/// A published value of any type: what a [`Broadcast::info`](crate::Broadcast::info) carries.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct InfoValue(Arc<Inner>);

enum Inner {
    /// Published on this node.
    Local(Box<dyn Erased>),
    /// Received from another node: its tag and JSON, decoded on first use.
    Encoded {
        tag: Box<str>,
        json: Bytes,
        decoded: OnceLock<Option<Box<dyn Erased>>>,
    },
}

/// A value with its type erased, as it can be cloned and serialized.
trait Erased: Any + Send + Sync {
    fn clone_any(&self) -> Box<dyn Any + Send>;
    fn as_any(&self) -> &dyn Any;
    fn tag(&self) -> &'static str;
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
}

/// `T` and, when published locally, how to serialize it.
struct Value<T>(T);

impl<T: Clone + Send + Sync + Serialize + 'static> Erased for Value<T> {
    fn clone_any(&self) -> Box<dyn Any + Send> {
        Box::new(self.0.clone())
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }

    fn tag(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.0)
    }
}

/// A decoded value from another node: cloned like a local one, never re-encoded.
struct Decoded<T>(T);

impl<T: Clone + Send + Sync + 'static> Erased for Decoded<T> {
    fn clone_any(&self) -> Box<dyn Any + Send> {
        Box::new(self.0.clone())
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }

    fn tag(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        Err(serde::ser::Error::custom("a decoded value is not sent on"))
    }
}

impl fmt::Debug for InfoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InfoValue").field(&self.tag()).finish()
    }
}

impl InfoValue {
    /// `value`, published on this node.
    pub fn new<T: Clone + Send + Sync + Serialize + 'static>(value: T) -> Self {
        Self(Arc::new(Inner::Local(Box::new(Value(value)))))
    }

    /// A value another node published, as a networked adapter received it: the [`tag`]
    /// and the [`to_json`] of the value there.
    ///
    /// [`tag`]: Self::tag
    /// [`to_json`]: Self::to_json
    pub fn from_json(tag: impl Into<Box<str>>, json: Bytes) -> Self {
        Self(Arc::new(Inner::Encoded {
            tag: tag.into(),
            json,
            decoded: OnceLock::new(),
        }))
    }

    /// The name of its type (`std::any::type_name`), which tells nodes what to decode it
    /// into: nodes must name it alike (the same crate path, built by the same compiler).
    pub fn tag(&self) -> &str {
        match &*self.0 {
            Inner::Local(value) => value.tag(),
            Inner::Encoded { tag, .. } => tag,
        }
    }

    /// The value as JSON, for another node.
    ///
    /// # Errors
    /// The value's `Serialize` failed.
    pub fn to_json(&self) -> Result<Bytes, serde_json::Error> {
        match &*self.0 {
            Inner::Local(value) => value.to_json().map(Bytes::from),
            Inner::Encoded { json, .. } => Ok(json.clone()),
        }
    }

    /// Whether it came from another node (and is decoded on first use).
    pub fn is_remote(&self) -> bool {
        matches!(&*self.0, Inner::Encoded { .. })
    }

    /// A reference to the value if it was published on this node as a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        match &*self.0 {
            Inner::Local(value) => value.as_any().downcast_ref(),
            Inner::Encoded { .. } => None,
        }
    }

    /// A clone of the value if it was published on this node as a `T` (the default
    /// [`Channel::accept_info`](crate::Channel::accept_info)).
    pub fn clone_as<T: 'static>(&self) -> Option<T> {
        let value = match &*self.0 {
            Inner::Local(value) => value,
            Inner::Encoded { decoded, .. } => decoded.get()?.as_ref()?,
        };
        if value.as_any().type_id() != TypeId::of::<T>() {
            return None;
        }
        value.clone_any().downcast().ok().map(|value| *value)
    }

    /// A clone of the value as a `T`: published on this node as a `T`, or from another
    /// node with `T`'s tag and decoded (once for every subscriber of this node).
    pub fn decode<T: DeserializeOwned + Clone + Send + Sync + 'static>(&self) -> Option<T> {
        if let Inner::Encoded { tag, json, decoded } = &*self.0 {
            if **tag != *std::any::type_name::<T>() {
                return None;
            }
            decoded.get_or_init(|| match serde_json::from_slice::<T>(json) {
                Ok(value) => Some(Box::new(Decoded(value)) as Box<dyn Erased>),
                Err(error) => {
                    tracing::warn!(%error, tag = %tag, "a published value from another node did not decode");
                    None
                }
            });
        }
        self.clone_as()
    }
}

/// How `#[channel]` takes a published value as one `#[on_info]` type: decoding values from
/// other nodes when the type is `Deserialize` ([`Remote`]), local values only otherwise
/// ([`LocalOnly`]). The choice is made at compile time by method resolution
/// (`(&&Accept::<T>::new()).accept(value)` tries `&Accept<T>` first).
#[doc(hidden)]
pub struct Accept<T>(PhantomData<fn() -> T>);

impl<T> Accept<T> {
    /// The probe for `T`.
    #[doc(hidden)]
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Accept<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub trait Remote<T> {
    /// A local value of type `T`, or a remote one decoded.
    fn accept(&self, value: &InfoValue) -> Option<T>;
}

impl<T: DeserializeOwned + Clone + Send + Sync + 'static> Remote<T> for &Accept<T> {
    fn accept(&self, value: &InfoValue) -> Option<T> {
        value.decode()
    }
}

#[doc(hidden)]
pub trait LocalOnly<T> {
    /// A local value of type `T`.
    fn accept(&self, value: &InfoValue) -> Option<T>;
}

impl<T: 'static> LocalOnly<T> for Accept<T> {
    fn accept(&self, value: &InfoValue) -> Option<T> {
        value.clone_as()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Update {
        n: u32,
    }

    #[derive(Clone)]
    struct NotSerde;

    #[test]
    fn a_local_value_is_cloned_as_its_own_type_only() {
        let value = InfoValue::new(Update { n: 1 });
        assert_eq!(value.clone_as::<Update>(), Some(Update { n: 1 }));
        assert_eq!(value.clone_as::<u32>(), None);
        assert!(value.tag().ends_with("Update"));
    }

    #[test]
    fn a_remote_value_decodes_once_into_the_type_its_tag_names() {
        let sent = InfoValue::new(Update { n: 7 });
        let received = InfoValue::from_json(sent.tag(), sent.to_json().unwrap());
        assert_eq!(received.clone_as::<Update>(), None, "not decoded yet");
        assert_eq!(received.decode::<Update>(), Some(Update { n: 7 }));
        assert_eq!(received.clone_as::<Update>(), Some(Update { n: 7 }));
        assert_eq!(received.decode::<u32>(), None, "another tag");
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the two borrows choose the impl: the point here
    fn accept_decodes_only_types_that_deserialize() {
        let sent = InfoValue::new(Update { n: 3 });
        let received = InfoValue::from_json(sent.tag(), sent.to_json().unwrap());
        assert_eq!(
            (&&Accept::<Update>::new()).accept(&received),
            Some(Update { n: 3 })
        );
        assert!((&&Accept::<NotSerde>::new()).accept(&received).is_none());
    }
}
