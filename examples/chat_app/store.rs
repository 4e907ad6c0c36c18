//! Users and messages in SQLite (`DATABASE_URL`), the article's `Repo`.
//!
//! One connection behind a mutex, used from `spawn_blocking`: SQLite serialises writers anyway,
//! and a chat's inserts are small.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// How many messages a join sends back (`recent_messages`).
pub const HISTORY: usize = 50;

/// A user, as the client sees it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A stored message, as `new_message` and `recent_messages` carry it.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub id: i64,
    pub body: String,
    pub user: User,
    /// ISO 8601, UTC, milliseconds (`2026-12-06T22:45:52.123Z`).
    pub timestamp: String,
}

/// The database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    connection: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id),
        body TEXT NOT NULL,
        inserted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room, id);
";

impl Store {
    /// Opens `sqlite://PATH` (an absolute PATH gives three slashes), creating the file and the
    /// schema when missing.
    pub fn open(url: &str) -> Result<Self, String> {
        let path = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| format!("DATABASE_URL must start with sqlite://, got {url:?}"))?;
        let connection = Connection::open(path).map_err(|e| format!("opening {path}: {e}"))?;
        connection
            .execute_batch(&format!("PRAGMA journal_mode = WAL; {SCHEMA}"))
            .map_err(|e| format!("creating the schema in {path}: {e}"))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The development login: the same name always gets the same user.
    pub async fn login(&self, name: String) -> Result<User, String> {
        self.with(move |db| {
            db.execute("INSERT OR IGNORE INTO users (name) VALUES (?1)", [&name])?;
            let id = db.query_row("SELECT id FROM users WHERE name = ?1", [&name], |row| {
                row.get(0)
            })?;
            Ok(User { id, name })
        })
        .await
    }

    /// A user by id, if there is one.
    pub async fn user(&self, id: i64) -> Result<Option<User>, String> {
        self.with(move |db| {
            db.query_row("SELECT name FROM users WHERE id = ?1", [id], |row| {
                Ok(User {
                    id,
                    name: row.get(0)?,
                })
            })
            .optional()
        })
        .await
    }

    /// Stores a message and returns it as broadcast.
    pub async fn insert_message(
        &self,
        room: String,
        user: User,
        body: String,
    ) -> Result<Message, String> {
        self.with(move |db| {
            let (id, timestamp) = db.query_row(
                "INSERT INTO messages (room, user_id, body) VALUES (?1, ?2, ?3)
                 RETURNING id, inserted_at",
                params![room, user.id, body],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(Message {
                id,
                body,
                user,
                timestamp,
            })
        })
        .await
    }

    /// The room's last [`HISTORY`] messages, oldest first.
    pub async fn recent_messages(&self, room: String) -> Result<Vec<Message>, String> {
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT m.id, m.body, u.id, u.name, m.inserted_at
                 FROM messages m JOIN users u ON u.id = m.user_id
                 WHERE m.room = ?1 ORDER BY m.id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![room, HISTORY as i64], |row| {
                Ok(Message {
                    id: row.get(0)?,
                    body: row.get(1)?,
                    user: User {
                        id: row.get(2)?,
                        name: row.get(3)?,
                    },
                    timestamp: row.get(4)?,
                })
            })?;
            let mut messages = rows.collect::<Result<Vec<_>, _>>()?;
            messages.reverse();
            Ok(messages)
        })
        .await
    }

    /// Runs `f` on the connection off the async threads.
    async fn with<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let db = connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&db).map_err(|e| format!("database: {e}"))
        })
        .await
        .map_err(|e| format!("database task: {e}"))?
    }
}
