// examples/chat_app on two nodes sharing one private Redis (REDIS_URL) and one SQLite database,
// phoenix.js clients on each: the socket id `user_socket:<id>` (a `disconnect` published on it
// in Redis closes that user's sockets), messages across nodes, one presence list, user_left on
// node B when a socket on node A closes and when node A is SIGKILLed, and one rate limit for a
// user whose attempts are split over both nodes.
// Usage: node tests/js/chat_app_redis.mjs <path to the chat_app binary>
// Starts `redis-server` from PATH on a free 127.0.0.1 port. Prints `N passed, M failed`.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { rmSync } from "node:fs";
import net from "node:net";
import { assert, checks, freePort, sleep, until } from "./harness.mjs";
import { disconnectAll } from "./phoenix_client.mjs";
import { checkMessage, isUser, joinOk, login, nth, payloads, presenceOf, push, same, send, startApp, tempDatabase, userSocket } from "./chat_app_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks({ timeoutMs: 30000 });
const children = new Set();

// ---- redis -------------------------------------------------------------------------------
const redisPort = await freePort();
const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
  stdio: ["ignore", "ignore", "inherit"],
});
children.add(redis);
redis.once("error", (e) => {
  console.log(`FAIL redis-server cannot start (${e.message}): run bash scripts/chat-app.sh, which installs it`);
  process.exit(1);
});
const canConnect = (port) =>
  new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
for (let i = 0; i < 200 && !(await canConnect(redisPort)); i++) await sleep(25);

// One command over RESP (arguments: strings or Buffers); resolves with the first reply line.
function redisCommand(...args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return new Promise((resolve) => {
    const c = net.connect(redisPort, "127.0.0.1");
    let out = "";
    c.on("data", (d) => {
      out += d;
      if (/:(\d+)\r\n$/.test(out)) { c.destroy(); resolve(Number(out.match(/:(\d+)\r\n$/)[1])); }
    });
    c.on("error", () => resolve(-1));
    c.write(Buffer.concat(parts));
  });
}
const numsub = (channel) => redisCommand("PUBSUB", "NUMSUB", channel);

// `event` with a JSON payload broadcast to `topic` as another node would publish it
// (websock-redis/src/wire_format.rs, version 2: [2][node u64][0 broadcast][0 JSON][len u16][event][payload]).
function publishBroadcast(topic, event, payload) {
  const e = Buffer.from(event);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(e.length);
  const message = Buffer.concat([Buffer.from([2]), crypto.randomBytes(8), Buffer.from([0, 0]), len, e, Buffer.from(JSON.stringify(payload))]);
  return redisCommand("PUBLISH", `websock:${topic}`, message);
}

