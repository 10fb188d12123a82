/**
 * An invite link (`/join/{thread}?code=...`, API.md §3): joins the thread with the code and
 * opens it. A visitor without a username picked one first (main.js); already being a member
 * just opens the thread.
 */
import { errorText, h, replace } from "../dom.js";
import { getClient } from "../realtime.js";
import { navigate } from "../router.js";

export async function mount(main, { id, code }) {
  const client = getClient();
  replace(main, h("p", { class: "muted" }, "Joining the thread…"));
  try {
    await client.rest.threads.join(id, code ?? "");
    navigate(`/threads/${id}`, { replace: true });
  } catch (e) {
    if (e.status === 409) return navigate(`/threads/${id}`, { replace: true });
    replace(main, h("h1", {}, "Cannot join"),
      h("p", {}, e.status === 404 ? "This invite link is not valid (any more)." : errorText(e)),
      h("p", {}, h("a", { href: "/" }, "Go to your threads")));
  }
}
