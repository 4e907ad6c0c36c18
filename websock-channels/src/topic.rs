//! Topic patterns: `room:lobby` (exact), `room:{id}` (captures), `room:*` (a prefix).

use std::fmt;

/// A topic a client joined, with the values the channel's pattern captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    name: String,
    captures: Vec<(&'static str, String)>,
}

impl Topic {
    /// The whole topic: `room:42`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The value captured by `{name}` in the pattern.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.captures
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every capture, in the order of the pattern.
    pub fn captures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.captures.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(&'static str),
    Capture(&'static str),
}

/// A parsed topic pattern. A capture matches one character or more; the literal text after a
/// capture is matched at its first occurrence (the rules of `#[on_text("join {room}")]`). A
/// pattern ending in `*` matches any topic with that prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicPattern {
    source: &'static str,
    parts: Vec<Part>,
    wildcard: bool,
}

impl TopicPattern {
    /// Parses `source`; the `#[channel]` macro checks the same rules at compile time.
    pub(crate) fn parse(source: &'static str) -> Result<Self, String> {
        let (body, wildcard) = match source.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (source, false),
        };
        let mut parts = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` in topic pattern {source:?}"))?;
                    let name = &rest[1..end];
                    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return Err(format!(
                            "bad capture name {name:?} in topic pattern {source:?}"
                        ));
                    }
                    if matches!(parts.last(), Some(Part::Capture(_))) {
                        return Err(format!("two adjacent captures in topic pattern {source:?}"));
                    }
                    parts.push(Part::Capture(name));
                    rest = &rest[end + 1..];
                }
                Some(at) => {
                    parts.push(Part::Literal(&rest[..at]));
                    rest = &rest[at..];
                }
                None => {
                    parts.push(Part::Literal(rest));
                    rest = "";
                }
            }
        }
        if wildcard && matches!(parts.last(), Some(Part::Capture(_))) {
            return Err(format!("a capture cannot be followed by `*` in {source:?}"));
        }
        Ok(Self {
            source,
            parts,
            wildcard,
        })
    }

    pub(crate) fn source(&self) -> &'static str {
        self.source
    }

    /// The topic with its captures, if it matches.
    pub(crate) fn matches(&self, topic: &str) -> Option<Topic> {
        let mut captures = Vec::new();
        let mut rest = topic;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(text) => rest = rest.strip_prefix(text)?,
                Part::Capture(name) => {
                    let value = match parts.peek() {
                        Some(Part::Literal(next)) => {
                            // One character at least, then the next literal's first occurrence.
                            let first = rest.chars().next()?.len_utf8();
                            let at = rest[first..].find(next)? + first;
                            let value = &rest[..at];
                            rest = &rest[at..];
                            value
                        }
                        _ if self.wildcard => return None,
                        _ => std::mem::take(&mut rest),
                    };
                    if value.is_empty() {
                        return None;
                    }
                    captures.push((*name, value.to_owned()));
                }
            }
        }
        (self.wildcard || rest.is_empty()).then(|| Topic {
            name: topic.to_owned(),
            captures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let exact = TopicPattern::parse("room:lobby").unwrap();
        assert!(exact.matches("room:lobby").is_some());
        assert!(exact.matches("room:lobby2").is_none());
        let capture = TopicPattern::parse("room:{id}").unwrap();
        assert_eq!(capture.matches("room:42").unwrap().get("id"), Some("42"));
        assert!(capture.matches("room:").is_none());
        let two = TopicPattern::parse("game:{id}:player:{n}").unwrap();
        let topic = two.matches("game:a:b:player:7").unwrap();
        assert_eq!(topic.get("id"), Some("a:b"));
        assert_eq!(topic.get("n"), Some("7"));
        let star = TopicPattern::parse("room:*").unwrap();
        assert!(star.matches("room:anything").is_some());
        assert!(star.matches("user:1").is_none());
        assert!(TopicPattern::parse("room:{").is_err());
        assert!(TopicPattern::parse("room:{a}{b}").is_err());
        assert!(TopicPattern::parse("room:{}").is_err());
    }
}
