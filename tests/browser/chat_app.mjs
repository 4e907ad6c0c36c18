// examples/chat_app's page (`GET /`) in headless Chromium, driven through chromedriver with plain
// WebDriver HTTP calls: Alice and Bob log in by name in two tabs, join room:lobby, see each
// other online, exchange messages both ways, Alice sees "Bob is typing…", Bob's status change
// shows in Alice's online list, Alice's reload shows the history, and after the app restarts
// both pages reconnect, rejoin and chat on. The page keeps its
// session in localStorage, so the two tabs use two origins (127.0.0.1 and localhost) to be two
// users. Saves a screenshot to target/screenshots/chat_app.png.
// Usage: node tests/browser/chat_app.mjs <chat_app binary> [chromium] [chromedriver]
// Prints `N passed, M failed`; exits non-zero on any failure.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { checks, sleep, startBinary } from "../js/harness.mjs";
import { startBrowser } from "./webdriver.mjs";

const [binary, chromium = "/usr/bin/chromium", chromedriver = "/usr/bin/chromedriver"] = process.argv.slice(2);
const children = [];
// No timeout per check: each WebDriver call has its own, and the whole run has one.
const { test, finish } = checks({ timeoutMs: 0 });
const tempDir = mkdtempSync(path.join(os.tmpdir(), "websock-chat-app-browser-"));
const userDataDir = path.join(tempDir, "chromium");

// ---- the page ----------------------------------------------------------------------------
const ready = `return document.body.classList.contains("signed-in")
  && document.getElementById("connection-status").textContent === "Connected"
  && !document.getElementById("message-input").disabled`;
const onlineIs = (names) =>
  `return JSON.stringify([...document.querySelectorAll("#user-list .user-item .name")].map(e => e.textContent).sort()) === ${JSON.stringify(JSON.stringify(names))}`;
// The messages shown, as "name: body".
const messagesAre = (lines) =>
  `return JSON.stringify([...document.querySelectorAll("#messages .message")].map(m =>
     m.querySelector(".user-name").textContent + ": " + m.querySelector(".message-body").textContent)) === ${JSON.stringify(JSON.stringify(lines))}`;
const hasMessage = (line) =>
  `return [...document.querySelectorAll("#messages .message")].some(m =>
     m.querySelector(".user-name").textContent + ": " + m.querySelector(".message-body").textContent === ${JSON.stringify(line)})`;
const statusOf = (name) =>
  `const item = [...document.querySelectorAll("#user-list .user-item")].find(i => i.querySelector(".name").textContent === ${JSON.stringify(name)});
   return item ? item.querySelector(".status").textContent : null`;

async function logIn(origin, name) {
  await navigate(`${origin}/`);
  await type("#login-name", name);
  await click("#login-button");
  await untilPage(ready, `${name} logged in, connected, in the lobby`);
}

// ---- the test ----------------------------------------------------------------------------
const overall = setTimeout(() => { console.log("FAIL the browser test took over 90 s"); cleanup(); process.exit(1); }, 90000);
function cleanup() {
  for (const child of children) child.kill("SIGKILL");
  rmSync(tempDir, { recursive: true, force: true });
}

// The app, restarted on the same address by the last test.
const appEnv = { DATABASE_URL: `sqlite://${path.join(tempDir, "chat.db")}`, REDIS_URL: "", RATE_LIMIT_WINDOW_SECS: "60" };
let { child, addr } = await startBinary(binary, { env: appEnv });
children.push(child);
const port = addr.split(":")[1];
const aliceOrigin = `http://127.0.0.1:${port}`;
const bobOrigin = `http://localhost:${port}`;
const { navigate, run, click, type, currentTab, newTab, switchTo, screenshot, untilPage, quit } = await startBrowser({
  chromium,
  chromedriver,
  userDataDir,
  // Bob's tab is in the background while Alice's is checked: keep its timers and sockets lively.
  args: ["--disable-background-timer-throttling", "--disable-renderer-backgrounding"],
  children,
});
let aliceTab, bobTab;

