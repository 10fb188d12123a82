/**
 * A thread's messages, oldest at the top: the snapshot rendered readably (its `text`, JSON
 * otherwise), author and time, "Load earlier messages" for the history, and Edit / Delete on
 * one's own messages (`PATCH` / `DELETE /api/v1/threads/{id}/messages/{mid}`). Live changes
 * come in through `upsert` and `remove`.
 */
import { errorText, h, renderSnapshot, replace, snapshotText, timeEl } from "../dom.js";
import { getClient } from "../realtime.js";
import { toast } from "../toast.js";

const PAGE = 50;

/**
 * @param {string} threadId
 * @param {string} me the signed-in user's id
 * @param {(userId: string) => string} nameOf the username to show for an author
 */
export function messageList(threadId, me, nameOf) {
  const client = getClient();
  /** @type {Map<string, any>} id → message, in no particular order */
  const messages = new Map();
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const more = h("button", { type: "button", class: "link-button", hidden: true, onclick: loadEarlier }, "Load earlier messages");
  const element = h("div", { class: "message-pane" }, more, list);
  let editing = null;

  function sorted() {
    return [...messages.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1));
  }

  function render() {
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    replace(list, sorted().map(item));
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  function item(message) {
    const own = message.user_id === me;
    const head = h("div", { class: "message-head" },
      h("strong", { class: "author" }, nameOf(message.user_id) ?? "someone"), " ", timeEl(message.created_at),
      message.updated_at ? h("span", { class: "muted" }, " (edited)") : null);
    if (editing === message.id) return h("li", { class: "message own" }, head, editor(message));
    const actions = own ? h("div", { class: "message-actions" },
      snapshotText(message.snapshot) !== null
        ? h("button", { type: "button", class: "link-button", "aria-label": "Edit message", onclick: () => startEdit(message.id) }, "Edit")
        : null,
      h("button", { type: "button", class: "link-button", "aria-label": "Delete message", onclick: () => remove(message) }, "Delete")) : null;
    return h("li", { class: own ? "message own" : "message", dataset: { id: message.id } }, head, renderSnapshot(message.snapshot), actions);
  }

  function editor(message) {
    const input = h("textarea", { "aria-label": "Edited text", rows: 2, maxlength: 4000 });
    input.value = snapshotText(message.snapshot) ?? "";
    queueMicrotask(() => input.focus());
    return h("form", { class: "edit-form", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const snapshot = typeof message.snapshot === "string" ? input.value : { ...message.snapshot, text: input.value };
        upsert(await client.rest.threads.updateMessage(threadId, message.id, snapshot));
        editing = null;
        render();
      } catch (e) {
        toast(errorText(e), "error");
      }
    }, onkeydown: (event) => {
      if (event.key === "Escape") (editing = null), render();
    } }, input, h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", onclick: () => ((editing = null), render()) }, "Cancel")));
  }

  function startEdit(id) {
    editing = id;
    render();
  }

  async function remove(message) {
    try {
      await client.rest.threads.deleteMessage(threadId, message.id);
      messages.delete(message.id);
      render();
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  async function load() {
    const { messages: page } = await client.rest.threads.messages(threadId, { limit: PAGE });
    messages.clear();
    for (const message of page) messages.set(message.id, message);
    more.hidden = page.length < PAGE;
    render();
    list.scrollTop = list.scrollHeight;
  }

  async function loadEarlier() {
    const oldest = sorted()[0];
    if (!oldest) return;
    try {
      const { messages: page } = await client.rest.threads.messages(threadId, { before: oldest.id, limit: PAGE });
      for (const message of page) messages.set(message.id, message);
      more.hidden = page.length < PAGE;
      render();
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  /** Adds or replaces a message (`message_created`, `message_updated`, a POST answer). */
  function upsert(message) {
    const previous = messages.get(message.id);
    messages.set(message.id, { ...previous, ...message, created_at: message.created_at ?? previous?.created_at ?? new Date(message.timestamp ?? Date.now()).toISOString() });
    render();
  }

  return {
    element,
    load,
    upsert,
    render,
    remove: (id) => messages.delete(id) && render(),
    newest: () => sorted().at(-1),
  };
}
