//! Close codes (RFC 6455 §7.4) and the close a handler asks for.

use crate::ControlFrameTooLong;
use std::fmt;

/// A close code that may be sent on the wire.
///
/// Built with [`CloseCode::new`], which refuses the codes RFC 6455 §7.4 reserves: 1004–1006 and
/// 1015 (never sent in a close frame), 1016–2999 (reserved for future RFCs) and anything outside
/// 1000–4999. Codes 1000–1003, 1007–1014 and 3000–4999 pass as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

/// A number that may not be sent as a close code; see [`CloseCode::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidCloseCode(pub u16);

impl fmt::Display for InvalidCloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} may not be sent as a close code (RFC 6455 §7.4): use 1000–1003, 1007–1014 or 3000–4999",
            self.0
        )
    }
}

impl std::error::Error for InvalidCloseCode {}

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is going away (idle timeout, or shutdown when so configured).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a kind of data this endpoint does not accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1007: a text message was not valid UTF-8.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a policy was violated (used for a client that does not read its messages).
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a frame or message was larger than the configured limit.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the handler failed (an error stop, a panic or a callback timeout).
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the server is restarting; clients should reconnect.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: bad gateway.
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Validates `code` against RFC 6455 §7.4.
    pub const fn new(code: u16) -> Result<Self, InvalidCloseCode> {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => Ok(Self(code)),
            _ => Err(InvalidCloseCode(code)),
        }
    }

    /// The number sent on the wire.
    pub const fn as_u16(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = InvalidCloseCode;
    fn try_from(code: u16) -> Result<Self, Self::Error> {
        Self::new(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A close frame: a code and a reason of at most 123 bytes (RFC 6455 §5.5: a control frame's
/// payload is at most 125 bytes, two of which are the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    code: CloseCode,
    reason: String,
}

/// The longest reason that fits in a close frame.
pub(crate) const MAX_REASON: usize = 123;

impl Close {
    /// A close with `code` and `reason`, or an error when `reason` is longer than 123 bytes.
    pub fn try_new(
        code: CloseCode,
        reason: impl Into<String>,
    ) -> Result<Self, ControlFrameTooLong> {
        let reason = reason.into();
        if reason.len() > MAX_REASON {
            return Err(ControlFrameTooLong::new(reason.len(), MAX_REASON));
        }
        Ok(Self { code, reason })
    }

    /// A close with `code` and `reason`; a reason longer than 123 bytes is cut at a character
    /// boundary so the frame stays valid (use [`try_new`](Self::try_new) to be told instead).
    /// The runtime uses it for reasons it builds from error messages.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { code, reason }
    }

    /// 1000 with no reason.
    pub fn normal() -> Self {
        Self::new(CloseCode::NORMAL, "")
    }

    /// 1011 with `reason`.
    pub fn error(reason: impl fmt::Display) -> Self {
        Self::new(CloseCode::INTERNAL_ERROR, reason.to_string())
    }

    /// The close code.
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason text (possibly empty).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "close {}", self.code)
        } else {
            write!(f, "close {} ({})", self.code, self.reason)
        }
    }
}

impl From<CloseCode> for Close {
    fn from(code: CloseCode) -> Self {
        Self::new(code, "")
    }
}

/// The close frame a peer sent: its code is whatever arrived (already checked by the protocol
/// layer), so it is a plain number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerClose {
    /// The code the peer sent; 1005 when its close frame had no code.
    pub code: u16,
    /// The reason the peer sent.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_forbidden_codes_are_refused() {
        for code in [
            0,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            2000,
            2999,
            5000,
            u16::MAX,
        ] {
            assert_eq!(CloseCode::new(code), Err(InvalidCloseCode(code)), "{code}");
        }
        for code in [
            1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4000, 4999,
        ] {
            assert_eq!(CloseCode::new(code).map(CloseCode::as_u16), Ok(code));
        }
    }

    #[test]
    fn long_reasons_are_cut_at_a_char_boundary() {
        let close = Close::new(CloseCode::NORMAL, "é".repeat(100));
        assert!(close.reason().len() <= MAX_REASON);
        assert_eq!(close.reason().len(), 122);
    }

    #[test]
    fn try_new_refuses_long_reasons() {
        let error = Close::try_new(CloseCode::NORMAL, "x".repeat(124)).unwrap_err();
        assert_eq!((error.length(), error.max()), (124, MAX_REASON));
        let close = Close::try_new(CloseCode::NORMAL, "x".repeat(123)).unwrap();
        assert_eq!(close.reason().len(), MAX_REASON);
    }
}
