// The official `phoenix` client (npm) against examples/chat.rs, with `ws` as its WebSocket.
// Usage: node tests/js/phoenix_chat.mjs <path to the chat binary>
// Starts the binary on 127.0.0.1:0 (and again on the same port for the restart test).
// Prints `N passed, M failed`; exits non-zero on any failure.
import { assert, checks, eq, startBinary, stopChild, until } from "./harness.mjs";
import {
  checkHeartbeats,
  checkLeave,
  connect,
  disconnectAll,
  eventQueue,
  presenceView,
  receive,
} from "./phoenix_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks();

// The server, restarted on the same port by one test.
let server = null;
async function startServer(addr) {
  server = await startBinary(binary, { addr });
  return server.addr;
}
async function stopServer() {
  if (server) await stopChild(server.child);
  server = null;
}

// ---- the tests ---------------------------------------------------------------------------
let addr = await startServer();
let url = `ws://${addr}/socket`;

await test("join replies ok and pushes presence_state", async () => {
  const socket = connect(url);
  const room = socket.channel("room:lobby", { user_id: "alice" });
  const states = eventQueue(room, "presence_state");
  const [status] = await receive(room.join());
  assert(status === "ok", `join status ${status}`);
  await until(() => states.length > 0, "presence_state");
  assert(states[0].alice && states[0].alice.metas[0].phx_ref, `presence_state ${JSON.stringify(states[0])}`);
  room.leave();
});

await test("refused join: room:secret replies unauthorized", async () => {
  const socket = connect(url);
  const room = socket.channel("room:secret", { user_id: "mallory" });
  const [status, response] = await receive(room.join());
  assert(status === "error", `status ${status}`);
  assert(eq(response, { reason: "unauthorized" }), JSON.stringify(response));
  room.leave();
});

await test("unrouted topic replies unmatched topic", async () => {
  const socket = connect(url);
  const ch = socket.channel("nowhere:1", {});
  const [status, response] = await receive(ch.join());
  assert(status === "error" && eq(response, { reason: "unmatched topic" }), `${status} ${JSON.stringify(response)}`);
  ch.leave();
});

await test("push/reply, and a push without a reply times out", async () => {
  const socket = connect(url);
  const room = socket.channel("room:replies", { user_id: "alice" });
  await receive(room.join());
  const [status, response] = await receive(room.push("new_msg", { body: "hello" }));
  assert(status === "ok" && eq(response, {}), `${status} ${JSON.stringify(response)}`);
  const [late] = await receive(room.push("no_reply", {}, 300), 300);
  assert(late === "timeout", `expected timeout, got ${late}`);
  const [err, why] = await receive(room.push("new_msg", { nobody: 1 }));
  assert(err === "error" && typeof why.reason === "string", `${err} ${JSON.stringify(why)}`);
  room.leave();
});

await test("broadcast reaches the other client", async () => {
  const a = connect(url).channel("room:cast", { user_id: "alice" });
  const b = connect(url).channel("room:cast", { user_id: "bob" });
  const atA = eventQueue(a, "new_msg");
  const atB = eventQueue(b, "new_msg");
  await receive(a.join());
  await receive(b.join());
  await receive(a.push("new_msg", { body: "hi bob" }));
  await until(() => atB.length === 1 && atA.length === 1, "new_msg at both clients");
  assert(eq(atB[0], { body: "hi bob", user_id: "alice" }), JSON.stringify(atB[0]));
  a.leave();
  b.leave();
});

await test("presence syncs in both clients as they come and go", async () => {
  const sa = connect(url);
  const a = sa.channel("room:presence", { user_id: "alice" });
  const seenByA = presenceView(a);
  await receive(a.join());
  await until(() => eq(seenByA.list, ["alice"]), `alice alone (${seenByA.list})`);
  const sb = connect(url);
  const b = sb.channel("room:presence", { user_id: "bob" });
  const seenByB = presenceView(b);
  await receive(b.join());
  await until(() => eq(seenByA.list, ["alice", "bob"]), `A sees both (${seenByA.list})`);
  await until(() => eq(seenByB.list, ["alice", "bob"]), `B sees both (${seenByB.list})`);
  // bob goes by leaving; alice sees it.
  await receive(b.leave());
  await until(() => eq(seenByA.list, ["alice"]), `A sees bob leave (${seenByA.list})`);
  // bob comes back on a new socket, then his socket disconnects.
  const sc = connect(url);
  const c = sc.channel("room:presence", { user_id: "bob" });
  const seenByC = presenceView(c);
  await receive(c.join());
  await until(() => eq(seenByA.list, ["alice", "bob"]), `A sees bob again (${seenByA.list})`);
  await until(() => eq(seenByC.list, ["alice", "bob"]), `C sees both (${seenByC.list})`);
  sc.disconnect();
  await until(() => eq(seenByA.list, ["alice"]), `A sees bob's socket close (${seenByA.list})`);
  a.leave();
});

await test("heartbeats are answered and keep the socket open", () =>
  checkHeartbeats(connect(url, { heartbeatIntervalMs: 100 })),
);

await test("leave replies ok and closes the channel", () =>
  checkLeave(connect(url), "room:leave"),
);

await test("binary payloads both ways: reply and broadcast", async () => {
  const a = connect(url).channel("room:bin", { user_id: "alice" });
  const b = connect(url).channel("room:bin", { user_id: "bob" });
  const atB = eventQueue(b, "binary");
  await receive(a.join());
  await receive(b.join());
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  const [status, response] = await receive(a.push("binary", bytes.buffer));
  assert(status === "ok", `status ${status}`);
  assert(response instanceof ArrayBuffer, `reply is ${Object.prototype.toString.call(response)}`);
  assert(eq([...new Uint8Array(response)], [...bytes]), `reply bytes ${[...new Uint8Array(response)]}`);
  await until(() => atB.length === 1, "binary broadcast at B");
  assert(atB[0] instanceof ArrayBuffer, "broadcast is not an ArrayBuffer");
  assert(eq([...new Uint8Array(atB[0])], [...bytes]), `broadcast bytes ${[...new Uint8Array(atB[0])]}`);
  a.leave();
  b.leave();
});

await test("authToken arrives through Sec-WebSocket-Protocol", async () => {
  const socket = connect(url, { authToken: "s3cret:tok/+?" });
  const room = socket.channel("room:token", { user_id: "alice" });
  await receive(room.join());
  const [status, response] = await receive(room.push("whoami", {}));
  assert(status === "ok" && response.token === "s3cret:tok/+?", `${status} ${JSON.stringify(response)}`);
  room.leave();
});

await test("reconnect after the server restarts on the same port; the channel rejoins", async () => {
  const socket = connect(url);
  const room = socket.channel("room:restart", { user_id: "alice" });
  let joins = 0;
  const states = eventQueue(room, "presence_state");
  room.join().receive("ok", () => joins++);
  await until(() => joins === 1, "first join");
  let closes = [];
  socket.onClose((event) => closes.push(event.code));
  await stopServer();
  await until(() => closes.length > 0, "the client to see the close");
  assert(closes[0] === 1012 || closes[0] === 1006, `close code ${closes[0]}`);
  addr = await startServer(addr);
  await until(() => joins === 2, "the rejoin after restart", 15000);
  await until(() => states.length === 2, "presence_state after the rejoin");
  const [status] = await receive(room.push("new_msg", { body: "back" }));
  assert(status === "ok", `push after rejoin: ${status}`);
  room.leave();
});

disconnectAll();
await stopServer();
finish();
