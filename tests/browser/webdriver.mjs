// A WebDriver client of plain HTTP calls for the browser suites: chromedriver started on a free
// loopback port, one headless Chromium session, and the few commands the suites use.
import { spawn } from "node:child_process";
import { freePort, sleep, until } from "../js/harness.mjs";

// Starts `chromedriver` and a headless `chromium` session with `userDataDir` and `args` added;
// `children` collects the processes to kill. Resolves with the session's commands.
export async function startBrowser({ chromium, chromedriver, userDataDir, args = [], children }) {
  let driverUrl;
  async function wd(method, route, body) {
    const response = await fetch(driverUrl + route, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30000),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${method} ${route}: ${JSON.stringify(json.value)}`);
    return json.value;
  }
  // The free port can be taken by someone else before chromedriver binds it: then try another.
  for (let attempt = 1; !driverUrl; attempt++) {
    const port = await freePort();
    const child = spawn(chromedriver, [`--port=${port}`, "--allowed-ips=127.0.0.1"], { stdio: ["ignore", "ignore", "inherit"] });
    children.push(child);
    child.once("error", (e) => { console.log(`FAIL cannot start ${chromedriver}: ${e.message} (run bash scripts/browser.sh)`); process.exit(1); });
    driverUrl = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 300 && !ready && child.exitCode === null; i++) {
      try {
        ready = (await wd("GET", "/status")).ready;
      } catch {}
      if (!ready) await sleep(50);
    }
    // Ready, but from another process on that port if ours has exited.
    ready = ready && child.exitCode === null;
    if (!ready) {
      child.kill("SIGKILL");
      driverUrl = undefined;
      if (attempt === 3) throw new Error("chromedriver did not become ready (3 attempts)");
    }
  }

  const { sessionId } = await wd("POST", "/session", {
    capabilities: {
      alwaysMatch: {
        browserName: "chrome",
        "goog:chromeOptions": {
          binary: chromium,
          args: [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            `--user-data-dir=${userDataDir}`, "--window-size=1100,700", ...args,
          ],
        },
      },
    },
  });
  const s = (route) => `/session/${sessionId}${route}`;
  const run = (script, ...scriptArgs) => wd("POST", s("/execute/sync"), { script, args: scriptArgs });
  async function element(css) {
    return Object.values(await wd("POST", s("/element"), { using: "css selector", value: css }))[0];
  }
  return {
    navigate: (url) => wd("POST", s("/url"), { url }),
    run,
    click: async (css) => wd("POST", s(`/element/${await element(css)}/click`), {}),
    type: async (css, text) => wd("POST", s(`/element/${await element(css)}/value`), { text }),
    currentTab: () => wd("GET", s("/window")),
    newTab: async () => (await wd("POST", s("/window/new"), { type: "tab" })).handle,
    switchTo: (handle) => wd("POST", s("/window"), { handle }),
    closeTab: () => wd("DELETE", s("/window")),
    // PNG bytes of the current tab.
    screenshot: async () => Buffer.from(await wd("GET", s("/screenshot")), "base64"),
    // Waits until `script` returns true in the current tab.
    untilPage: (script, what, ms = 10000) => until(() => run(script), what, ms, 50),
    quit: () => wd("DELETE", s("")).catch(() => {}),
  };
}
