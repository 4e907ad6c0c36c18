//! A serde `Deserializer` over string parameters (path segments, query values): each value is
//! parsed by the type the target asks for (`u32`, `bool`, `f64`, `char`, `String`, a unit
//! enum variant...), as axum's `Path` and `Query` do.

use super::rejection::ExtractError;
use serde::de::{
    self, Deserializer, IntoDeserializer, Visitor,
    value::{MapDeserializer, SeqDeserializer},
};
use std::{fmt::Display, slice, str::FromStr};

type Result<T> = std::result::Result<T, ExtractError>;

/// One named parameter and its values: a path parameter has one; a query key has every value
/// it was given, in order (a sequence takes them all, anything else the last).
#[derive(Clone, Copy)]
pub(crate) struct Param<'de> {
    name: &'de str,
    values: &'de [String],
}

impl<'de> Param<'de> {
    pub(crate) fn new(name: &'de str, values: &'de [String]) -> Self {
        Self { name, values }
    }

    fn last(&self) -> &'de str {
        self.values.last().map_or("", String::as_str)
    }

    fn parse<T: FromStr<Err: Display>>(&self) -> Result<T> {
        let text = self.last();
        text.parse().map_err(|error| {
            de::Error::custom(format!(
                "cannot parse {text:?} as {}: {error}",
                std::any::type_name::<T>()
            ))
        })
    }

    fn each(&self) -> impl Iterator<Item = Param<'de>> + use<'de> {
        let name = self.name;
        self.values
            .iter()
            .map(move |value| Param::new(name, slice::from_ref(value)))
    }

    fn seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let mut seq: SeqDeserializer<_, ExtractError> = SeqDeserializer::new(self.each());
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }
}

/// A value parsed by its `FromStr`, then given to the visitor.
macro_rules! parse_as {
    ($($method:ident => $visit:ident($ty:ty),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            let value: $ty = self.parse().map_err(|e| e.in_param(self.name))?;
            visitor.$visit::<ExtractError>(value).map_err(|e| e.in_param(self.name))
        }
    )*};
}

impl<'de> Deserializer<'de> for Param<'de> {
    type Error = ExtractError;

    parse_as! {
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
        deserialize_char => visit_char(char),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor
            .visit_borrowed_str::<ExtractError>(self.last())
            .map_err(|e| e.in_param(self.name))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor
            .visit_borrowed_bytes::<ExtractError>(self.last().as_bytes())
            .map_err(|e| e.in_param(self.name))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    /// An empty value (`?limit=`) is `None`, as an absent one is.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.last().is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        let error =
            <ExtractError as de::Error>::custom("one value cannot be read as a map or struct");
        Err(error.in_param(self.name))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    /// Unit variants, by name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let variant: de::value::BorrowedStrDeserializer<'de, ExtractError> =
            de::value::BorrowedStrDeserializer::new(self.last());
        visitor
            .visit_enum(variant)
            .map_err(|e| e.in_param(self.name))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

impl<'de> IntoDeserializer<'de, ExtractError> for Param<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Named parameters as a map (for a struct or a `HashMap`), keys in order.
pub(crate) fn visit_map<'de, V: Visitor<'de>>(
    params: impl Iterator<Item = Param<'de>>,
    visitor: V,
) -> Result<V::Value> {
    let mut map: MapDeserializer<'de, _, ExtractError> =
        MapDeserializer::new(params.map(|param| (param.name, param)));
    let value = visitor.visit_map(&mut map)?;
    map.end()?;
    Ok(value)
}

/// Named parameters as a sequence (for a tuple or a `Vec`), in order.
pub(crate) fn visit_seq<'de, V: Visitor<'de>>(
    params: impl Iterator<Item = Param<'de>>,
    visitor: V,
) -> Result<V::Value> {
    let mut seq: SeqDeserializer<_, ExtractError> = SeqDeserializer::new(params);
    let value = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(value)
}
