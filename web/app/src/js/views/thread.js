/**
 * A thread (`/threads/{id}`): participants with live online dots, the messages, a typing line,
 * the composer (API.md §7: textbox "Message", button "Send"), inviting and sharing, leaving.
 * Everything is refetched after a reconnect (seed 000 test 4).
 */
import { onRename } from "../account.js";
import { errorText, field, h, replace } from "../dom.js";
import { getClient, onResync } from "../realtime.js";
import { markRead } from "../reads.js";
import { navigate } from "../router.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";
import { typingLine } from "../typing-line.js";
import { messageList } from "./messages.js";
import { participantsList } from "./participants.js";
import { shareSection } from "./share.js";

export async function mount(main, { id }, scope) {
  const client = getClient();
  const me = loadSession().user.id;
  let thread;
  try {
    thread = await client.rest.threads.get(id);
  } catch (e) {
    replace(main, h("h1", {}, "Thread not found"),
      h("p", {}, e.status === 404 ? "This thread does not exist or you are not a member." : errorText(e)),
      h("p", {}, h("a", { href: "/" }, "Back to your threads")));
    return;
  }

  // The SDK learns this room's position from the snapshot, unless it is already further.
  if (client.cursor(`thread:${id}`) === undefined) client.track(`thread:${id}`, thread.seq);
  const participants = participantsList(thread, me);
  const messages = messageList(id, me, (userId) => participants.nameOf(userId));
  const typing = typingLine(`thread:${id}`, scope);
  const title = h("h1", { class: "thread-title" }, thread.name);
  const { field: messageField, input } = field("Message", { rows: 2, maxlength: 4000, required: true, autocomplete: "off" }, { multiline: true });
  input.addEventListener("input", () => typing.keystroke());
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  const composer = h("form", { class: "composer", onsubmit: send }, messageField, h("button", { type: "submit", class: "primary" }, "Send"));

  replace(main, h("div", { class: "thread-layout" },
    h("div", { class: "thread-main" },
      h("div", { class: "title-row" }, title,
        h("button", { type: "button", class: "danger", onclick: leave }, "Leave thread")),
      messages.element, typing.element, composer),
    h("aside", { class: "thread-side", "aria-labelledby": "participants-title" },
      h("h2", { id: "participants-title" }, "Participants"), participants.element, shareSection(thread, () => participants.render()))));
  participants.render();
  await messages.load();
  read();

  async function send(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    typing.stop();
    try {
      messages.upsert(await client.rest.threads.postMessage(id, { text }));
      read();
    } catch (e) {
      input.value = text;
      toast(`Not sent: ${errorText(e)}`, "error");
    }
  }

  async function leave() {
    try {
      await client.rest.threads.removeUser(id, me);
      navigate("/");
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  function read() {
    const newest = messages.newest();
    if (newest) markRead(id, newest.created_at);
  }

  async function refresh() {
    try {
      const fresh = await client.rest.threads.get(id);
      Object.assign(thread, fresh);
      title.textContent = thread.name;
      participants.render();
      await messages.load();
      read();
    } catch (e) {
      if (e.status === 404) navigate("/");
    }
  }

  const mine = (event) => (event.parent_thread ?? event.thread_id) === id;
  scope.add(client.on("message_created", (event) => {
    if (!mine(event)) return;
    messages.upsert({ id: event.id, user_id: event.user_id, snapshot: event.snapshot, created_at: new Date(event.timestamp ?? Date.now()).toISOString() });
    read();
  }));
  scope.add(client.on("message_updated", (event) => mine(event) && messages.upsert({ id: event.id, user_id: event.user_id, snapshot: event.snapshot, updated_at: event.updated_at ?? new Date().toISOString() })));
  scope.add(client.on("message_deleted", (event) => mine(event) && messages.remove(event.id)));
  scope.add(client.on("user_status_changed", (event) => participants.setOnline(event.user_id, event.is_online)));
  scope.add(client.on("invitation_accepted", (event) => {
    if (!mine(event)) return;
    participants.add(event);
    // The event's `is_online` can predate the newcomer's socket (they may join before it is
    // up, and the server announces a status change only to those who were co-members then):
    // the background refresh of seed 000's pattern 2 reads the current state.
    refresh();
  }));
  scope.add(client.on("participant_left", (event) => {
    if (!mine(event)) return;
    if (event.user_id === me) {
      toast(`You are no longer in ${thread.name}`);
      navigate("/");
    } else participants.remove(event.user_id);
  }));
  scope.add(onRename((userId, username) => {
    participants.rename(userId, username);
    messages.render();
  }));
  scope.add(onResync((room) => (room === null || room === `thread:${id}`) && refresh()));
}
