// The official `phoenix` client (npm), unchanged, over its LongPoll transport against
// examples/chat.rs: Node 20's `fetch` carries the polls (no XMLHttpRequest polyfill needed).
// Usage: node tests/js/phoenix_longpoll.mjs <path to the chat binary>
// Starts the binary on 127.0.0.1:0.
// Prints `N passed, M failed`; exits non-zero on any failure.
import { LongPoll, Presence } from "phoenix";
import WebSocket from "ws";
import { assert, checks, eq, startBinary, stopChild, until } from "./harness.mjs";
import { connect, disconnectAll, eventQueue, receive } from "./phoenix_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks();

// ---- the tests ---------------------------------------------------------------------------
const server = await startBinary(binary);
const url = `ws://${server.addr}/socket`;
const longpoll = (opts = {}) => connect(url, { transport: LongPoll, ...opts });

await test("longpoll: join, presence_state, push with reply, broadcast", async () => {
  const socket = longpoll();
  const room = socket.channel("room:lp1", { user_id: "lp-alice" });
  const states = eventQueue(room, "presence_state");
  const msgs = eventQueue(room, "new_msg");
  const [status] = await receive(room.join());
  assert(status === "ok", `join status ${status}`);
  assert(socket.transport === LongPoll, "the transport is LongPoll");
  await until(() => states.length > 0, "presence_state");
  assert(states[0]["lp-alice"], `presence_state ${JSON.stringify(states[0])}`);
  const [pushed] = await receive(room.push("new_msg", { body: "over http" }));
  assert(pushed === "ok", `push ${pushed}`);
  await until(() => msgs.length > 0, "the broadcast");
  assert(eq(msgs[0], { body: "over http", user_id: "lp-alice" }), JSON.stringify(msgs[0]));
  room.leave();
});

await test("longpoll: authToken travels as X-Phoenix-AuthToken to connect", async () => {
  const socket = longpoll({ authToken: "lp-secret" });
  const room = socket.channel("room:lp2", { user_id: "tok" });
  await receive(room.join());
  const [status, response] = await receive(room.push("whoami", {}));
  assert(status === "ok" && response.token === "lp-secret", `${status} ${JSON.stringify(response)}`);
  room.leave();
});

await test("longpoll and websocket clients in one room see each other's messages and presence", async () => {
  const lp = longpoll();
  const ws = connect(url);
  const lpRoom = lp.channel("room:mixed", { user_id: "via-lp" });
  const wsRoom = ws.channel("room:mixed", { user_id: "via-ws" });
  const lpPresence = new Presence(lpRoom);
  const wsPresence = new Presence(wsRoom);
  const lpMsgs = eventQueue(lpRoom, "new_msg");
  const wsMsgs = eventQueue(wsRoom, "new_msg");
  assert((await receive(lpRoom.join()))[0] === "ok", "lp join");
  assert((await receive(wsRoom.join()))[0] === "ok", "ws join");
  const both = (presence) => eq(presence.list((id) => id).sort(), ["via-lp", "via-ws"]);
  await until(() => both(lpPresence) && both(wsPresence), "both presences on both clients", 15000);
  await receive(lpRoom.push("new_msg", { body: "from lp" }));
  await receive(wsRoom.push("new_msg", { body: "from ws" }));
  const bodies = (msgs) => msgs.map((m) => m.body).sort();
  await until(() => bodies(lpMsgs).length === 2 && bodies(wsMsgs).length === 2, "both messages on both", 15000);
  assert(eq(bodies(lpMsgs), ["from lp", "from ws"]), JSON.stringify(lpMsgs));
  assert(eq(bodies(wsMsgs), ["from lp", "from ws"]), JSON.stringify(wsMsgs));
  // The long-poll client leaves (the socket closes): the WebSocket client sees it go.
  lpRoom.leave();
  await until(() => eq(wsPresence.list((id) => id), ["via-ws"]), "the lp client's presence leave", 15000);
  wsRoom.leave();
});

await test("longPollFallbackMs: a WebSocket that cannot connect falls back to LongPoll", async () => {
  // A WebSocket aimed at a path the server does not serve (404): the upgrade fails.
  class BlockedWebSocket extends WebSocket {
    constructor(endPoint, protocols) {
      super(endPoint.replace("/socket/websocket", "/blocked/websocket"), protocols);
    }
  }
  const socket = connect(url, { transport: BlockedWebSocket, longPollFallbackMs: 500 });
  const room = socket.channel("room:fallback", { user_id: "fell-back" });
  const [status] = await receive(room.join(), 15000);
  assert(status === "ok", `join over the fallback: ${status}`);
  assert(socket.transport === LongPoll, "fell back to LongPoll");
  const [pushed, response] = await receive(room.push("whoami", {}));
  assert(pushed === "ok" && response.user_id === "fell-back", `${pushed} ${JSON.stringify(response)}`);
  room.leave();
});

disconnectAll();
await stopChild(server.child);
finish();
