//! Percent-decoding of URI parts: query text (`application/x-www-form-urlencoded`, where `+`
//! is a space) and path segments (where `+` is a `+`).

/// Decodes query text; invalid escapes are kept as written, invalid UTF-8 is replaced.
pub(crate) fn decode_query(text: &str) -> String {
    String::from_utf8_lossy(&decode(text, true)).into_owned()
}

/// Decodes one path segment (RFC 3986 §2.1), or `None` when the bytes it encodes are not
/// UTF-8. Invalid escapes are kept as written.
pub(crate) fn decode_path(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    String::from_utf8(decode(text, false)).ok()
}

fn decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok()),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{decode_path, decode_query};

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(decode_query("a%20b+c"), "a b c");
        assert_eq!(decode_query("%E2%9C%93"), "✓");
        assert_eq!(decode_query("100%"), "100%");
        assert_eq!(decode_query("%zz"), "%zz");
    }

    #[test]
    fn path_segments_keep_plus_and_reject_invalid_utf8() {
        assert_eq!(decode_path("a+b%20c").as_deref(), Some("a+b c"));
        assert_eq!(decode_path("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(decode_path("%zz%").as_deref(), Some("%zz%"));
        assert_eq!(decode_path("%FF"), None);
    }
}
