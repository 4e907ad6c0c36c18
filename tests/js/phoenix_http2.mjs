// Phoenix channels over an HTTP/2 stream (RFC 8441) beside the official `phoenix` client over
// HTTP/1.1, against examples/chat.rs: Node's `http2` opens the WebSocket with an extended
// CONNECT and speaks the V2 JSON protocol over it (frames written here: RFC 6455 §5, masked
// as a client must); phoenix.js (`ws`) joins the same room. Messages cross both ways, presence
// lists both users, and `GET /metrics` counts one upgrade of each HTTP version.
// Usage: node tests/js/phoenix_http2.mjs <path to the chat binary>
// Prints `N passed, M failed`; exits non-zero on any failure.
import http2 from "node:http2";
import { randomBytes } from "node:crypto";
import { assert, checks, startBinary, stopChild, until } from "./harness.mjs";
import { connect, disconnectAll, eventQueue, presenceView, receive } from "./phoenix_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks();

// ---- a WebSocket over one HTTP/2 stream --------------------------------------------------
function encodeFrame(opcode, payload) {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
    : (() => { const b = Buffer.alloc(10); b[0] = 0x80 | opcode; b[1] = 0x80 | 127; b.writeBigUInt64BE(BigInt(len), 2); return b; })();
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

// Parses the server's (unmasked, unfragmented) frames out of `buffer`; returns the rest.
function decodeFrames(buffer, onFrame) {
  for (;;) {
    if (buffer.length < 2) return buffer;
    const opcode = buffer[0] & 0x0f;
    let len = buffer[1] & 0x7f;
    let offset = 2;
    if (len === 126) { if (buffer.length < 4) return buffer; len = buffer.readUInt16BE(2); offset = 4; }
    else if (len === 127) { if (buffer.length < 10) return buffer; len = Number(buffer.readBigUInt64BE(2)); offset = 10; }
    if (buffer.length < offset + len) return buffer;
    onFrame(opcode, buffer.subarray(offset, offset + len));
    buffer = buffer.subarray(offset + len);
  }
}

// Opens `path` as a WebSocket over a new HTTP/2 connection to `addr` (h2c); resolves with
// { send(text), messages (decoded V2 arrays), close() } once the server answered 200.
async function h2Socket(addr, path) {
  const session = http2.connect(`http://${addr}`);
  session.on("error", () => {});
  // RFC 8441 §3: the server must have sent SETTINGS_ENABLE_CONNECT_PROTOCOL first.
  await new Promise((resolve, reject) => {
    session.once("remoteSettings", (settings) =>
      settings.enableConnectProtocol ? resolve() : reject(new Error("no SETTINGS_ENABLE_CONNECT_PROTOCOL")));
  });
  const stream = session.request({
    ":method": "CONNECT", ":protocol": "websocket", ":scheme": "http", ":path": path,
    ":authority": addr, "sec-websocket-version": "13",
  }, { endStream: false });
  const status = await new Promise((resolve) => stream.once("response", (h) => resolve(h[":status"])));
  assert(status === 200, `extended CONNECT answered ${status}`);
  const messages = [];
  let rest = Buffer.alloc(0);
  stream.on("data", (chunk) => {
    rest = decodeFrames(Buffer.concat([rest, chunk]), (opcode, payload) => {
      if (opcode === 1) messages.push(JSON.parse(payload.toString("utf8")));
      if (opcode === 9) stream.write(encodeFrame(10, payload));
    });
  });
  return {
    messages,
    send: (array) => stream.write(encodeFrame(1, Buffer.from(JSON.stringify(array)))),
    close: () => { stream.write(encodeFrame(8, Buffer.from([0x03, 0xe8]))); stream.end(); session.close(); },
  };
}

async function metrics(addr) {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  return Object.fromEntries(text.trim().split("\n").map((line) => line.split(" ")).map(([k, v]) => [k, Number(v)]));
}

// ---- the test ----------------------------------------------------------------------------
const { child, addr } = await startBinary(binary, { env: { REDIS_URL: "" } });
let h2;

await test("a V2 client over an HTTP/2 stream joins room:lobby", async () => {
  h2 = await h2Socket(addr, "/socket/websocket?vsn=2.0.0");
  h2.send(["1", "1", "room:lobby", "phx_join", { user_id: "h2-user" }]);
  await until(() => h2.messages.some((m) => m[1] === "1" && m[3] === "phx_reply"), "the join reply");
  const reply = h2.messages.find((m) => m[1] === "1");
  assert(reply[4].status === "ok", `join reply ${JSON.stringify(reply)}`);
});

let room, presence, received;
await test("phoenix.js over HTTP/1.1 joins the same room and sees both users", async () => {
  const socket = connect(`ws://${addr}/socket`);
  room = socket.channel("room:lobby", { user_id: "js-user" });
  presence = presenceView(room);
  received = eventQueue(room, "new_msg");
  const [status] = await receive(room.join());
  assert(status === "ok", `join status ${status}`);
  await until(() => presence.list.join() === "h2-user,js-user", `presence ${presence.list}`);
});

await test("a message from the HTTP/2 stream reaches phoenix.js", async () => {
  h2.send(["1", "2", "room:lobby", "new_msg", { body: "from h2" }]);
  await until(() => received.some((m) => m.body === "from h2" && m.user_id === "h2-user"), "the message in phoenix.js");
});

await test("a message from phoenix.js reaches the HTTP/2 stream", async () => {
  const [status] = await receive(room.push("new_msg", { body: "from js" }));
  assert(status === "ok", `push status ${status}`);
  await until(() => h2.messages.some((m) => m[3] === "new_msg" && m[4].body === "from js"), "the message over h2");
});

await test("GET /metrics counts one WebSocket over each HTTP version", async () => {
  const m = await metrics(addr);
  assert(m.websock_http2_upgrades === 1, `http2_upgrades ${m.websock_http2_upgrades}`);
  assert(m.websock_http1_upgrades >= 1, `http1_upgrades ${m.websock_http1_upgrades}`);
});

await test("closing the HTTP/2 stream's WebSocket makes its user leave", async () => {
  h2.close();
  await until(() => presence.list.join() === "js-user", `presence ${presence.list}`);
});

disconnectAll();
await stopChild(child);
finish();
