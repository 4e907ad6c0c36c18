// A presence storm against examples/chat.rs (issue 16): 20 phoenix.js clients watch one room
// with `Presence` while 300 light clients (phoenix.js sockets without `Presence`) join it at
// once, then a quarter update their status, a quarter leave and half of those come back on
// new sockets, all at once. Every watcher's `Presence.list()` must end equal to the others'
// (keys, metas, phx_refs) and hold exactly the users still in the room. The server merges
// each interval's changes into one `presence_diff`: a watcher gets fewer diffs than changes.
// Usage: node tests/js/phoenix_presence_storm.mjs <path to the chat binary>
import { Presence } from "phoenix";
import { assert, checks, eq, startBinary, stopChild, until } from "./harness.mjs";
import { connect, disconnectAll } from "./phoenix_client.mjs";

const binary = process.argv[2];
const { test, finish } = checks({ timeoutMs: 120000 });
const server = await startBinary(binary);
const url = `ws://${server.addr}/socket`;
const TOPIC = "room:storm";
const WATCHERS = 20;
const LIGHT = 300;

// A watcher: its Presence list as [key, [[phx_ref, status]..]] sorted by key, and its diffs.
function watch(user) {
  const channel = connect(url).channel(TOPIC, { user_id: user });
  const presence = new Presence(channel);
  const view = { list: [], diffs: 0, joined: false };
  channel.on("presence_diff", () => view.diffs++);
  presence.onSync(() => {
    view.list = presence
      .list((id, { metas }) => [id, metas.map((m) => [m.phx_ref, m.status ?? null])])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  });
  channel.join().receive("ok", () => (view.joined = true));
  return view;
}

function light(user) {
  const channel = connect(url).channel(TOPIC, { user_id: user });
  const member = { user, channel, joined: false };
  channel.join().receive("ok", () => (member.joined = true));
  return member;
}

await test("20 phoenix.js Presence lists end equal after a storm of joins, updates and leaves", async () => {
  const watchers = Array.from({ length: WATCHERS }, (_, i) => watch(`watcher-${i}`));
  await until(() => watchers.every((w) => w.joined), "the watchers' joins", 30000);
  const lights = Array.from({ length: LIGHT }, (_, i) => light(`light-${i}`));
  await until(() => lights.every((l) => l.joined), "the storm's joins", 60000);
  const q = LIGHT / 4;
  lights.slice(0, q).forEach((l) => l.channel.push("status", { status: "away" }));
  lights.slice(q, 2 * q).forEach((l) => l.channel.leave());
  const back = lights.slice(q, q + q / 2).map((l) => light(l.user));

  // Who is in the room at the end, and with which status.
  const expected = new Map();
  watchers.forEach((_, i) => expected.set(`watcher-${i}`, null));
  lights.slice(0, q).forEach((l) => expected.set(l.user, "away"));
  lights.slice(2 * q).forEach((l) => expected.set(l.user, null));
  back.forEach((l) => expected.set(l.user, null));
  const matches = (view) =>
    view.list.length === expected.size &&
    view.list.every(([id, metas]) => metas.length === 1 && expected.get(id) === metas[0][1]);
  await until(() => watchers.every(matches), "every watcher's list to hold the room", 60000);
  const first = JSON.stringify(watchers[0].list);
  assert(watchers.every((w) => JSON.stringify(w.list) === first), "the watchers' phx_refs differ");
  assert(eq(watchers[0].list.map(([id]) => id).sort(), [...expected.keys()].sort()), "keys");

  const changes = WATCHERS + LIGHT + q + q + back.length;
  const diffs = watchers.map((w) => w.diffs);
  console.log(`${changes} presence changes; presence_diffs per watcher: ${Math.min(...diffs)}..${Math.max(...diffs)}`);
  assert(Math.max(...diffs) < changes, `a diff per change: ${diffs}`);
});

disconnectAll();
await stopChild(server.child);
finish();
