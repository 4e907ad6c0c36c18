//! `Path<T>`: the route's path parameters, typed.

use super::{
    FromRequest,
    params_de::{Param, visit_map, visit_seq},
    rejection::ExtractError,
};
use crate::{Refuse, RequestInfo, percent::decode_path};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use std::{ops::Deref, slice};

/// The path parameters of the route, percent-decoded and deserialized into `T`, as axum's
/// `Path`: one parameter into a value (`Path<u32>`, `Path<String>`), several into a tuple in
/// the order of the pattern or into a struct (or map) by name.
///
/// ```
/// use serde::Deserialize;
/// use websock_runtime::Path;
///
/// // "/ws/rooms/{id}"
/// fn one(Path(id): Path<u32>) {}
/// // "/ws/users/{user}/rooms/{room}"
/// fn two(Path((user, room)): Path<(String, u32)>) {}
/// #[derive(Deserialize)]
/// struct Ids { user: String, room: u32 }
/// fn by_name(Path(ids): Path<Ids>) {}
/// ```
///
/// A value that does not parse refuses the upgrade with 400 and a body naming the parameter
/// and the error (`invalid path parameter `id`: cannot parse "abc" as u32: invalid digit found
/// in string`). Asking for another number of values than the route has is a programming error,
/// answered with 500.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T> Deref for Path<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S, T: DeserializeOwned> FromRequest<S> for Path<T> {
    fn from_request(request: &RequestInfo, _: &S) -> Result<Self, Refuse> {
        let refuse = |error: ExtractError| error.into_refuse("path parameter");
        let decoded = request
            .params()
            .iter()
            .map(|(name, value)| match decode_path(value) {
                Some(value) => Ok((name, value)),
                None => {
                    let error =
                        <ExtractError as de::Error>::custom("not UTF-8 once percent-decoded");
                    Err(refuse(error.in_param(name)))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        T::deserialize(PathParamsDe(&decoded))
            .map(Path)
            .map_err(refuse)
    }
}

/// The decoded parameters as a deserializer: a map by name, a sequence in order, or the one
/// parameter's value.
struct PathParamsDe<'de>(&'de [(&'de str, String)]);

impl<'de> PathParamsDe<'de> {
    fn params(&self) -> impl Iterator<Item = Param<'de>> + use<'de> {
        self.0
            .iter()
            .map(|(name, value)| Param::new(name, slice::from_ref(value)))
    }

    fn single(&self) -> Result<Param<'de>, ExtractError> {
        match self.0 {
            [(name, value)] => Ok(Param::new(name, slice::from_ref(value))),
            params => Err(ExtractError::route_mismatch(format_args!(
                "`Path` asks for one value, but the route has {} parameters: ask for a tuple or \
                 a struct",
                params.len()
            ))),
        }
    }

    fn tuple(&self, len: usize) -> Result<(), ExtractError> {
        if len == self.0.len() {
            return Ok(());
        }
        Err(ExtractError::route_mismatch(format_args!(
            "`Path` asks for a tuple of {len}, but the route has {} parameters",
            self.0.len()
        )))
    }
}

/// The methods that read the one parameter's value.
macro_rules! single {
    ($($method:ident($($arg:ident: $ty:ty),*),)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, ExtractError> {
            self.single()?.$method($($arg,)* visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for PathParamsDe<'de> {
    type Error = ExtractError;

    single! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(),
        deserialize_u32(), deserialize_u64(), deserialize_u128(), deserialize_f32(),
        deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_bytes(), deserialize_byte_buf(), deserialize_option(), deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(), deserialize_ignored_any(),
    }

    /// One parameter is its value; several are a map.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        match self.0.len() {
            1 => self.single()?.deserialize_any(visitor),
            _ => visit_map(self.params(), visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        visit_seq(self.params(), visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        self.tuple(len)?;
        visit_seq(self.params(), visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        self.tuple(len)?;
        visit_seq(self.params(), visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        visit_map(self.params(), visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visit_map(self.params(), visitor)
    }
}
