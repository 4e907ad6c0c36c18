// What the chat_app suites (tests/js/chat_app.mjs, tests/js/chat_app_redis.mjs) share: the app
// started with a temporary SQLite database, `POST /api/login`, phoenix.js sockets that record
// every frame they receive in order, joins, raw handshakes (for the 403s), tokens re-signed
// with the app's key (for the expired ones) and `GET /metrics` read as numbers.
import crypto from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Presence } from "phoenix";
import WebSocket from "ws";
import { assert, startBinary, until } from "./harness.mjs";
import { connect, receive } from "./phoenix_client.mjs";

// The key the suites start the app with (SECRET_KEY_BASE), so that they can sign tokens too.
export const SECRET = "chat-app-test-secret-0123456789abcdef0123456789abcdef0123456789ab";
// The salt the app signs its socket tokens with (examples/chat_app, see its docs).
export const TOKEN_SALT = process.env.CHAT_APP_TOKEN_SALT ?? "user socket";
export const WINDOW_SECS = 3;
export const DAY_MS = 86_400_000;

// A fresh `sqlite:///tmp/.../chat.db` URL (three slashes: an absolute path).
export function tempDatabase() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "websock-chat-app-"));
  return { dir, url: `sqlite://${path.join(dir, "chat.db")}` };
}

// Starts the chat_app binary on 127.0.0.1:0: { child, addr, url }; its log is kept in `child.log`.
export async function startApp(binary, { database, env = {}, cwd }) {
  const { child, addr } = await startBinary(binary, {
    cwd,
    keepLog: true,
    env: {
      DATABASE_URL: database,
      RATE_LIMIT_WINDOW_SECS: String(WINDOW_SECS),
      SECRET_KEY_BASE: SECRET,
      REDIS_URL: "",
      ...env,
    },
  });
  return { child, addr, url: `ws://${addr}/socket` };
}

// `POST /api/login` with `body` (a string is sent as is): { status, json, text }.
export async function postLogin(addr, body) {
  const response = await fetch(`http://${addr}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, json, text };
}

// Logs `name` in: { token, user: { id, name } }.
export async function login(addr, name) {
  const { status, json, text } = await postLogin(addr, { name });
  assert(status === 200, `login ${name}: ${status} ${text}`);
  return json;
}

// A phoenix.js socket of `name` (logged in on `app`, or with `session` from an earlier login):
// { socket, log, user, token }; `log` holds every frame received, in arrival order.
export async function userSocket(app, name, session) {
  const { token, user } = session ?? (await login(app.addr, name));
  const socket = connect(app.url, { params: { token } });
  const log = [];
  socket.onMessage((m) => log.push(m));
  await until(() => socket.isConnected(), `${name}'s socket to open`);
  return { socket, log, user, token, name };
}

// Joins `topic` on `u`'s socket: { ch, status, response, from } where `from` is where this
// join's frames start in `u.log`. An error leaves the channel (phoenix.js would rejoin forever).
export async function join(u, topic, params = {}) {
  const ch = u.socket.channel(topic, params);
  const from = u.log.length;
  const [status, response] = await receive(ch.join());
  if (status !== "ok") ch.leave();
  return { u, ch, topic, status, response, from };
}

// Joins and requires ok.
export async function joinOk(u, topic) {
  const j = await join(u, topic);
  assert(j.status === "ok", `${u.name} joins ${topic}: ${j.status} ${JSON.stringify(j.response)}`);
  return j;
}

// The frames `u` received on `j`'s topic since that join (optionally one event only).
export function frames(j, event) {
  return j.u.log.slice(j.from).filter((m) => m.topic === j.topic && (!event || m.event === event));
}
export const payloads = (j, event) => frames(j, event).map((m) => m.payload);

// The presence list `u` holds for `j`'s topic as phoenix.js builds it: its presence_state, then
// the presence_diffs, in order (user id -> {metas}).
export function presenceOf(j) {
  let state = {};
  for (const m of frames(j)) {
    if (m.event === "presence_state") state = Presence.syncState(state, m.payload);
    if (m.event === "presence_diff") state = Presence.syncDiff(state, m.payload);
  }
  return state;
}

// Waits for the `n`th (1-based) `event` on `j` and returns its payload.
export async function nth(j, event, n = 1, ms = 5000) {
  await until(() => frames(j, event).length >= n, `${j.u.name}: ${event} #${n} on ${j.topic}`, ms);
  return frames(j, event)[n - 1].payload;
}

// [status, response] of a push.
export const push = (j, event, payload) => receive(j.ch.push(event, payload));

// Sends a message and requires ok {id}: the id.
export async function send(j, body) {
  const [status, response] = await push(j, "new_message", { body });
  assert(status === "ok" && Number.isInteger(response?.id), `${j.u.name} sends ${JSON.stringify(body)}: ${status} ${JSON.stringify(response)}`);
  return response.id;
}

// The WebSocket handshake of /socket/websocket with `params`: 101, or the refusal's HTTP status.
export function handshake(addr, params) {
  const query = new URLSearchParams({ ...params, vsn: "2.0.0" });
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${addr}/socket/websocket?${query}`);
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("unexpected-response", (request, response) => {
      resolve(response.statusCode);
      request.destroy();
    });
    ws.on("error", (e) => resolve(`error: ${e.message}`));
  });
}

// `token`'s data signed again at `signedAtMs` with SECRET and TOKEN_SALT, as the app's token
// module signs (websock-channels/src/token.rs): `SFMyNTY.<[data, ms]>.<HMAC(HMAC(secret, salt), ..)>`.
export function resign(token, signedAtMs) {
  const [prefix, payload] = token.split(".");
  const [data] = JSON.parse(Buffer.from(payload, "base64url").toString());
  const key = crypto.createHmac("sha256", SECRET).update(TOKEN_SALT).digest();
  const signed = `${prefix}.${Buffer.from(JSON.stringify([data, signedAtMs])).toString("base64url")}`;
  return `${signed}.${crypto.createHmac("sha256", key).update(signed).digest("base64url")}`;
}

// `GET /metrics` (Prometheus text): metric name -> the sum of its series.
export async function metrics(addr) {
  const response = await fetch(`http://${addr}/metrics`);
  assert(response.status === 200, `GET /metrics: ${response.status}`);
  const sums = {};
  for (const line of (await response.text()).split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[3]);
  }
  return sums;
}

// Deep equality of JSON values, whatever the order of object keys.
const canonical = (v) =>
  Array.isArray(v) ? v.map(canonical)
    : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
    : v;
export const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

// ISO 8601 date and time (UTC `Z` or an offset), and a date JavaScript reads.
export const isIso8601 = (t) =>
  typeof t === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(t) && !Number.isNaN(Date.parse(t));

// `{id, name}` of `user`, nothing more (in any key order).
export const isUser = (got, user) =>
  got && same(Object.keys(got).sort(), ["id", "name"]) && got.id === user.id && got.name === user.name;

// A message exactly as the contract has it: {id, body, user: {id, name}, timestamp}.
export function checkMessage(m, { id, body, user }) {
  assert(same(Object.keys(m).sort(), ["body", "id", "timestamp", "user"]), `message keys: ${JSON.stringify(m)}`);
  assert(id === undefined || m.id === id, `message id ${m.id}, not ${id}`);
  assert(m.body === body, `message body ${JSON.stringify(m.body)}, not ${JSON.stringify(body)}`);
  assert(isUser(m.user, user), `message user ${JSON.stringify(m.user)}, not ${JSON.stringify(user)}`);
  assert(isIso8601(m.timestamp), `timestamp ${JSON.stringify(m.timestamp)} is not ISO 8601`);
}
