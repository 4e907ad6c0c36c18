//! `GET /` (the article's client, `index.html`) and `GET /phoenix.min.js` (from the npm
//! package, as the chat example serves it).

use std::path::{Path, PathBuf};
use websock::{
    Body,
    http::{Response, StatusCode, header},
};

/// The client page: login, rooms, messages, typing, who is online, connection status.
pub const INDEX_HTML: &str = include_str!("index.html");

/// Where phoenix.js is read from: `PHOENIX_JS`, or the npm package in the repository
/// (`npm install` in the repository root).
pub fn phoenix_js_path() -> PathBuf {
    std::env::var_os("PHOENIX_JS").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("node_modules/phoenix/priv/static/phoenix.min.js")
        },
        Into::into,
    )
}

/// `GET /`.
pub fn index() -> Response<Body> {
    respond(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /phoenix.min.js`, read on every request (a demo page; `npm install` needs no
/// restart); 503 saying what to do when it is missing.
pub fn phoenix_js() -> Response<Body> {
    let path = phoenix_js_path();
    match std::fs::read(&path) {
        Ok(js) => respond(StatusCode::OK, "text/javascript; charset=utf-8", js),
        Err(error) => {
            let text = format!(
                "phoenix.js not readable at {} ({error}): run `npm install` in the repository \
                 root, or set PHOENIX_JS to a copy of phoenix.min.js",
                path.display()
            );
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                text,
            )
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
