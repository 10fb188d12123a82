/**
 * The page's first module: connects right away when a session exists (only the SDK and three
 * small modules stand between the page and the socket), then loads the app itself. The app's
 * ~30 modules are requested once the client is live (or after `HEAD_START_MS` at most): over
 * HTTP/1.1 a browser opens ~6 connections per server, and the connection's own requests must not
 * queue behind them.
 */
import { startClient } from "./realtime.js";
import { loadSession } from "./session.js";

/** The longest the app's modules wait for the connection. */
const HEAD_START_MS = 600;

if (loadSession()) {
  const client = startClient();
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, HEAD_START_MS);
    const stop = client.onStatus((status) => {
      if (status !== "live") return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}
await import("./main.js");
