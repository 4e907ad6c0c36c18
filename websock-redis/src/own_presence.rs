//! This node's presences to Redis and the other nodes, in the order they changed.

use crate::{
    adapter::Shared,
    presence::{self, Batch, Change, Metas, Update},
    wire_format,
};
use redis::aio::MultiplexedConnection;
use std::{collections::HashSet, sync::Arc};

/// The publishing connection, or a "not connected" error.
pub(crate) fn connection(shared: &Shared) -> redis::RedisResult<MultiplexedConnection> {
    let publisher = shared.publisher().clone();
    publisher.map(|p| p.connection).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotConnected, "redis: not connected").into()
    })
}

/// Writes what [`Adapter::presence_changed`](websock_channels::Adapter::presence_changed)
/// recorded, each time it wakes. A failed write marks the state stale (the next connection
/// sends it whole) and ends the connection.
pub(crate) async fn write(shared: Arc<Shared>) -> redis::RedisResult<()> {
    loop {
        shared.presence_changed.notified().await;
        let mut connection = connection(&shared)?;
        let batch = shared.presence().take_batch();
        let written = match batch {
            Batch::Nothing => continue,
            Batch::Changes(changes) => send(&shared, &mut connection, &changes).await,
            Batch::Full(own) => announce(&shared, &mut connection, &own).await,
        };
        if written.is_err() {
            shared.presence().mark_stale();
            return written;
        }
        shared.presence().written();
    }
}

/// Each change: its hash fields and its diff to the other nodes, in one pipeline.
async fn send(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    changes: &[Change],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for change in changes {
        let hash = shared.presence_key(&change.topic);
        for phx_ref in &change.leaves {
            pipe.cmd("HDEL")
                .arg(&hash)
                .arg(presence::field(shared.node, phx_ref))
                .ignore();
        }
        for (phx_ref, meta) in &change.joins {
            pipe.cmd("HSET")
                .arg(&hash)
                .arg(presence::field(shared.node, phx_ref))
                .arg(presence::value(meta))
                .ignore();
        }
        let update = Update::Diff {
            joins: change.joins.clone(),
            leaves: change.leaves.clone(),
        };
        pipe.cmd("PUBLISH")
            .arg(shared.channel(&change.topic))
            .arg(wire_format::encode_presence(shared.node, &update))
            .ignore();
    }
    pipe.exec_async(connection).await
}

/// This node's whole state, topic by topic: its hash fields become exactly `own` (stale ones
/// deleted), and the other nodes replace their view of it.
async fn announce(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    own: &[(String, Metas)],
) -> redis::RedisResult<()> {
    for topics in own.chunks(100) {
        let mut read = redis::pipe();
        for (topic, _) in topics {
            read.cmd("HKEYS").arg(shared.presence_key(topic));
        }
        let fields: Vec<Vec<String>> = read.query_async(&mut *connection).await?;
        let mut pipe = redis::pipe();
        for ((topic, metas), fields) in topics.iter().zip(fields) {
            let hash = shared.presence_key(topic);
            let mine: HashSet<String> = metas
                .keys()
                .map(|r| presence::field(shared.node, r))
                .collect();
            let stale: Vec<&String> = fields
                .iter()
                .filter(|f| presence::field_node(f) == Some(shared.node) && !mine.contains(*f))
                .collect();
            if !stale.is_empty() {
                pipe.cmd("HDEL").arg(&hash).arg(stale).ignore();
            }
            for (phx_ref, meta) in metas {
                pipe.cmd("HSET")
                    .arg(&hash)
                    .arg(presence::field(shared.node, phx_ref))
                    .arg(presence::value(meta))
                    .ignore();
            }
            pipe.cmd("PUBLISH")
                .arg(shared.channel(topic))
                .arg(wire_format::encode_presence(
                    shared.node,
                    &Update::State(metas.clone()),
                ))
                .ignore();
        }
        pipe.exec_async(&mut *connection).await?;
    }
    Ok(())
}
