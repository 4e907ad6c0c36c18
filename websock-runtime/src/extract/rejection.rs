//! Why an extractor refused the upgrade: the parameter, the serde error, the status.

use crate::Refuse;
use http::StatusCode;
use std::fmt;

/// A failed extraction, as axum's rejections: the parameter it concerns (when one does) and
/// what was wrong, answered before the upgrade with 400, or 500 when the route and the
/// extractor disagree (a programming error, such as `Path<(u32, u32)>` on a one-parameter route).
#[derive(Debug)]
pub(crate) struct ExtractError {
    param: Option<String>,
    message: String,
    status: StatusCode,
}

impl ExtractError {
    /// The route and the extractor disagree: the server's mistake, not the client's.
    pub(crate) fn route_mismatch(message: impl fmt::Display) -> Self {
        Self {
            param: None,
            message: message.to_string(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Names the parameter the error concerns, unless a more precise one is named already.
    pub(crate) fn in_param(mut self, name: &str) -> Self {
        if self.param.is_none() {
            self.param = Some(name.to_owned());
        }
        self
    }

    /// The refusal: `<status>` and `invalid <what> `<param>`: <message>`, or `invalid <what>s:
    /// <message>` when no single parameter is to blame.
    pub(crate) fn into_refuse(self, what: &str) -> Refuse {
        let body = match &self.param {
            Some(param) => format!("invalid {what} `{param}`: {}\n", self.message),
            None => format!("invalid {what}s: {}\n", self.message),
        };
        tracing::debug!(status = %self.status, reason = body.trim_end(), "extractor refused the upgrade");
        Refuse::new(self.status, body)
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(param) => write!(f, "`{param}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ExtractError {}

impl serde::de::Error for ExtractError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            param: None,
            message: message.to_string(),
            status: StatusCode::BAD_REQUEST,
        }
    }
}
