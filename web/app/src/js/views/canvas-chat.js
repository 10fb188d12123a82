/**
 * A canvas's chat (seed 004, API.md §7: textbox "Chat message", button "Send"): the stored
 * history, live `canvas_chat_message`s (the sender's own included), a 2000-character limit with a
 * counter, and the typing line.
 */
import { errorText, h, replace, timeEl } from "../dom.js";
import { learnName } from "../names.js";
import { getClient } from "../realtime.js";
import { toast } from "../toast.js";
import { typingLine } from "../typing-line.js";

/** Longest chat message (the server's limit). */
export const CHAT_MAX = 2000;

export function canvasChat({ id, room, scope }) {
  const client = getClient();
  const seen = new Set();
  const list = h("ol", { class: "chat", "aria-label": "Chat" });
  const typing = typingLine(room, scope);
  const counter = h("span", { class: "counter", id: "chat-counter" }, `0 / ${CHAT_MAX}`);
  const input = h("textarea", { id: "chat-input", rows: 2, maxlength: CHAT_MAX, "aria-describedby": "chat-counter", autocomplete: "off" });
  const sendButton = h("button", { type: "submit", class: "primary" }, "Send");
  const form = h("form", { class: "composer", onsubmit: send },
    h("div", { class: "field" }, h("label", { for: "chat-input" }, "Chat message"), input),
    h("div", { class: "row spread" }, counter, sendButton));

  input.addEventListener("input", () => {
    counter.textContent = `${input.value.length} / ${CHAT_MAX}`;
    counter.classList.toggle("near-limit", input.value.length > CHAT_MAX - 100);
    typing.keystroke();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function add(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    learnName(message.sender_id, message.sender_username);
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.append(h("li", { class: "chat-message" },
      h("strong", {}, message.sender_username), " ", timeEl(message.created_at),
      h("p", {}, message.message_text)));
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  async function load() {
    try {
      const { messages } = await client.rest.canvases.chat(id, { limit: 50 });
      seen.clear();
      replace(list);
      for (const message of messages) add(message);
      list.scrollTop = list.scrollHeight;
    } catch (e) {
      toast(`Could not load the chat: ${errorText(e)}`, "error");
    }
  }

  async function send(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    sendButton.disabled = true;
    try {
      await client.send({ type: "canvas_chat", room, text });
      input.value = "";
      counter.textContent = `0 / ${CHAT_MAX}`;
      typing.stop();
    } catch (e) {
      toast(`Not sent: ${errorText(e)}`, "error");
    }
    sendButton.disabled = false;
    input.focus();
  }

  scope.add(client.on("canvas_chat_message", (event) => {
    if (event.room !== room && event.canvas_id !== id) return;
    add({ id: event.message_id, sender_id: event.sender_id, sender_username: event.sender_username, message_text: event.message_text, created_at: event.created_at });
  }));

  return {
    element: h("section", { class: "card chat-box", "aria-labelledby": "chat-title" }, h("h2", { id: "chat-title" }, "Chat"), list, typing.element, form),
    load,
  };
}