// ---- two nodes ---------------------------------------------------------------------------
const db = tempDatabase();
const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}/` };
const start = async () => {
  const app = await startApp(binary, { database: db.url, env });
  children.add(app.child);
  return app;
};
const [a, b] = [await start(), await start()];

// Closes seen by a user's socket: their codes.
function closes(u) {
  const codes = [];
  u.socket.onClose((e) => codes.push(e.code));
  return codes;
}

await test("the socket id is user_socket:<id>: a disconnect published on it closes that user's sockets (1001)", async () => {
  const ann = await userSocket(a, "Ann");
  const ben = await userSocket(a, "Ben");
  const [annCloses, benCloses] = [closes(ann), closes(ben)];
  await until(async () => (await numsub(`websock:user_socket:${ann.user.id}`)) >= 1, `node A subscribed to user_socket:${ann.user.id}`);
  await publishBroadcast(`user_socket:${ann.user.id}`, "disconnect", {});
  await until(() => annCloses.length > 0, "Ann's socket closed");
  assert(annCloses[0] === 1001, `close code ${annCloses[0]}, not 1001`);
  await sleep(200);
  assert(benCloses.length === 0, "Ben's socket closed too");
  ann.socket.disconnect();
  ben.socket.disconnect();
});

let alice, bob, aliceLobby, bobLobby;
await test("presence shared: Alice on node A is in Bob's presence list on node B; Alice gets user_joined for Bob", async () => {
  alice = await userSocket(a, "Alice");
  aliceLobby = await joinOk(alice, "room:lobby");
  await until(async () => (await numsub("websock:room:lobby")) >= 1, "node A subscribed to room:lobby");
  bob = await userSocket(b, "Bob");
  bobLobby = await joinOk(bob, "room:lobby");
  const state = await nth(bobLobby, "presence_state");
  await until(() => presenceOf(bobLobby)[String(alice.user.id)]?.metas[0]?.name === "Alice", "Alice in Bob's presence list", 2000);
  // The first joiner of a topic on a node may get its presence_state before the node has read the
  // other nodes' presences from Redis; they follow as a presence_diff (see the report).
  if (!state[String(alice.user.id)]) console.log("     (Alice came in a presence_diff after Bob's presence_state, not in it)");
  const joined = await nth(aliceLobby, "user_joined");
  assert(isUser(joined.user, bob.user), `user_joined ${JSON.stringify(joined)}`);
  await until(() => payloads(aliceLobby, "presence_diff").some((d) => d.joins[String(bob.user.id)]), "Bob's presence_diff at Alice");
});

await test("Bob, joining on node B after Alice on A, gets no user_joined for Alice", async () => {
  await sleep(300);
  const stale = payloads(bobLobby, "user_joined").filter((j) => j.user.id === alice.user.id);
  assert(stale.length === 0, `Bob got user_joined for Alice, who was in the room before him: ${JSON.stringify(stale)}`);
});

await test("messages across nodes: sent on A, B's member gets it with the same id, and back", async () => {
  const id = await send(aliceLobby, "from node A");
  await until(() => payloads(bobLobby, "new_message").some((m) => m.id === id), "Alice's message on B");
  checkMessage(payloads(bobLobby, "new_message").find((m) => m.id === id), { id, body: "from node A", user: alice.user });
  const id2 = await send(bobLobby, "from node B");
  await until(() => payloads(aliceLobby, "new_message").some((m) => m.id === id2), "Bob's message on A");
  await sleep(200);
  assert(payloads(aliceLobby, "new_message").filter((m) => m.id === id).length === 1, "Alice got her message more than once");
});

await test("rate limit shared: 15 attempts on A and 15 on B, then the 31st on either is rate_limited", async () => {
  const session = await login(a.addr, "Spammer");
  const onA = await joinOk(await userSocket(a, "Spammer", session), "room:lobby");
  const onB = await joinOk(await userSocket(b, "Spammer", session), "room:rust");
  for (let i = 0; i < 30; i++) await send(i % 2 ? onB : onA, `spam ${i}`);
  for (const j of [onA, onB]) {
    const [status, response] = await push(j, "new_message", { body: "over" });
    assert(status === "error" && same(response, { reason: "rate_limited" }), `31st on ${j === onA ? "A" : "B"}: ${status} ${JSON.stringify(response)}`);
  }
  onA.u.socket.disconnect();
  onB.u.socket.disconnect();
});

await test("Bob's second tab on node A: no second user_joined; closing it: no user_left (Bob is still on B)", async () => {
  const bobJoins = () => payloads(aliceLobby, "presence_diff").filter((d) => d.joins[String(bob.user.id)]);
  const bobLeaves = () => payloads(aliceLobby, "presence_diff").filter((d) => d.leaves[String(bob.user.id)]);
  const joinsBefore = bobJoins().length;
  const tab = await userSocket(a, "Bob", { token: bob.token, user: bob.user });
  await joinOk(tab, "room:lobby");
  await until(() => bobJoins().length === joinsBefore + 1, "the presence_diff of Bob's second tab at Alice");
  tab.socket.disconnect();
  await until(() => bobLeaves().length === 1, "the presence leave of Bob's second tab at Alice");
  await sleep(300);
  const joined = payloads(aliceLobby, "user_joined").filter((j) => j.user.id === bob.user.id);
  assert(joined.length === 1, `user_joined for Bob ${joined.length} times`);
  const left = payloads(aliceLobby, "user_left").filter((l) => l.user_id === bob.user.id);
  assert(left.length === 0, "user_left for Bob while his tab on B is in the room");
});

await test("game:42 on node B: one game_state a second, ticks increasing, with two nodes up", async () => {
  const g = await joinOk(await userSocket(b, "Gamer"), "game:42");
  await sleep(3300);
  const states = payloads(g, "game_state");
  assert(states.every((s) => s.game_id === 42), `game_state ${JSON.stringify(states)}`);
  assert(states.length >= 2 && states.length <= 4, `${states.length} game_state in 3.3 s: ${JSON.stringify(states)}`);
  assert(states.every((s, i) => i === 0 || s.tick > states[i - 1].tick), `ticks ${states.map((s) => s.tick)}`);
  g.u.socket.disconnect();
});

await test("user_left on B when Alice's socket on A closes", async () => {
  alice.socket.disconnect();
  await until(() => payloads(bobLobby, "user_left").some((l) => l.user_id === alice.user.id), "user_left for Alice on B");
  assert(same(payloads(bobLobby, "user_left").find((l) => l.user_id === alice.user.id), { user_id: alice.user.id }), "user_left shape");
  await until(() => payloads(bobLobby, "presence_diff").some((d) => d.leaves[String(alice.user.id)]), "Alice's presence leave on B");
});

await test("node A SIGKILLed: B's members get user_left and the presence leave for A's users", async () => {
  const cleo = await userSocket(a, "Cleo");
  await joinOk(cleo, "room:lobby");
  await until(() => payloads(bobLobby, "user_joined").some((j) => j.user.id === cleo.user.id), "Cleo joined, seen on B");
  a.child.kill("SIGKILL");
  const killed = Date.now();
  await until(() => payloads(bobLobby, "user_left").some((l) => l.user_id === cleo.user.id), "user_left for Cleo on B", 25000);
  await until(() => payloads(bobLobby, "presence_diff").some((d) => d.leaves[String(cleo.user.id)]), "Cleo's presence leave on B");
  console.log(`     (user_left seen ${Date.now() - killed} ms after the kill)`);
});

disconnectAll();
for (const child of children) child.kill("SIGKILL");
rmSync(db.dir, { recursive: true, force: true });
finish();
