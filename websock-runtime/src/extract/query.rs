//! `Query<T>`: the query string, typed.

use super::{
    FromRequest,
    params_de::{Param, visit_map},
    rejection::ExtractError,
};
use crate::{Refuse, RequestInfo};
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use std::ops::Deref;

/// The query string, percent-decoded and deserialized into `T` (a struct or a map), as axum's
/// `Query`.
///
/// ```
/// use serde::Deserialize;
/// use websock_runtime::Query;
///
/// #[derive(Deserialize)]
/// struct Join {
///     token: String,
///     limit: Option<u32>,
///     tag: Vec<String>,
/// }
///
/// // "?token=abc&limit=10&tag=a&tag=b"
/// fn init(Query(join): Query<Join>) {}
/// ```
///
/// - Values are parsed by the field's type (numbers, `bool`, `char`, unit enum variants...).
/// - An `Option` field is `None` when the key is absent or its value empty (`?limit=`).
/// - A key given several times fills a `Vec` (or other sequence) field with every value in
///   order; any other field takes the last value.
/// - Keys the type does not name are ignored (unless it denies unknown fields).
///
/// A query that does not deserialize refuses the upgrade with 400 and a body naming the
/// parameter and the error (`invalid query parameter `limit`: cannot parse "x" as u32: invalid
/// digit found in string`, or `invalid query parameters: missing field `token``).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S, T: DeserializeOwned> FromRequest<S> for Query<T> {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        // Each key once, at its first position, with all its values.
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for (key, value) in request.query_pairs() {
            match keys.iter_mut().find(|(known, _)| *known == key) {
                Some((_, values)) => values.push(value),
                None => keys.push((key, vec![value])),
            }
        }
        T::deserialize(QueryDe(&keys))
            .map(Query)
            .map_err(|error| error.into_refuse("query parameter"))
    }
}

/// The grouped query as a map.
struct QueryDe<'de>(&'de [(String, Vec<String>)]);

impl<'de> Deserializer<'de> for QueryDe<'de> {
    type Error = ExtractError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        let params = self.0.iter().map(|(name, values)| Param::new(name, values));
        visit_map(params, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
