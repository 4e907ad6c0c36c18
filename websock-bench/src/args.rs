//! A small command-line parser: `--name value` options and `--flag` switches, nothing else.

use std::{collections::VecDeque, fmt, str::FromStr};

/// The arguments not consumed yet.
pub(crate) struct Args {
    rest: VecDeque<String>,
}

/// A command line that could not be understood.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Args {
    pub(crate) fn new(args: impl IntoIterator<Item = String>) -> Self {
        Self {
            rest: args.into_iter().collect(),
        }
    }

    /// The next argument, if it is positional (positionals come before the options).
    pub(crate) fn positional(&mut self) -> Option<String> {
        if self.rest.front()?.starts_with("--") {
            return None;
        }
        self.rest.pop_front()
    }

    /// Whether `--name` was given (and removes it).
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|arg| arg == name) {
            Some(position) => {
                self.rest.remove(position);
                true
            }
            None => false,
        }
    }

    fn take(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        let Some(position) = self.rest.iter().position(|arg| arg == name) else {
            return Ok(None);
        };
        self.rest.remove(position);
        self.rest
            .remove(position)
            .map(Some)
            .ok_or_else(|| UsageError(format!("{name} needs a value")))
    }

    /// The value of a required option.
    pub(crate) fn value(&mut self, name: &str) -> Result<String, UsageError> {
        self.take(name)?
            .ok_or_else(|| UsageError(format!("{name} is required")))
    }

    pub(crate) fn string_or(&mut self, name: &str, default: &str) -> String {
        self.take(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| default.to_owned())
    }

    fn parsed_or<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, UsageError> {
        match self.take(name)? {
            None => Ok(default),
            Some(value) => value
                .replace('_', "")
                .parse()
                .map_err(|_| UsageError(format!("{name}: not a number: {value:?}"))),
        }
    }

    pub(crate) fn number_or(&mut self, name: &str, default: u64) -> Result<u64, UsageError> {
        self.parsed_or(name, default)
    }

    pub(crate) fn float_or(&mut self, name: &str, default: f64) -> Result<f64, UsageError> {
        self.parsed_or(name, default)
    }

    /// Fails on anything left over, so a mistyped option is not silently ignored.
    pub(crate) fn finish(&mut self) -> Result<(), UsageError> {
        match self.rest.front() {
            None => Ok(()),
            Some(arg) => Err(UsageError(format!("unexpected argument {arg:?}"))),
        }
    }
}
