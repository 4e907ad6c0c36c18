//! The other nodes' presences on this node: loaded from Redis when a topic is subscribed,
//! kept from their updates, dropped when their key expires.

use crate::{
    adapter::Shared,
    own_presence,
    presence::{self, Metas, Replica, Update},
};
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;

/// Topics whose hash is read in one pipeline.
const LOAD_BATCH: usize = 100;

/// An update from `node`: applied now, or after the topic's hash has been read. A node's
/// whole state replaces its entries, and this node's sockets get a `presence_diff` of what
/// changed; a diff needs no delivery (the sending node's `presence_diff` broadcast carries
/// it to the sockets).
pub(crate) fn receive(shared: &Shared, topic: &str, node: u64, update: Update) {
    let (before, after) = {
        let mut state = shared.presence();
        let Some(replica) = state.remote.get_mut(topic) else {
            return;
        };
        if let Some(waiting) = &mut replica.loading {
            waiting.push((node, update));
            return;
        }
        if !matches!(update, Update::State(_)) {
            replica.apply(node, update);
            return;
        }
        let before = replica.flatten();
        replica.apply(node, update);
        (before, replica.flatten())
    };
    shared.deliver_presence_diff(topic, &before, &after);
}

/// `topics` are about to be subscribed: their updates wait for [`load`].
pub(crate) fn start_loading(shared: &Shared, topics: &[String]) {
    // Lock order: `wanted`, then `presence`.
    let wanted = shared.wanted();
    let mut state = shared.presence();
    for topic in topics.iter().filter(|t| wanted.contains(*t)) {
        state.remote.entry(topic.clone()).or_default().loading = Some(Vec::new());
    }
}

/// Reads the other nodes' presences of `topics` from Redis (the live nodes'), replaces the
/// replicas with them plus what arrived meanwhile, and tells this node's sockets what changed.
pub(crate) async fn load(shared: &Shared, topics: &[String]) -> redis::RedisResult<()> {
    let mut connection = own_presence::connection(shared)?;
    for topics in topics.chunks(LOAD_BATCH) {
        let mut pipe = redis::pipe();
        for topic in topics {
            pipe.cmd("HGETALL").arg(shared.presence_key(topic));
        }
        let hashes: Vec<Vec<(String, String)>> = pipe.query_async(&mut connection).await?;
        let mut read: Vec<HashMap<u64, Metas>> = Vec::with_capacity(hashes.len());
        for hash in &hashes {
            let mut nodes: HashMap<u64, Metas> = HashMap::new();
            for (node, phx_ref, meta) in hash
                .iter()
                .filter_map(|(field, value)| presence::parse_entry(field, value))
                .filter(|(node, _, _)| *node != shared.node)
            {
                nodes.entry(node).or_default().insert(phx_ref, meta);
            }
            read.push(nodes);
        }
        let live = live_nodes(shared, &mut connection, read.iter().flat_map(HashMap::keys)).await?;
        for (topic, mut nodes) in topics.iter().zip(read) {
            nodes.retain(|node, _| live.contains(node));
            install(shared, topic, nodes);
        }
    }
    Ok(())
}

fn install(shared: &Shared, topic: &str, nodes: HashMap<u64, Metas>) {
    let (before, after) = {
        let mut state = shared.presence();
        let Some(replica) = state.remote.get_mut(topic) else {
            return; // unsubscribed meanwhile
        };
        let Some(waiting) = replica.loading.take() else {
            return;
        };
        let before = replica.flatten();
        *replica = Replica {
            nodes,
            loading: None,
        };
        for (node, update) in waiting {
            replica.apply(node, update);
        }
        (before, replica.flatten())
    };
    shared.deliver_presence_diff(topic, &before, &after);
}

/// Which of `nodes` still have their key.
async fn live_nodes<'a>(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    nodes: impl Iterator<Item = &'a u64>,
) -> redis::RedisResult<Vec<u64>> {
    let mut nodes: Vec<u64> = nodes.copied().collect();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() {
        return Ok(nodes);
    }
    let keys: Vec<String> = nodes.iter().map(|&n| shared.node_key(n)).collect();
    let alive: Vec<Option<String>> = redis::cmd("MGET").arg(keys).query_async(connection).await?;
    Ok(nodes
        .into_iter()
        .zip(alive)
        .filter_map(|(node, alive)| alive.map(|_| node))
        .collect())
}

/// Every [`presence_heartbeat`](crate::RedisOptions::presence_heartbeat): refreshes this
/// node's key, then drops the nodes whose key has expired (their presences leave). When this
/// node's own key had gone (Redis restarted, or this node was too slow and the others dropped
/// it), its whole state is sent again.
pub(crate) async fn heartbeat(shared: std::sync::Arc<Shared>) -> redis::RedisResult<()> {
    let mut beat = tokio::time::interval(shared.options.heartbeat);
    // A slow round leaves the next one a full period later, never a burst of them.
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beat.tick().await;
        let mut connection = own_presence::connection(&shared)?;
        let expiry = u64::try_from(shared.options.expiry.as_millis()).unwrap_or(u64::MAX);
        let previous: Option<String> = redis::cmd("SET")
            .arg(shared.node_key(shared.node))
            .arg(1)
            .arg("PX")
            .arg(expiry.max(1))
            .arg("GET")
            .query_async(&mut connection)
            .await?;
        if previous.is_none() {
            shared.presence().mark_stale();
            shared.presence_changed.notify_one();
        }
        let known: Vec<u64> = {
            let state = shared.presence();
            let nodes = state.remote.values().flat_map(|r| r.nodes.keys());
            let mut nodes: Vec<u64> = nodes.copied().collect();
            nodes.sort_unstable();
            nodes.dedup();
            nodes
        };
        let live = live_nodes(&shared, &mut connection, known.iter()).await?;
        for node in known {
            if !live.contains(&node) {
                expire(&shared, &mut connection, node).await?;
            }
        }
    }
}

async fn expire(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    node: u64,
) -> redis::RedisResult<()> {
    let removed: Vec<(String, Metas)> = {
        let mut state = shared.presence();
        let replicas = state.remote.iter_mut();
        replicas
            .filter_map(|(topic, r)| Some((topic.clone(), r.nodes.remove(&node)?)))
            .collect()
    };
    if removed.is_empty() {
        return Ok(());
    }
    tracing::info!(node = %format_args!("{node:016x}"), "redis: node expired, its presences leave");
    for (topic, metas) in removed {
        shared.deliver_presence_diff(&topic, &metas, &Metas::new());
        let fields: Vec<String> = metas.keys().map(|r| presence::field(node, r)).collect();
        redis::cmd("HDEL")
            .arg(shared.presence_key(&topic))
            .arg(fields)
            .exec_async(&mut *connection)
            .await?;
    }
    Ok(())
}
