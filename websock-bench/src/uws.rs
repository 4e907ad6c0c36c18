//! The uWebSockets anchors (`../shared/tools/uws`): `uws_echo` (`/ws/echo`) and `uws_pubsub`
//! (`/ws/pubsub`, a text `pub:<payload>` publishes `<payload>` to every socket), built by the
//! build script into `target/uws`. `websock-bench server uws|uws-pubsub` execs them, so the
//! process the driver pins and measures is uWebSockets itself.
//!
//! `UWS_DIR` overrides where the binaries are (default `<workspace>/target/uws`), `UWS_SRC`
//! where the sources and `build.sh` are (default `<workspace>/../shared/tools/uws`).

use std::{
    io,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Stdio},
};

/// The two binaries.
pub(crate) const ECHO: &str = "uws_echo";
pub(crate) const PUBSUB: &str = "uws_pubsub";

fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Where the binaries are built.
pub(crate) fn dir() -> PathBuf {
    std::env::var_os("UWS_DIR").map_or_else(|| workspace().join("target/uws"), PathBuf::from)
}

fn sources() -> PathBuf {
    std::env::var_os("UWS_SRC")
        .map_or_else(|| workspace().join("../shared/tools/uws"), PathBuf::from)
}

/// Whether both binaries are there.
pub(crate) fn built() -> bool {
    [ECHO, PUBSUB].iter().all(|name| dir().join(name).is_file())
}

/// Builds both with the build script when `g++` is on PATH (a no-op once built). `Err` says
/// why they are not there: no `g++`, no sources, or the build failed.
pub(crate) fn build() -> Result<(), String> {
    if built() {
        return Ok(());
    }
    let script = sources().join("build.sh");
    if !script.is_file() {
        return Err(format!("no {} (set UWS_SRC)", script.display()));
    }
    let has_gxx = Command::new("g++")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_gxx {
        return Err("no g++ on PATH".to_owned());
    }
    eprintln!("building uWebSockets into {} (about 10 s)", dir().display());
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir())
        .status()
        .map_err(|error| format!("{}: {error}", script.display()))?;
    if !status.success() || !built() {
        return Err(format!("{} failed: {status}", script.display()));
    }
    Ok(())
}

/// Replaces this process with `binary` listening on `addr`. uWebSockets takes its address
/// from `WEBSOCK_ADDR` and cannot report an ephemeral port, so port 0 is resolved here first:
/// a free port is found by binding it and letting it go.
pub(crate) fn exec(binary: &str, addr: &str) -> io::Result<()> {
    let mut addr: std::net::SocketAddr = addr.parse().map_err(io::Error::other)?;
    if addr.port() == 0 {
        addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    }
    let path = dir().join(binary);
    if !path.is_file() {
        return Err(io::Error::other(format!(
            "{} is not built: run `bash ../shared/tools/uws/build.sh target/uws` (needs g++)",
            path.display()
        )));
    }
    // Only returns on failure.
    Err(Command::new(path)
        .env("WEBSOCK_ADDR", addr.to_string())
        .exec())
}
