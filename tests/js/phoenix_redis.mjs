// Two chat servers (examples/chat.rs) sharing one private Redis, with the official `phoenix`
// client (npm, `ws` as its WebSocket) on each: a message pushed on node A reaches node B's
// client, presence lists agree on both nodes, node B killed with SIGKILL -> A's clients see B's
// users leave (heartbeat + expiry), Redis restarted -> broadcasting resumes, the nodes' Redis
// connections killed for 3 s while users come and go -> every client's list agrees again.
// Usage: node tests/js/phoenix_redis.mjs <path to the chat binary>
// Starts `redis-server` from PATH on a free 127.0.0.1 port. Prints `N passed, M failed`.
import { spawn } from "node:child_process";
import net from "node:net";
import { Presence } from "phoenix";
import { assert, checks, eq, freePort, sleep, startBinary, until, withTimeout } from "./harness.mjs";
import { connect, disconnectAll } from "./phoenix_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks({ timeoutMs: 40000 });
const children = new Set();

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
}

// ---- redis -------------------------------------------------------------------------------
const redisPort = await freePort();
let redis = null;
async function startRedis() {
  redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.add(redis);
  redis.once("error", (e) => {
    console.log(`FAIL redis-server cannot start (${e.message}): run bash scripts/test.sh, which installs it`);
    process.exit(1);
  });
  for (let i = 0; i < 200 && !(await canConnect(redisPort)); i++) await sleep(25);
}
async function stopRedis() {
  const child = redis;
  redis = null;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
  children.delete(child);
}
// A command as RESP: an array of bulk strings.
const resp = (args) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");

// PUBSUB NUMSUB over RESP: how many connections (nodes) subscribe to `channel`.
function numsub(channel) {
  return new Promise((resolve) => {
    const c = net.connect(redisPort, "127.0.0.1");
    let out = "";
    const args = ["PUBSUB", "NUMSUB", channel];
    c.on("data", (d) => {
      out += d;
      const m = out.match(/:(\d+)\r\n$/);
      if (m) { c.destroy(); resolve(Number(m[1])); }
    });
    c.on("error", () => resolve(-1));
    c.write(resp(args));
  });
}

// Fire-and-forget commands on one connection of the test's own (opened before any ACL change,
// so it stays authenticated; CLIENT KILL skips the connection that sends it).
function rawConnection() {
  const c = net.connect(redisPort, "127.0.0.1");
  c.on("data", () => {});
  c.on("error", () => {});
  const send = (...args) => c.write(resp(args));
  return { send, close: () => c.destroy() };
}

// ---- chat nodes --------------------------------------------------------------------------
async function startNode() {
  const { child, addr } = await startBinary(binary, { env: { REDIS_URL: `redis://127.0.0.1:${redisPort}/` } });
  children.add(child);
  return { child, url: `ws://${addr}/socket` };
}

// ---- helpers -----------------------------------------------------------------------------
// A user in room:lobby on a node: its messages, its phoenix Presence, the leaves it saw.
async function user(node, name) {
  const socket = connect(node.url, { reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 });
  const room = socket.channel("room:lobby", { user_id: name });
  const presence = new Presence(room);
  const u = { name, socket, room, presence, messages: [], left: [] };
  room.on("new_msg", (m) => u.messages.push(m));
  presence.onLeave((id, current) => { if (current.metas.length === 0) u.left.push(id); });
  await withTimeout(new Promise((resolve, reject) => room.join().receive("ok", resolve).receive("error", reject)), 5000, `${name} joins`);
  return u;
}
const online = (u) => u.presence.list((id) => id).sort();

// ---- the tests ---------------------------------------------------------------------------
await startRedis();
const a = await startNode();
const b = await startNode();
let alice, bob;

await test("a message pushed on node A reaches node B's client", async () => {
  alice = await user(a, "alice");
  bob = await user(b, "bob");
  await until(async () => (await numsub("websock:room:lobby")) === 2, "both nodes subscribed to room:lobby");
  alice.room.push("new_msg", { body: "hello from A" });
  await until(() => bob.messages.length > 0, "bob gets alice's message");
  assert(eq(bob.messages[0], { body: "hello from A", user_id: "alice" }), JSON.stringify(bob.messages));
  bob.room.push("new_msg", { body: "hello from B" });
  await until(() => alice.messages.length === 2, "alice gets hers and bob's");
  assert(eq(alice.messages.map((m) => m.user_id), ["alice", "bob"]), JSON.stringify(alice.messages));
  await sleep(200);
  assert(bob.messages.length === 2, `bob got ${bob.messages.length} messages, not 2`);
});

let carol;
await test("presence lists agree on both nodes", async () => {
  carol = await user(a, "carol");
  for (const u of [alice, bob, carol]) {
    await until(() => eq(online(u), ["alice", "bob", "carol"]), `${u.name} to list alice, bob, carol (has ${online(u)})`);
  }
});

await test("node B killed with SIGKILL: A's clients see bob leave", async () => {
  b.child.kill("SIGKILL");
  const started = Date.now();
  await until(() => alice.left.includes("bob") && carol.left.includes("bob"), "bob's leave on node A", 15000);
  const took = Date.now() - started;
  assert(eq(online(alice), ["alice", "carol"]) && eq(online(carol), ["alice", "carol"]), `online: ${online(alice)} / ${online(carol)}`);
  console.log(`     (leave seen ${took} ms after the kill; expiry 5 s + heartbeat 1 s)`);
});

let b2, dave;
await test("Redis restarted: broadcasting resumes", async () => {
  b2 = await startNode();
  dave = await user(b2, "dave");
  await until(async () => (await numsub("websock:room:lobby")) === 2, "both nodes subscribed");
  await stopRedis();
  await sleep(300);
  await startRedis();
  await until(async () => (await numsub("websock:room:lobby")) === 2, "both nodes subscribed again", 15000);
  const before = dave.messages.length;
  alice.room.push("new_msg", { body: "after the restart" });
  await until(() => dave.messages.length > before, "dave gets alice's message after the restart");
  assert(dave.messages.at(-1).body === "after the restart", JSON.stringify(dave.messages.at(-1)));
  await until(() => eq(online(dave), ["alice", "carol", "dave"]), `dave's list after the restart (${online(dave)})`, 10000);
});

await test("connections killed for 3 s while carol leaves on A and erin joins on B: the lists agree", async () => {
  const killer = rawConnection();
  const kill = () => {
    killer.send("MULTI");
    killer.send("CLIENT", "KILL", "TYPE", "normal");
    killer.send("CLIENT", "KILL", "TYPE", "pubsub");
    killer.send("EXEC");
  };
  // New connections are refused until the changes are made, so they cannot reach Redis by luck.
  killer.send("ACL", "SETUSER", "default", "off");
  const started = Date.now();
  kill();
  await sleep(300);
  kill();
  carol.room.leave();
  const erin = await user(b2, "erin");
  killer.send("ACL", "SETUSER", "default", "on");
  while (Date.now() - started < 3000) {
    kill();
    await sleep(100);
  }
  killer.close();
  const want = ["alice", "dave", "erin"];
  for (const u of [alice, dave, erin]) {
    await until(() => eq(online(u), want), `${u.name} to list ${want} (has ${online(u)})`, 15000);
  }
  // And they stay so.
  for (let i = 0; i < 10; i++) {
    await sleep(200);
    for (const u of [alice, dave, erin]) assert(eq(online(u), want), `${u.name} lists ${online(u)}`);
  }
});

disconnectAll();
for (const child of children) child.kill("SIGKILL");
finish();
