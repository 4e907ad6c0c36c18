// examples/chat_app against issue 14's contract, one check per line of it, with the official
// `phoenix` client (npm, `ws` as its WebSocket): login, the 403s, rooms, the order after a join,
// history, presence with user_joined/user_left, new_message's checks in order (rate limit
// first), typing, status, the user channel, game ticks, /metrics, and the history surviving a
// restart. One app (no Redis) on 127.0.0.1:0 with a temporary SQLite database and a 3 s rate
// limit window; a second instance with another SECRET_KEY_BASE makes the forged token.
// Usage: node tests/js/chat_app.mjs <path to the chat_app binary>
// Prints `N passed, M failed`; exits non-zero on any failure.
import { existsSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { assert, checks, sleep, stopChild, until } from "./harness.mjs";
import { disconnectAll } from "./phoenix_client.mjs";
import {
  DAY_MS,
  WINDOW_SECS,
  checkMessage,
  frames,
  handshake,
  isUser,
  join,
  joinOk,
  login,
  metrics,
  nth,
  payloads,
  postLogin,
  push,
  resign,
  same,
  send,
  startApp,
  tempDatabase,
  userSocket,
} from "./chat_app_client.mjs";

// Absolute: one test starts it in another working directory.
const binary = path.resolve(process.argv[2]);
const { test, finish } = checks({ timeoutMs: 20000 });
const children = new Set();
const databases = [];

async function start(database, env = {}) {
  const app = await startApp(binary, { database, env });
  children.add(app.child);
  return app;
}

const db = tempDatabase();
const other = tempDatabase();
databases.push(db, other);
// The app under test, and one that signs with another key (its tokens are forged for the first).
let [app, otherApp] = await Promise.all([
  start(db.url),
  start(other.url, { SECRET_KEY_BASE: "another-secret-key-base-0123456789abcdef0123456789abcdef01234567" }),
]);

// Game ticks arrive once a second: start listening now, check near the end.
const gamer = await userSocket(app, "Gamer");
const game = await joinOk(gamer, "game:42");
const gameJoinedAt = Date.now();

// ---- login and the socket ----------------------------------------------------------------
let alice;
await test("POST /api/login: {token, user: {id, name}}; the same name gets the same id", async () => {
  const first = await postLogin(app.addr, { name: "Alice" });
  assert(first.status === 200, `status ${first.status}: ${first.text}`);
  const { token, user } = first.json;
  assert(same(Object.keys(first.json).sort(), ["token", "user"]), `body ${first.text}`);
  assert(typeof token === "string" && token.length > 0, `token ${JSON.stringify(token)}`);
  assert(Number.isInteger(user.id) && isUser(user, { id: user.id, name: "Alice" }), `user ${JSON.stringify(user)}`);
  const again = await login(app.addr, "Alice");
  assert(again.user.id === user.id, `Alice again got id ${again.user.id}, first ${user.id}`);
  const bob = await login(app.addr, "Bob");
  assert(bob.user.id !== user.id && bob.user.name === "Bob", `Bob: ${JSON.stringify(bob.user)}`);
  alice = first.json;
});

await test("POST /api/login: a body that is not JSON, or has no name, gets a 4xx", async () => {
  for (const body of ["{not json", JSON.stringify({ nom: "x" })]) {
    const { status, text } = await postLogin(app.addr, body);
    assert(status >= 400 && status < 500, `${body}: ${status} ${text}`);
  }
});

await test("POST /api/login: a body over the limit gets 413", async () => {
  const { status, text } = await postLogin(app.addr, JSON.stringify({ name: "x".repeat(1 << 20) }));
  assert(status === 413, `1 MiB body: ${status} ${text.slice(0, 200)}`);
});

await test("a valid token upgrades (101); missing or malformed tokens get 403 before the upgrade", async () => {
  assert((await handshake(app.addr, { token: alice.token })) === 101, "valid token not upgraded");
  assert((await handshake(app.addr, {})) === 403, "no token");
  assert((await handshake(app.addr, { token: "" })) === 403, "empty token");
  assert((await handshake(app.addr, { token: "garbage" })) === 403, "garbage token");
  const [prefix, payload, signature] = alice.token.split(".");
  const altered = `${prefix}.${Buffer.from(JSON.stringify([alice.user.id + 1, Date.now()])).toString("base64url")}.${signature}`;
  assert((await handshake(app.addr, { token: altered })) === 403, "payload swapped under the signature");
  assert((await handshake(app.addr, { token: `${prefix}.${payload}.${signature.slice(0, -2)}` })) === 403, "cut signature");
});

await test("a forged token (signed with another SECRET_KEY_BASE) gets 403", async () => {
  const forged = await login(otherApp.addr, "Alice");
  assert((await handshake(otherApp.addr, { token: forged.token })) === 101, "the other app accepts its own token");
  assert((await handshake(app.addr, { token: forged.token })) === 403, "forged token accepted");
  await stopChild(otherApp.child);
});

await test("an expired token (signed over a day ago) gets 403; 23 h old still upgrades", async () => {
  // Signing now first proves the test signs as the app does (key and salt).
  assert((await handshake(app.addr, { token: resign(alice.token, Date.now()) })) === 101, "token re-signed now refused: salt or key differ from the app's");
  assert((await handshake(app.addr, { token: resign(alice.token, Date.now() - 23 * 3600_000) })) === 101, "23 h old token refused");
  assert((await handshake(app.addr, { token: resign(alice.token, Date.now() - DAY_MS - 60_000) })) === 403, "a day and a minute old token accepted");
  assert((await handshake(app.addr, { token: resign(alice.token, Date.now() - 30 * DAY_MS) })) === 403, "30 days old token accepted");
});

await test("defaults: no DATABASE_URL -> chat_app.db made in the working directory; no SECRET_KEY_BASE -> the development key, said so; no RATE_LIMIT_WINDOW_SECS -> a window longer than ours", async () => {
  const cwd = tempDatabase().dir;
  databases.push({ dir: cwd });
  const plain = await startApp(binary, { database: "", cwd, env: { SECRET_KEY_BASE: "", RATE_LIMIT_WINDOW_SECS: "" } });
  children.add(plain.child);
  try {
    assert(existsSync(path.join(cwd, "chat_app.db")), `no chat_app.db in ${cwd}: ${readdirSync(cwd)}`);
    const { token } = await login(plain.addr, "Alice");
    assert((await handshake(plain.addr, { token })) === 101, "its own token refused");
    assert((await handshake(app.addr, { token })) === 403, "a development-key token accepted by the app with SECRET_KEY_BASE set");
    assert(/SECRET_KEY_BASE/.test(plain.child.log), `nothing says the development key is in use: ${plain.child.log}`);
    // 60 s by default: still limited well after our window would have ended.
    const lobby = await joinOk(await userSocket(plain, "Alice"), "room:lobby");
    for (let i = 0; i < 30; i++) await send(lobby, `default window ${i}`);
    await sleep(WINDOW_SECS * 1000 + 500);
    const [status, response] = await push(lobby, "new_message", { body: "31st" });
    assert(status === "error" && same(response, { reason: "rate_limited" }), `31st after ${WINDOW_SECS + 0.5} s: ${status} ${JSON.stringify(response)}`);
    lobby.u.socket.disconnect();
  } finally {
    await stopChild(plain.child);
  }
});

// ---- rooms -------------------------------------------------------------------------------
await test("rooms: lobby, rust, elixir public; staff only for Alice; others not found", async () => {
  const a = await userSocket(app, "Alice", alice);
  const b = await userSocket(app, "Bob");
  for (const room of ["lobby", "rust", "elixir"]) {
    for (const u of [a, b]) (await joinOk(u, `room:${room}`)).ch.leave();
  }
  const staff = await joinOk(a, "room:staff");
  staff.ch.leave();
  const refused = await join(b, "room:staff");
  assert(refused.status === "error" && same(refused.response, { reason: "unauthorized" }), `Bob in staff: ${refused.status} ${JSON.stringify(refused.response)}`);
  for (const topic of ["room:nope", "room:", "room:Lobby"]) {
    const missing = await join(a, topic);
    assert(missing.status === "error" && same(missing.response, { reason: "room not found" }), `${topic}: ${missing.status} ${JSON.stringify(missing.response)}`);
  }
  a.socket.disconnect();
  b.socket.disconnect();
});

// ---- a join: order, presence, user_joined ------------------------------------------------
let carol, dan, carolLobby, danLobby;
await test("after a join: the reply, then recent_messages, then presence_state (name, joined_at)", async () => {
  carol = await userSocket(app, "Carol");
  carolLobby = await joinOk(carol, "room:lobby");
  await nth(carolLobby, "presence_state");
  // A presence_diff (of this very join) may come anywhere after the reply; these three in order.
  const order = ["phx_reply", "recent_messages", "presence_state"];
  const events = frames(carolLobby).map((m) => m.event);
  assert(same(events.filter((e) => order.includes(e)), order), `frames in order: ${events.join(", ")}`);
  assert(events[0] === "phx_reply", `the first frame is ${events[0]}, not the join reply`);
  const { messages } = payloads(carolLobby, "recent_messages")[0];
  assert(Array.isArray(messages), `recent_messages ${JSON.stringify(payloads(carolLobby, "recent_messages")[0])}`);
  const presence = payloads(carolLobby, "presence_state")[0][String(carol.user.id)];
  assert(presence && presence.metas.length === 1, `presence_state ${JSON.stringify(payloads(carolLobby, "presence_state")[0])}`);
  const meta = presence.metas[0];
  assert(meta.name === "Carol" && meta.joined_at !== undefined && meta.phx_ref, `meta ${JSON.stringify(meta)}`);
});

let danTab2;
await test("the others get presence_diff and user_joined; a second tab of the same user: no user_joined", async () => {
  dan = await userSocket(app, "Dan");
  danLobby = await joinOk(dan, "room:lobby");
  // Carol's own join came as a presence_diff too: wait for one with Dan.
  const danJoins = () => payloads(carolLobby, "presence_diff").filter((d) => d.joins[String(dan.user.id)]);
  await until(() => danJoins().length === 1, "Dan's presence_diff at Carol");
  assert(danJoins()[0].joins[String(dan.user.id)].metas[0]?.name === "Dan", `diff ${JSON.stringify(danJoins()[0])}`);
  const joined = await nth(carolLobby, "user_joined");
  assert(same(Object.keys(joined), ["user"]) && isUser(joined.user, dan.user), `user_joined ${JSON.stringify(joined)}`);
  const state = (await nth(danLobby, "presence_state"))[String(carol.user.id)];
  assert(state?.metas[0]?.name === "Carol", "Dan's presence_state lacks Carol");
  assert(payloads(danLobby, "user_joined").length === 0, "Dan got user_joined for himself");
  // Dan again, from a second socket (a second tab).
  danTab2 = await userSocket(app, "Dan", dan);
  const tab2Lobby = await joinOk(danTab2, "room:lobby");
  await until(() => danJoins().length === 2, "the presence_diff of Dan's second tab at Carol");
  const both = (await nth(tab2Lobby, "presence_state"))[String(dan.user.id)];
  assert(both?.metas.length === 2, `Dan's metas after two tabs: ${JSON.stringify(both)}`);
  await sleep(300);
  assert(payloads(carolLobby, "user_joined").length === 1, `user_joined for Dan's second tab: ${JSON.stringify(payloads(carolLobby, "user_joined"))}`);
  danTab2.lobby = tab2Lobby;
});

// ---- new_message -------------------------------------------------------------------------
await test("new_message: reply ok {id}; every member, the sender included, gets it with that id", async () => {
  const id = await send(carolLobby, "hello lobby");
  for (const j of [carolLobby, danLobby, danTab2.lobby]) {
    await until(() => payloads(j, "new_message").some((m) => m.id === id), `${j.u.name}'s new_message ${id}`);
    const got = payloads(j, "new_message").filter((m) => m.id === id);
    assert(got.length === 1, `${j.u.name} got message ${id} ${got.length} times`);
    checkMessage(got[0], { id, body: "hello lobby", user: carol.user });
  }
  const id2 = await send(danLobby, "hi Carol");
  assert(id2 > id, `ids ${id} then ${id2}`);
  await until(() => payloads(carolLobby, "new_message").some((m) => m.id === id2), "Dan's message at Carol");
});

await test("new_message: blank -> errors body; over 1000 bytes -> message_too_long; 1000 bytes -> ok", async () => {
  const before = payloads(danLobby, "new_message").length;
  for (const body of ["", "   ", " \n\t "]) {
    const [status, response] = await push(carolLobby, "new_message", { body });
    assert(status === "error" && same(response, { errors: { body: ["can't be blank"] } }), `${JSON.stringify(body)}: ${status} ${JSON.stringify(response)}`);
  }
  // Bytes, not characters: "é" is two bytes in UTF-8.
  for (const body of ["x".repeat(1001), "é".repeat(501)]) {
    const [status, response] = await push(carolLobby, "new_message", { body });
    assert(status === "error" && same(response, { reason: "message_too_long" }), `${body.length} chars: ${status} ${JSON.stringify(response)}`);
  }
  const ok = "é".repeat(500);
  const id = await send(carolLobby, ok);
  await until(() => payloads(danLobby, "new_message").some((m) => m.id === id), "the 1000-byte message at Dan");
  assert(payloads(danLobby, "new_message").length === before + 1, "a refused message was broadcast");
});

await test("payloads of the wrong shape get an error reply with a reason; the channel and socket go on", async () => {
  const mallory = await userSocket(app, "Mallory");
  const lobby = await joinOk(mallory, "room:lobby");
  const own = await joinOk(mallory, `user:${mallory.user.id}`);
  const cases = [
    [lobby, "new_message", { body: 5 }], [lobby, "new_message", { body: null }], [lobby, "new_message", { body: ["a"] }],
    [lobby, "typing", { typing: "yes" }], [lobby, "update_status", { status: 5 }], [lobby, "update_status", {}],
    [lobby, "no_such_event", {}], [own, "mark_notifications_read", {}], [own, "mark_notifications_read", { ids: "x" }],
  ];
  for (const [j, event, payload] of cases) {
    const [status, response] = await push(j, event, payload);
    const why = response && (response.reason ?? response.errors);
    assert(status === "error" && why, `${j.topic} ${event} ${JSON.stringify(payload)}: ${status} ${JSON.stringify(response)}`);
  }
  assert(frames(lobby, "phx_error").length === 0 && frames(own, "phx_error").length === 0, "a channel crashed");
  await send(lobby, "still here");
  mallory.socket.disconnect();
});

await test("typing -> user_typing {user_id, typing} to the others, not the sender", async () => {
  carolLobby.ch.push("typing", { typing: true });
  const t = await nth(danLobby, "user_typing");
  assert(same(t, { user_id: carol.user.id, typing: true }), `user_typing ${JSON.stringify(t)}`);
  carolLobby.ch.push("typing", { typing: false });
  const t2 = await nth(danTab2.lobby, "user_typing", 2);
  assert(same(t2, { user_id: carol.user.id, typing: false }), `user_typing ${JSON.stringify(t2)}`);
  await sleep(200);
  assert(payloads(carolLobby, "user_typing").length === 0, "the sender got its own user_typing");
});

await test("update_status: the meta gains status and keeps name and joined_at", async () => {
  const before = payloads(carolLobby, "presence_state")[0][String(carol.user.id)].metas[0];
  const diffs = payloads(danLobby, "presence_diff").length;
  carolLobby.ch.push("update_status", { status: "away" });
  // Other users' diffs may come in between: the first one about Carol since the push.
  const aboutCarol = () => payloads(danLobby, "presence_diff").slice(diffs).find((d) => d.joins[String(carol.user.id)]);
  await until(aboutCarol, "a presence_diff about Carol at Dan");
  const diff = aboutCarol();
  const meta = diff.joins[String(carol.user.id)].metas[0];
  assert(meta && meta.status === "away", `diff ${JSON.stringify(diff)}`);
  assert(meta.name === "Carol" && same(meta.joined_at, before.joined_at), `meta ${JSON.stringify(meta)}, before ${JSON.stringify(before)}`);
  assert(diff.leaves[String(carol.user.id)], `the update's diff lacks the old meta in leaves: ${JSON.stringify(diff)}`);
  // A later joiner sees the status in presence_state.
  const erin = await userSocket(app, "Erin");
  const lobby = await joinOk(erin, "room:lobby");
  const seen = (await nth(lobby, "presence_state"))[String(carol.user.id)]?.metas[0];
  assert(seen?.status === "away" && seen.name === "Carol", `Erin sees ${JSON.stringify(seen)}`);
  erin.socket.disconnect();
});

await test("user_left only when the user's last presence goes: leave one tab -> none; close the other -> user_left", async () => {
  const left = () => payloads(carolLobby, "user_left").filter((l) => l.user_id === dan.user.id);
  const leavesOf = (id) => payloads(carolLobby, "presence_diff").filter((d) => d.leaves?.[String(id)] && !d.joins?.[String(id)]);
  danTab2.lobby.ch.leave();
  await until(() => leavesOf(dan.user.id).length === 1, "the presence leave of Dan's second tab");
  await sleep(300);
  assert(left().length === 0, `user_left while Dan is still in the room: ${JSON.stringify(left())}`);
  dan.socket.disconnect();
  await until(() => leavesOf(dan.user.id).length === 2, "the presence leave of Dan's last tab");
  await until(() => left().length === 1, "user_left for Dan");
  assert(same(left().at(-1), { user_id: dan.user.id }), `user_left ${JSON.stringify(left().at(-1))}`);
  danTab2.socket.disconnect();
  // The last presence leaving by phx_leave.
  const gus = await userSocket(app, "Gus");
  const gusLobby = await joinOk(gus, "room:lobby");
  await until(() => payloads(carolLobby, "user_joined").some((j) => j.user.id === gus.user.id), "Gus joined, at Carol");
  gusLobby.ch.leave();
  await until(() => payloads(carolLobby, "user_left").some((l) => l.user_id === gus.user.id), "user_left for Gus after his leave");
  gus.socket.disconnect();
});

await test("terminate logs the reason (a leave, a closed socket)", async () => {
  const log = () => app.child.log.replace(/\x1b\[[0-9;]*m/g, "");
  const line = (id, reason) => new RegExp(`terminated.*user_id=${id}\\b.*reason=\\S*${reason}`);
  await until(() => line(dan.user.id, "Leave").test(log()), "a log line: Dan's second tab left room:lobby", 2000);
  await until(() => line(dan.user.id, "Closed").test(log()), "a log line: Dan's socket closed", 2000);
});

// ---- history -----------------------------------------------------------------------------
await test("recent_messages: the last 50 in send order, {id, body, user, timestamp}", async () => {
  const h1 = await userSocket(app, "Hist1");
  const h2 = await userSocket(app, "Hist2");
  const [r1, r2] = [await joinOk(h1, "room:rust"), await joinOk(h2, "room:rust")];
  const sent = [];
  for (let i = 0; i < 56; i++) {
    const [j, u] = i % 2 ? [r2, h2] : [r1, h1];
    const body = `history ${i}`;
    sent.push({ id: await send(j, body), body, user: u.user });
  }
  const reader = await userSocket(app, "Reader");
  const rust = await joinOk(reader, "room:rust");
  const { messages } = await nth(rust, "recent_messages");
  assert(messages.length === 50, `${messages.length} messages`);
  const want = sent.slice(-50);
  messages.forEach((m, i) => checkMessage(m, want[i]));
  const times = messages.map((m) => Date.parse(m.timestamp));
  assert(times.every((t, i) => i === 0 || t >= times[i - 1]), "timestamps go back in time");
  assert(Math.abs(times.at(-1) - Date.now()) < 60_000, `last timestamp ${messages.at(-1).timestamp} is not about now`);
  for (const u of [h1, h2, reader]) u.socket.disconnect();
});

// ---- the rate limit ----------------------------------------------------------------------
await test(`rate limit: the 31st attempt (blank ones count) across two sockets and rooms is rate_limited; reset after ${WINDOW_SECS} s`, async () => {
  const session = await login(app.addr, "Spammer");
  const s1 = await userSocket(app, "Spammer", session);
  const s2 = await userSocket(app, "Spammer", session);
  const lobby = await joinOk(s1, "room:lobby");
  const rust = await joinOk(s2, "room:rust");
  const started = Date.now();
  for (let i = 0; i < 30; i++) {
    const j = i % 2 ? rust : lobby;
    const blank = i % 5 === 4;
    const [status, response] = await push(j, "new_message", { body: blank ? " " : `spam ${i}` });
    const want = blank ? ["error", { errors: { body: ["can't be blank"] } }] : ["ok"];
    assert(status === want[0] && (!want[1] || same(response, want[1])), `attempt ${i + 1}: ${status} ${JSON.stringify(response)}`);
  }
  assert(Date.now() - started < WINDOW_SECS * 1000, "30 attempts took longer than the window: the test cannot tell");
  for (const [j, body] of [[lobby, "one too many"], [rust, " "], [lobby, "x".repeat(2000)]]) {
    const [status, response] = await push(j, "new_message", { body });
    assert(status === "error" && same(response, { reason: "rate_limited" }), `over the limit (${body.slice(0, 12)}): ${status} ${JSON.stringify(response)}`);
  }
  // Another user is not limited.
  await send(carolLobby, "not limited");
  await sleep(Math.max(0, started + WINDOW_SECS * 1000 + 300 - Date.now()));
  await send(rust, "a new window");
  s1.socket.disconnect();
  s2.socket.disconnect();
});

// ---- the user channel, game ticks, metrics -----------------------------------------------
await test("user:<id>: only the socket's own user joins; mark_notifications_read -> ok", async () => {
  const own = await joinOk(carol, `user:${carol.user.id}`);
  const [status] = await push(own, "mark_notifications_read", { ids: [1, 2, 3] });
  assert(status === "ok", `mark_notifications_read: ${status}`);
  const theirs = await join(carol, `user:${alice.user.id}`);
  assert(theirs.status === "error" && same(theirs.response, { reason: "unauthorized" }), `user:${alice.user.id}: ${theirs.status} ${JSON.stringify(theirs.response)}`);
});

await test("game:42 gets game_state {game_id: 42, tick} every second, ticks increasing; any game joins", async () => {
  await until(() => payloads(game, "game_state").length >= 2, "two game_state", 5000);
  const states = payloads(game, "game_state");
  for (const s of states) {
    assert(same(Object.keys(s).sort(), ["game_id", "tick"]) && s.game_id === 42 && Number.isInteger(s.tick), `game_state ${JSON.stringify(s)}`);
  }
  assert(states.every((s, i) => i === 0 || s.tick > states[i - 1].tick), `ticks ${states.map((s) => s.tick)}`);
  const seconds = (Date.now() - gameJoinedAt) / 1000;
  assert(states.length <= seconds + 2, `${states.length} game_state in ${seconds.toFixed(1)} s: not one a second`);
  const seven = await joinOk(gamer, "game:7");
  await sleep(1200);
  assert(payloads(seven, "game_state").length === 0, "game:7 got game 42's ticks");
});

await test("GET /metrics: websock_sockets_connected, websock_channel_joined_total, websock_channel_handled_in_total", async () => {
  const names = ["websock_sockets_connected", "websock_channel_joined_total", "websock_channel_handled_in_total"];
  const m0 = await metrics(app.addr);
  for (const name of names) assert(Number.isFinite(m0[name]), `${name} missing: ${JSON.stringify(m0)}`);
  assert(m0.websock_sockets_connected >= 2, `sockets_connected ${m0.websock_sockets_connected} with Gamer and Carol connected`);
  assert(m0.websock_channel_joined_total >= 10, `joined_total ${m0.websock_channel_joined_total} after the joins above`);
  assert(m0.websock_channel_handled_in_total >= 56, `handled_in_total ${m0.websock_channel_handled_in_total} after the messages above`);
  const frank = await userSocket(app, "Frank");
  await until(async () => (await metrics(app.addr)).websock_sockets_connected === m0.websock_sockets_connected + 1, "sockets_connected + 1");
  const lobby = await joinOk(frank, "room:lobby");
  await send(lobby, "counted");
  const m1 = await metrics(app.addr);
  assert(m1.websock_channel_joined_total >= m0.websock_channel_joined_total + 1, `joined_total ${m0.websock_channel_joined_total} -> ${m1.websock_channel_joined_total}`);
  assert(m1.websock_channel_handled_in_total >= m0.websock_channel_handled_in_total + 1, `handled_in_total ${m0.websock_channel_handled_in_total} -> ${m1.websock_channel_handled_in_total}`);
  frank.socket.disconnect();
  await until(async () => (await metrics(app.addr)).websock_sockets_connected === m0.websock_sockets_connected, "sockets_connected back");
});

// ---- restart -----------------------------------------------------------------------------
await test("history survives a restart: SIGKILL, start on the same DATABASE_URL, join -> recent_messages", async () => {
  const rita = await userSocket(app, "Rita");
  const elixir = await joinOk(rita, "room:elixir");
  const sent = [];
  for (const body of ["before the restart 1", "before the restart 2", "before the restart 3"]) sent.push({ id: await send(elixir, body), body });
  disconnectAll();
  app.child.kill("SIGKILL");
  await new Promise((resolve) => (app.child.exitCode !== null || app.child.signalCode !== null ? resolve() : app.child.once("exit", resolve)));
  app = await start(db.url);
  const again = await userSocket(app, "Rita");
  assert(again.user.id === rita.user.id, `Rita's id ${rita.user.id} became ${again.user.id}`);
  const j = await joinOk(again, "room:elixir");
  const { messages } = await nth(j, "recent_messages");
  const tail = messages.slice(-3);
  assert(tail.length === 3, `recent_messages after the restart: ${JSON.stringify(messages)}`);
  tail.forEach((m, i) => checkMessage(m, { ...sent[i], user: rita.user }));
});

disconnectAll();
for (const child of children) child.kill("SIGKILL");
for (const d of databases) rmSync(d.dir, { recursive: true, force: true });
finish();
