// The official `phoenix` client (npm, with `ws`) speaking Phoenix's V1 serializer against
// examples/chat.rs: `vsn: "1.0.0"` with `encode`/`decode` options that write and read V1's JSON
// objects ({topic, event, payload, ref}), as a pre-1.4 client or a custom V1 client does.
// Joins, push/reply, heartbeats, leave, broadcasts and presence shared with V2 clients, and a
// binary broadcast a V1 socket cannot receive.
// Usage: node tests/js/phoenix_v1.mjs <path to the chat binary>
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
const connectV1 = (url, opts = {}) => connect(url, { ...v1, ...opts });

// ---- the tests ---------------------------------------------------------------------------
const server = await startBinary(binary);
const url = `ws://${server.addr}/socket`;

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

await test("V1: heartbeats are answered and keep the socket open", () =>
  checkHeartbeats(connectV1(url, { heartbeatIntervalMs: 100 })),
);

await test("V1: leave replies ok and closes the channel", () =>
  checkLeave(connectV1(url), "room:v1-leave"),
);

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

disconnectAll();
await stopChild(server.child);
finish();
