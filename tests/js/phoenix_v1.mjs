// The official `phoenix` client (npm, with `ws`) speaking Phoenix's V1 serializer against
// examples/chat.rs: `vsn: "1.0.0"` with `encode`/`decode` options that write and read V1's JSON
// objects ({topic, event, payload, ref}), as a pre-1.4 client or a custom V1 client does.
// Joins, push/reply, heartbeats, leave, broadcasts and presence shared with V2 clients, and a
// binary broadcast a V1 socket cannot receive.
// Usage: node tests/js/phoenix_v1.mjs <path to the chat binary>
// Prints `N passed, M failed`; exits non-zero on any failure.
import { spawn } from "node:child_process";
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

const binary = process.argv[2];
let passed = 0;
let failed = 0;
const failures = [];

// ---- the server --------------------------------------------------------------------------
let server = null;
async function startServer() {
  const child = spawn(binary, [], {
    env: { ...process.env, WEBSOCK_ADDR: "127.0.0.1:0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const bound = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no "listening on" from ${binary}: ${out}`)), 20000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on ([0-9.]+:[0-9]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  server = child;
  return bound;
}
async function stopServer() {
  if (!server) return;
  const child = server;
  server = null;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(5000).then(() => child.kill("SIGKILL"))]);
}

// ---- helpers -----------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
function receive(push, ms = 5000) {
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
async function until(predicate, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}
const sockets = [];
// Every raw frame each V1 socket received, to check their shape.
const rawV1 = [];
const v1 = {
  vsn: "1.0.0",
  // phoenix.js hands the encoder {join_ref, ref, topic, event, payload}: V1 is that object as
  // JSON (the server reads a join_ref if there is one, and never writes one back).
  encode: (msg, callback) => callback(JSON.stringify(msg)),
  decode: (raw, callback) => {
    rawV1.push(raw);
    callback(JSON.parse(raw));
  },
};
function connect(url, opts = {}) {
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
const connectV1 = (url, opts = {}) => connect(url, { ...v1, ...opts });
function eventQueue(channel, event) {
  const got = [];
  channel.on(event, (payload) => got.push(payload));
  return got;
}
function presenceView(channel) {
  const presence = new Presence(channel);
  const view = { list: [] };
  presence.onSync(() => {
    view.list = presence.list((id) => id).sort();
  });
  return view;
}
async function test(name, body) {
  try {
    await withTimeout(body(), 30000, name);
    passed++;
    console.log(`ok   ${name}`);
  } catch (error) {
    failed++;
    failures.push(name);
    console.log(`FAIL ${name}: ${error && error.stack ? error.stack : error}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---- the tests ---------------------------------------------------------------------------
const addr = await startServer();
const url = `ws://${addr}/socket`;

await test("V1: join, push/reply and its broadcast, in V1 object frames", async () => {
  const socket = connectV1(url);
  const room = socket.channel("room:v1", { user_id: "alice" });
  const casts = eventQueue(room, "new_msg");
  const states = eventQueue(room, "presence_state");
  const [status] = await receive(room.join());
  assert(status === "ok", `join status ${status}`);
  await until(() => states.length > 0 && states[0].alice, "presence_state with alice");
  const [pushed, response] = await receive(room.push("new_msg", { body: "hello" }));
  assert(pushed === "ok" && eq(response, {}), `${pushed} ${JSON.stringify(response)}`);
  await until(() => casts.length === 1, "the broadcast back");
  assert(eq(casts[0], { body: "hello", user_id: "alice" }), JSON.stringify(casts[0]));
  const [err, why] = await receive(room.push("new_msg", { nobody: 1 }));
  assert(err === "error" && typeof why.reason === "string", `${err} ${JSON.stringify(why)}`);
  // Every frame was a V1 object with exactly Phoenix's four fields.
  assert(rawV1.length >= 5, `only ${rawV1.length} frames`);
  for (const raw of rawV1) {
    const frame = JSON.parse(raw);
    assert(!Array.isArray(frame), `a V2 array reached a V1 socket: ${raw}`);
    assert(eq(Object.keys(frame).sort(), ["event", "payload", "ref", "topic"]), `fields of ${raw}`);
  }
  room.leave();
});

await test("V1: heartbeats are answered and keep the socket open", async () => {
  const socket = connectV1(url, { heartbeatIntervalMs: 100 });
  let replies = 0;
  let closes = 0;
  socket.onMessage((msg) => {
    if (msg.topic === "phoenix" && msg.event === "phx_reply" && msg.payload.status === "ok") replies++;
  });
  socket.onClose(() => closes++);
  await until(() => replies >= 3, `3 heartbeat replies (got ${replies})`);
  assert(closes === 0, "socket closed during heartbeats");
  assert(socket.isConnected(), "socket not connected");
});

await test("V1: leave replies ok and closes the channel", async () => {
  const socket = connectV1(url);
  const room = socket.channel("room:v1-leave", { user_id: "alice" });
  await receive(room.join());
  let closed = false;
  room.onClose(() => (closed = true));
  const [status] = await receive(room.leave());
  assert(status === "ok", `leave status ${status}`);
  await until(() => closed && room.state === "closed", `channel closed (state ${room.state})`);
});

await test("V1 and V2 clients in one room see each other's broadcasts and presence", async () => {
  const a = connectV1(url).channel("room:mixed", { user_id: "alice" });
  const sb = connect(url);
  const b = sb.channel("room:mixed", { user_id: "bob" });
  const seenByA = presenceView(a);
  const seenByB = presenceView(b);
  const atA = eventQueue(a, "new_msg");
  const atB = eventQueue(b, "new_msg");
  await receive(a.join());
  await receive(b.join());
  await until(() => eq(seenByA.list, ["alice", "bob"]), `V1 sees both (${seenByA.list})`);
  await until(() => eq(seenByB.list, ["alice", "bob"]), `V2 sees both (${seenByB.list})`);
  await receive(a.push("new_msg", { body: "from v1" }));
  await receive(b.push("new_msg", { body: "from v2" }));
  await until(() => atA.length === 2 && atB.length === 2, `both messages at both (${atA.length}, ${atB.length})`);
  for (const got of [atA, atB]) {
    assert(eq(got[0], { body: "from v1", user_id: "alice" }), JSON.stringify(got));
    assert(eq(got[1], { body: "from v2", user_id: "bob" }), JSON.stringify(got));
  }
  sb.disconnect();
  await until(() => eq(seenByA.list, ["alice"]), `V1 sees the V2 client go (${seenByA.list})`);
  a.leave();
});

await test("a binary broadcast is skipped for a V1 socket, and what follows arrives", async () => {
  const a = connectV1(url).channel("room:v1-bin", { user_id: "alice" });
  const b = connect(url).channel("room:v1-bin", { user_id: "bob" });
  const binaryAtA = eventQueue(a, "binary");
  const binaryAtB = eventQueue(b, "binary");
  const textAtA = eventQueue(a, "new_msg");
  await receive(a.join());
  await receive(b.join());
  const [status] = await receive(b.push("binary", new Uint8Array([1, 2, 3]).buffer));
  assert(status === "ok", `binary push ${status}`);
  await until(() => binaryAtB.length === 1, "the binary broadcast at the V2 client");
  await receive(b.push("new_msg", { body: "after" }));
  await until(() => textAtA.length === 1, "the text broadcast at the V1 client");
  assert(binaryAtA.length === 0, `the V1 client got ${binaryAtA.length} binary broadcasts`);
  a.leave();
  b.leave();
});

for (const socket of sockets) socket.disconnect();
await stopServer();
console.log(`${passed} passed, ${failed} failed${failed ? ": " + failures.join("; ") : ""}`);
process.exit(failed ? 1 : 0);
