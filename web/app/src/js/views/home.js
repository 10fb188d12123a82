/**
 * Home (`/`, `/threads`): pending invitations, a form to start a thread, and the user's threads
 * with their last activity and unread count, kept current by `message_created`,
 * `invitation_accepted` and `participant_left`, and refetched after a reconnect.
 */
import { errorText, field, h, replace, timeEl } from "../dom.js";
import { getClient, onResync } from "../realtime.js";
import { lastRead } from "../reads.js";
import { navigate } from "../router.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";
import { invitationsSection } from "./invitations.js";

/** Messages read per thread to find its last activity and count unread ones. */
const SCAN = 20;

export async function mount(main, _params, scope) {
  const client = getClient();
  /** @type {Map<string, {thread: any, last: number, unread: number, preview: string}>} */
  const rows = new Map();
  const list = h("ul", { class: "list thread-list", "aria-label": "Threads" });
  const empty = h("p", { class: "muted" }, "No threads yet. Start one, or open an invite link someone shared with you.");

  const { field: nameField, input: nameInput } = field("Thread name", { required: true, maxlength: 200, autocomplete: "off" });
  const createForm = h("form", { class: "inline-form", onsubmit: create }, nameField,
    h("button", { type: "submit", class: "primary" }, "Create thread"));

  replace(main,
    h("h1", {}, "Threads"),
    invitationsSection(scope, { onAccepted: (thread) => navigate(`/threads/${thread.id}`) }),
    h("section", { class: "card", "aria-labelledby": "new-thread" }, h("h2", { id: "new-thread" }, "New thread"), createForm),
    h("section", { "aria-labelledby": "your-threads" }, h("h2", { id: "your-threads" }, "Your threads"), empty, list));

  async function create(event) {
    event.preventDefault();
    try {
      const thread = await client.rest.threads.create(nameInput.value.trim());
      navigate(`/threads/${thread.id}`);
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  /** Reads a thread's newest messages: last activity, unread count, a preview. */
  async function scan(thread) {
    const me = loadSession().user.id;
    const { messages } = await client.rest.threads.messages(thread.id, { limit: SCAN });
    const read = lastRead(thread.id);
    const newest = messages[0];
    return {
      thread,
      last: newest ? Date.parse(newest.created_at) : Date.parse(thread.created_at),
      unread: messages.filter((m) => m.user_id !== me && Date.parse(m.created_at) > read).length,
      preview: newest ? previewOf(newest.snapshot) : "",
    };
  }

  async function load() {
    try {
      const { threads } = await client.rest.threads.list();
      const scanned = await Promise.all(threads.map(scan));
      rows.clear();
      for (const row of scanned) rows.set(row.thread.id, row);
      render();
    } catch (e) {
      toast(`Could not load threads: ${errorText(e)}`, "error");
    }
  }

  function render() {
    const sorted = [...rows.values()].sort((a, b) => b.last - a.last);
    empty.hidden = sorted.length > 0;
    replace(list, sorted.map(({ thread, last, unread, preview }) => h("li", { class: unread ? "unread" : "" },
      h("a", { href: `/threads/${thread.id}`, class: "thread-link" },
        h("span", { class: "thread-name" }, thread.name),
        unread ? h("span", { class: "unread-count", "aria-label": `${unread === SCAN ? `${SCAN}+` : unread} unread` },
          unread === SCAN ? `${SCAN}+` : String(unread)) : null),
      h("span", { class: "thread-meta" },
        `${thread.users.length} member${thread.users.length === 1 ? "" : "s"} · `, timeEl(last),
        preview ? h("span", { class: "preview" }, ` · ${preview}`) : null))));
  }

  scope.add(client.on("message_created", (event) => {
    const row = rows.get(event.parent_thread);
    if (!row) return void load();
    row.last = event.timestamp ?? Date.now();
    row.preview = previewOf(event.snapshot);
    if (event.user_id !== loadSession().user.id) row.unread = Math.min(SCAN, row.unread + 1);
    render();
  }));
  for (const type of ["invitation_accepted", "participant_left"]) scope.add(client.on(type, () => load()));
  scope.add(onResync(load));
  await load();
}

function previewOf(snapshot) {
  const text = typeof snapshot === "string" ? snapshot : typeof snapshot?.text === "string" ? snapshot.text : JSON.stringify(snapshot);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
