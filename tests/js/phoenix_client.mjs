// The official `phoenix` client (npm, `ws` as its WebSocket) as the suites in tests/js drive it:
// sockets that reconnect fast and are all disconnected at the end, a push's reply as a value,
// a channel's events and presence list collected for the waits.
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import { withTimeout } from "./harness.mjs";

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
