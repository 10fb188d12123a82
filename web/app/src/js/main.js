/**
 * Entry point: restores the session (or asks for a username first), starts the SDK client and
 * the router, and mounts one view at a time into `<main>`. A view that failed to load (the
 * server was unreachable) is mounted again at the next resync.
 */
import { mountAccount } from "./account.js";
import { onResync, startClient } from "./realtime.js";
import { scope, startRouter } from "./router.js";
import { loadSession } from "./session.js";
import * as canvas from "./views/canvas.js";
import * as canvases from "./views/canvases.js";
import * as draft from "./views/draft.js";
import * as drafts from "./views/drafts.js";
import * as home from "./views/home.js";
import * as join from "./views/join.js";
import * as library from "./views/library.js";
import * as notfound from "./views/notfound.js";
import { mountSignUp } from "./views/signup.js";
import * as thread from "./views/thread.js";

/** View modules by route name; each exports `mount(main, params, scope)`. All are loaded up
 * front (they are small): a view opened while the network is down must still render. */
const VIEWS = { home, thread, drafts, draft, canvases, canvas, join, library, notfound };

const main = document.getElementById("main");
let current = scope();
let generation = 0;

/** Unmounts the current view and mounts the one for `route`. */
async function show(route) {
  current.dispose();
  const mine = scope();
  current = mine;
  const turn = ++generation;
  main.replaceChildren();
  try {
    await VIEWS[route.view].mount(main, route.params, mine);
  } catch (error) {
    if (turn !== generation) return;
    console.error(error);
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = `Could not load this page (${error.message ?? error}); it reloads when the connection is back.`;
    main.replaceChildren(message);
    mine.add(onResync(() => turn === generation && show(route)));
  }
  document.querySelectorAll(".mainnav a").forEach((link) => {
    const here = link.getAttribute("href") === location.pathname;
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

/** Starts the signed-in app. */
function startApp() {
  startClient();
  document.querySelector(".mainnav").hidden = false;
  mountAccount(document.getElementById("account"));
  startRouter(show);
}

if (loadSession()) {
  startApp();
} else {
  mountSignUp(main, { joining: location.pathname.startsWith("/join/"), onDone: startApp });
}
