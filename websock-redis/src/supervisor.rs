//! Keeps the node's two Redis connections up and reads the subscription.
//!
//! One connection's life is [`run`]: a loop that only reads the subscription and delivers,
//! beside three tasks that may wait on Redis without holding up delivery —
//! [`subscriptions`] (SUBSCRIBE/UNSUBSCRIBE in batches, load new topics' presences, ping),
//! [`own_presence::write`] and [`replica::heartbeat`]. Any of them failing ends the
//! connection; the supervisor reconnects with backoff and everything starts again from the
//! node's state (`wanted` topics, own presences), never from queued commands.

use crate::{
    adapter::{Publisher, Shared},
    own_presence, replica,
    wire_format::{self, Message, Unreadable},
};
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use tokio::{sync::mpsc, task::JoinSet};

pub(crate) type Opened = (MultiplexedConnection, PubSubSink, PubSubStream);

/// Channels per SUBSCRIBE or UNSUBSCRIBE command.
const BATCH: usize = 512;

pub(crate) async fn open(
    client: &redis::Client,
    options: &crate::RedisOptions,
) -> redis::RedisResult<Opened> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout));
    let publisher = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let pubsub = tokio::time::timeout(options.timeout, client.get_async_pubsub())
        .await
        .map_err(|_| io_timeout())??;
    let (sink, stream) = pubsub.split();
    Ok((publisher, sink, stream))
}

pub(crate) fn io_timeout() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "redis: timed out").into()
}

/// Runs connections until every [`RedisAdapter`](crate::RedisAdapter) clone is gone
/// (`closed` reports it), reconnecting with backoff.
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    client: redis::Client,
    mut closed: mpsc::Receiver<()>,
    mut first: Option<Opened>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let opened = match first.take() {
            Some(opened) => opened,
            None => match open(&client, &shared.options).await {
                Ok(opened) => {
                    Shared::count(&shared.counters.connects);
                    tracing::info!("redis: reconnected");
                    opened
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "redis: reconnect failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = closed.recv() => return,
                    }
                    backoff = (backoff * 2).min(shared.options.max_backoff);
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(100);
        let ended = run(&shared, opened, &mut closed).await;
        shared.connected.store(false, Ordering::Release);
        *shared.publisher() = None;
        if ended {
            return;
        }
        tracing::warn!("redis: connection lost, reconnecting");
    }
}

/// Runs one connection; returns `true` when the adapter is gone, `false` when the connection
/// broke.
async fn run(shared: &Arc<Shared>, opened: Opened, closed: &mut mpsc::Receiver<()>) -> bool {
    let (connection, sink, mut stream) = opened;
    let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
    *shared.publisher() = Some(Publisher {
        generation,
        connection,
    });
    // The others may have missed any change made while this node was away: they get its
    // whole state, and replace what they had of it.
    shared.presence().mark_stale();
    shared.presence_changed.notify_one();
    let mut tasks = JoinSet::new();
    tasks.spawn(subscriptions(shared.clone(), sink));
    tasks.spawn(own_presence::write(shared.clone()));
    tasks.spawn(replica::heartbeat(shared.clone()));
    // Dropping `tasks` (on return) aborts them.
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return false };
                receive(shared, &message);
            }
            ended = tasks.join_next() => {
                if let Some(Ok(Err(e))) = ended {
                    tracing::warn!(error = %e, "redis: connection task failed");
                }
                return false;
            }
            () = shared.broken.notified() => {
                if shared.broken_generation.load(Ordering::Acquire) == generation {
                    return false;
                }
            }
            _ = closed.recv() => return true,
        }
    }
}

/// One message from a subscribed channel.
fn receive(shared: &Shared, message: &redis::Msg) {
    let Some(topic) = message
        .get_channel_name()
        .strip_prefix(&shared.options.prefix)
    else {
        return;
    };
    match wire_format::decode(topic, message.get_payload_bytes()) {
        Ok((node, _)) if node == shared.node => {}
        Ok((_, Message::Broadcast(broadcast))) => {
            Shared::count(&shared.counters.received);
            shared.deliver_local(&Arc::new(broadcast));
        }
        Ok((node, Message::Presence(update))) => replica::receive(shared, topic, node, update),
        Err(why) => {
            let count = shared.counters.unreadable.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at the 1st, 2nd, 4th, 8th.. so a flood of them cannot flood the log.
            if count.is_power_of_two() {
                match why {
                    Unreadable::Version(version) => tracing::warn!(
                        topic,
                        version,
                        count,
                        "redis: message of an unknown format version ignored (a node of another release?)"
                    ),
                    Unreadable::Malformed => {
                        tracing::warn!(topic, count, "redis: unreadable message ignored");
                    }
                }
            }
        }
    }
}

/// Makes the Redis subscriptions follow the node's wanted topics, each time
/// [`Shared::reconcile`] wakes it, and pings the subscription connection.
async fn subscriptions(shared: Arc<Shared>, mut sink: PubSubSink) -> redis::RedisResult<()> {
    let timeout = shared.options.timeout;
    let mut subscribed = HashSet::new();
    let mut ping = tokio::time::interval(shared.options.ping_interval);
    ping.reset();
    loop {
        reconcile(&shared, &mut sink, &mut subscribed).await?;
        shared.connected.store(true, Ordering::Release);
        tokio::select! {
            () = shared.reconcile.notified() => {}
            _ = ping.tick() => {
                tokio::time::timeout(timeout, sink.ping::<redis::Value>())
                    .await
                    .map_err(|_| io_timeout())??;
            }
        }
    }
}

/// One batch of subscription changes: what `wanted` has that Redis has not, and the reverse.
async fn reconcile(
    shared: &Shared,
    sink: &mut PubSubSink,
    subscribed: &mut HashSet<String>,
) -> redis::RedisResult<()> {
    let timeout = shared.options.timeout;
    let (add, reload, remove): (Vec<String>, Vec<String>, Vec<String>) = {
        let wanted = shared.wanted();
        let add = wanted.difference(subscribed).cloned().collect();
        // Left and joined again before this ran: still subscribed, but its replica is gone.
        let state = shared.presence();
        let reload = wanted
            .intersection(subscribed)
            .filter(|t| !state.remote.contains_key(*t))
            .cloned()
            .collect();
        let remove = subscribed.difference(&wanted).cloned().collect();
        (add, reload, remove)
    };
    for topics in remove.chunks(BATCH) {
        let channels: Vec<String> = topics.iter().map(|t| shared.channel(t)).collect();
        tokio::time::timeout(timeout, sink.unsubscribe(channels))
            .await
            .map_err(|_| io_timeout())??;
        for topic in topics {
            subscribed.remove(topic);
        }
    }
    if add.is_empty() && reload.is_empty() {
        return Ok(());
    }
    // Updates that arrive from now on wait for the hash to be read, then apply on top.
    replica::start_loading(shared, &add);
    replica::start_loading(shared, &reload);
    for topics in add.chunks(BATCH) {
        let channels: Vec<String> = topics.iter().map(|t| shared.channel(t)).collect();
        tokio::time::timeout(timeout, sink.subscribe(channels))
            .await
            .map_err(|_| io_timeout())??;
    }
    subscribed.extend(add.iter().cloned());
    replica::load(shared, &add).await?;
    replica::load(shared, &reload).await
}
