// The chat page (examples/chat.rs at `/`) in headless Chromium, driven through chromedriver
// with plain WebDriver HTTP calls: two tabs as two users in room:lobby, a message sent in one
// appears in the other, both are in the online list, closing a tab makes its user leave.
// Saves a screenshot to target/screenshots/chat.png.
// With WEBSOCK_TLS_CERT and WEBSOCK_TLS_KEY (passed on to the chat server) and CHAT_TLS_SPKI
// (the certificate's SPKI hash, for --ignore-certificate-errors-spki-list) the page is served
// over https, where Chromium fetches it over HTTP/2 and opens the wss socket on that
// connection (RFC 8441): `GET /metrics` must then count the WebSocket under HTTP/2.
// Usage: node tests/browser/chat.mjs <chat binary> [chromium] [chromedriver]
// Prints `N passed, M failed`; exits non-zero on any failure.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { checks, startBinary } from "../js/harness.mjs";
import { startBrowser } from "./webdriver.mjs";

const [binary, chromium = "/usr/bin/chromium", chromedriver = "/usr/bin/chromedriver"] = process.argv.slice(2);
const children = [];
// No timeout per check: each WebDriver call has its own, and the whole run has one.
const { test, finish } = checks({ timeoutMs: 0 });

const spki = process.env.CHAT_TLS_SPKI;
const tls = Boolean(spki && process.env.WEBSOCK_TLS_CERT);
async function startChat() {
  const { child, addr } = await startBinary(binary, { env: { REDIS_URL: "" } });
  children.push(child);
  // The certificate names localhost.
  return tls ? addr.replace("127.0.0.1", "localhost") : addr;
}
const origin = (addr) => `${tls ? "https" : "http"}://${addr}`;

// `GET /metrics` over https, trusting the test certificate; name -> value.
function metricsOverTls(addr) {
  return new Promise((resolve, reject) => {
    const ca = readFileSync(process.env.WEBSOCK_TLS_CERT);
    https.get(`https://${addr}/metrics`, { ca }, (response) => {
      let text = "";
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => resolve(Object.fromEntries(text.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]))));
    }).on("error", reject);
  });
}

const userDataDir = mkdtempSync(path.join(os.tmpdir(), "websock-chromium-"));
const onlineIs = (names) =>
  `return JSON.stringify([...document.querySelectorAll('#online li')].map(li => li.dataset.user).sort()) === ${JSON.stringify(JSON.stringify(names))}`;

// ---- the test ----------------------------------------------------------------------------
const overall = setTimeout(() => { console.log("FAIL the browser test took over 120 s"); cleanup(); process.exit(1); }, 120000);
function cleanup() {
  for (const child of children) child.kill("SIGKILL");
  rmSync(userDataDir, { recursive: true, force: true });
}

const addr = await startChat();
const { navigate, run, click, type, currentTab, newTab, switchTo, closeTab, screenshot, untilPage, quit } = await startBrowser({
  chromium,
  chromedriver,
  userDataDir,
  args: tls ? [`--ignore-certificate-errors-spki-list=${spki}`] : [],
  children,
});
let aliceTab, bobTab;

await test("two tabs join room:lobby as alice and bob and both are online", async () => {
  aliceTab = await currentTab();
  await navigate(`${origin(addr)}/?name=alice`);
  await click('#rooms li[data-room="lobby"]');
  await untilPage("return document.body.dataset.joined === 'lobby'", "alice to join");
  bobTab = await newTab();
  await switchTo(bobTab);
  await navigate(`${origin(addr)}/?name=bob`);
  await click('#rooms li[data-room="lobby"]');
  await untilPage("return document.body.dataset.joined === 'lobby'", "bob to join");
  await untilPage(onlineIs(["alice", "bob"]), "bob's online list: alice, bob");
  await switchTo(aliceTab);
  await untilPage(onlineIs(["alice", "bob"]), "alice's online list: alice, bob");
});

// CHAT_TRANSPORTS=longpoll (passed on to the chat server): the page must use LongPoll only.
const transport = process.env.CHAT_TRANSPORTS === "longpoll" ? "longpoll" : "websocket";
await test(`the page is connected over ${transport}`, async () => {
  await untilPage(`return document.body.dataset.transport === '${transport}'`, `the ${transport} transport`);
});

if (tls) {
  await test("over https the page came over HTTP/2 and so did its WebSockets (RFC 8441)", async () => {
    await untilPage("return performance.getEntriesByType('navigation')[0].nextHopProtocol === 'h2'", "the page over h2");
    const metrics = await metricsOverTls(addr);
    if (!(metrics.websock_http2_upgrades >= 2)) throw new Error(`metrics: ${JSON.stringify(metrics)}`);
  });
}

// CHAT_DEFLATE=1 (passed on to the chat server): the WebSocket negotiates permessage-deflate;
// without it, Chromium's offer is declined.
if (transport === "websocket") {
  const deflate = process.env.CHAT_DEFLATE === "1";
  await test(`the WebSocket's extensions ${deflate ? "include" : "lack"} permessage-deflate`, async () => {
    await untilPage(
      `return (document.body.dataset.extensions ?? "missing").includes("permessage-deflate") === ${deflate}`
        + ` && document.body.dataset.extensions !== undefined`,
      `ws.extensions ${deflate ? "with" : "without"} permessage-deflate`,
    );
  });
}

await test("a message typed in bob's tab appears in alice's", async () => {
  await switchTo(bobTab);
  await type("#message", "hello alice");
  await click("#send");
  await switchTo(aliceTab);
  await untilPage(
    "return [...document.querySelectorAll('#messages .msg')].some(d => d.textContent === 'bob: hello alice')",
    "bob's message in alice's tab",
  );
  await type("#message", "hi bob");
  await click("#send");
  await untilPage(
    "return [...document.querySelectorAll('#messages .msg')].some(d => d.textContent === 'alice: hi bob')",
    "alice's own message",
  );
  mkdirSync("target/screenshots", { recursive: true });
  const shot = transport === "longpoll" ? "target/screenshots/chat-longpoll.png"
    : tls ? "target/screenshots/chat-https.png" : "target/screenshots/chat.png";
  writeFileSync(shot, await screenshot());
  console.log(`     screenshot: ${shot}`);
});

await test("closing bob's tab makes bob leave alice's online list", async () => {
  await switchTo(bobTab);
  await closeTab();
  await switchTo(aliceTab);
  // Over LongPoll a closed tab just stops polling: its session ends 1.5 to 3 windows later.
  const leaveMs = transport === "longpoll" ? 45000 : 10000;
  await untilPage(onlineIs(["alice"]), "alice's online list: alice only", leaveMs);
  await untilPage(
    "return [...document.querySelectorAll('#messages .system')].some(d => d.textContent === 'bob left')",
    "'bob left' in alice's tab",
  );
});

await quit();
clearTimeout(overall);
cleanup();
finish();
