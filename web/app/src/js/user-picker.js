/**
 * Find a user by username and act on them: a search box (`GET /api/v1/users/search?q=`,
 * debounced) and one button per match ("Invite alice", "Add alice", ...). Used to invite to a
 * thread, add draft collaborators and canvas members, and follow users.
 */
import { errorText, field, h, replace } from "./dom.js";
import { getClient } from "./realtime.js";
import { loadSession } from "./session.js";

const DEBOUNCE_MS = 200;

/**
 * @param {object} options
 * @param {string} options.label the search box's label ("Invite by username")
 * @param {string} options.verb the buttons' verb ("Invite" → "Invite alice")
 * @param {(user: {id: string, username: string}) => Promise<void>} options.onPick
 * @param {(user: {id: string}) => boolean} [options.exclude] users not to offer (members already)
 * @returns {HTMLElement}
 */
export function userPicker({ label, verb, onPick, exclude = () => false }) {
  const client = getClient();
  const { field: searchField, input } = field(label, { type: "search", autocomplete: "off", spellcheck: "false" });
  const results = h("ul", { class: "picker-results", "aria-label": `${label}: matches` });
  const note = h("p", { class: "hint", "aria-live": "polite" });
  let timer = 0;
  let asked = "";

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      results.querySelector("button")?.click();
    }
  });

  async function search() {
    const q = input.value.trim();
    asked = q;
    if (!q) return replace(results), (note.textContent = "");
    try {
      const { users } = await client.rest.get(`/api/v1/users/search?q=${encodeURIComponent(q)}`);
      if (asked !== q) return;
      const me = loadSession()?.user.id;
      const offered = users.filter((user) => user.id !== me && !exclude(user));
      note.textContent = offered.length ? "" : `No user found starting with "${q}".`;
      replace(results, offered.map((user) => h("li", {},
        h("button", { type: "button", onclick: (event) => pick(user, event.currentTarget) }, `${verb} ${user.username}`))));
    } catch (e) {
      note.textContent = e.code === "validation_failed" ? "Usernames have only letters, digits, _ . and -" : errorText(e);
    }
  }

  async function pick(user, button) {
    button.disabled = true;
    try {
      await onPick(user);
      input.value = "";
      replace(results);
      note.textContent = `${verb}: ${user.username}, done.`;
    } catch (e) {
      note.textContent = errorText(e);
      button.disabled = false;
    }
  }

  return h("div", { class: "picker" }, searchField, note, results);
}
