// The official `phoenix` client (npm, `ws` as its WebSocket) as the suites in tests/js drive it:
// sockets that reconnect fast and are all disconnected at the end, a push's reply as a value,
// a channel's events and presence list collected for the waits.
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import { assert, until, withTimeout } from "./harness.mjs";

const sockets = [];

// A connected phoenix Socket on `url`; `opts` override the fast reconnect and rejoin.
export function connect(url, opts = {}) {
  const socket = new Socket(url, {
    transport: WebSocket,
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 50,
    ...opts,
  });
  socket.connect();
  sockets.push(socket);
  return socket;
}

// Every socket `connect` opened, disconnected.
export function disconnectAll() {
  for (const socket of sockets) socket.disconnect();
}

// Resolves with [status, response] from a phoenix Push.
export function receive(push, ms = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      push
        .receive("ok", (r) => resolve(["ok", r]))
        .receive("error", (r) => resolve(["error", r]))
        .receive("timeout", () => resolve(["timeout", null]));
    }),
    ms + 1000,
    "a reply",
  );
}

// The payloads of every `event` the channel receives, in order.
export function eventQueue(channel, event) {
  const got = [];
  channel.on(event, (payload) => got.push(payload));
  return got;
}

// { list }: the channel's Presence list of ids, sorted, as of its last sync.
export function presenceView(channel) {
  const presence = new Presence(channel);
  const view = { list: [] };
  presence.onSync(() => {
    view.list = presence.list((id) => id).sort();
  });
  return view;
}

// Checks shared by the V1 and V2 suites.

// `socket` (connected with a short heartbeatIntervalMs) gets 3 heartbeat replies and stays open.
export async function checkHeartbeats(socket) {
  let replies = 0;
  let closes = 0;
  socket.onMessage((msg) => {
    if (msg.topic === "phoenix" && msg.event === "phx_reply" && msg.payload.status === "ok") replies++;
  });
  socket.onClose(() => closes++);
  await until(() => replies >= 3, `3 heartbeat replies (got ${replies})`);
  assert(closes === 0, "socket closed during heartbeats");
  assert(socket.isConnected(), "socket not connected");
}

// Joins `topic` on `socket`, leaves: the leave replies ok and the channel closes.
export async function checkLeave(socket, topic) {
  const room = socket.channel(topic, { user_id: "alice" });
  await receive(room.join());
  let closed = false;
  room.onClose(() => (closed = true));
  const [status] = await receive(room.leave());
  assert(status === "ok", `leave status ${status}`);
  await until(() => closed && room.state === "closed", `channel closed (state ${room.state})`);
}