await test("Alice and Bob log in by name in two tabs, join the lobby and see each other online", async () => {
  aliceTab = await currentTab();
  await logIn(aliceOrigin, "Alice");
  bobTab = await newTab();
  await switchTo(bobTab);
  await logIn(bobOrigin, "Bob");
  await untilPage(onlineIs(["Alice", "Bob"]), "Bob's online list: Alice, Bob");
  await switchTo(aliceTab);
  await untilPage(onlineIs(["Alice", "Bob"]), "Alice's online list: Alice, Bob");
});

await test("Bob types: Alice sees him typing; he sends, Alice sees the message and the indicator goes", async () => {
  await switchTo(bobTab);
  await type("#message-input", "hello Alice");
  await switchTo(aliceTab);
  await untilPage(`return document.getElementById("typing-indicators").textContent.includes("typing")`, "the typing indicator in Alice's tab", 3000);
  await switchTo(bobTab);
  await click("#send-button");
  await untilPage(hasMessage("Bob: hello Alice"), "Bob's own message in his tab");
  await untilPage(`return document.getElementById("message-input").value === ""`, "Bob's input cleared");
  await switchTo(aliceTab);
  await untilPage(hasMessage("Bob: hello Alice"), "Bob's message in Alice's tab");
  await untilPage(`return document.getElementById("typing-indicators").textContent === ""`, "the indicator gone in Alice's tab");
});

await test("Alice answers: Bob sees her message", async () => {
  await type("#message-input", "hi Bob");
  await click("#send-button");
  await untilPage(hasMessage("Alice: hi Bob"), "Alice's own message");
  await switchTo(bobTab);
  await untilPage(messagesAre(["Bob: hello Alice", "Alice: hi Bob"]), "both messages in Bob's tab, in order");
});

await test("Bob sets his status to away: Alice's online list shows it", async () => {
  await click('#status-select option[value="away"]');
  await switchTo(aliceTab);
  await untilPage(`return (() => { ${statusOf("Bob")} })() === "away"`, "Bob away in Alice's online list");
  await untilPage(`return (() => { ${statusOf("Alice")} })() === "online"`, "Alice still online");
});

await test("Alice reloads: the history shows both messages, Bob still online and away", async () => {
  await run("location.reload()");
  await sleep(300);
  await untilPage(ready, "Alice back after the reload");
  await untilPage(messagesAre(["Bob: hello Alice", "Alice: hi Bob"]), "the history after the reload");
  await untilPage(onlineIs(["Alice", "Bob"]), "Alice's online list after the reload");
  await untilPage(`return (() => { ${statusOf("Bob")} })() === "away"`, "Bob still away after the reload");
  mkdirSync("target/screenshots", { recursive: true });
  writeFileSync("target/screenshots/chat_app.png", await screenshot());
  console.log("     screenshot: target/screenshots/chat_app.png");
});

await test("the app restarts: the connection status drops, both pages reconnect, rejoin and chat on", async () => {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  await untilPage(`return document.getElementById("connection-status").textContent !== "Connected"`, "Alice's page to notice");
  ({ child } = await startBinary(binary, { addr, env: appEnv }));
  children.push(child);
  await untilPage(ready, "Alice reconnected and rejoined", 15000);
  await switchTo(bobTab);
  await untilPage(ready, "Bob reconnected and rejoined", 15000);
  await untilPage(messagesAre(["Bob: hello Alice", "Alice: hi Bob"]), "Bob's history after the rejoin (not doubled)");
  await type("#message-input", "still here");
  await click("#send-button");
  await switchTo(aliceTab);
  await untilPage(hasMessage("Bob: still here"), "Bob's message after the restart in Alice's tab");
});

await quit();
clearTimeout(overall);
cleanup();
finish();
