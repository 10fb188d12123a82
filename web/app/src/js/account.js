/**
 * The account menu in the top bar: who is signed in, a dialog to change the username (every
 * collaborator sees it change live, seed 000 test 1) and sign out. Other tabs and devices of the
 * same user learn the new name from `user_profile_updated`.
 */
import { errorText, field, h, replace } from "./dom.js";
import { getClient, stopClient } from "./realtime.js";
import { clearSession, loadSession, saveSession } from "./session.js";
import { toast } from "./toast.js";

const renamed = new Set();

/** Calls `fn(userId, username)` when any user's username changes; returns the remover. */
export function onRename(fn) {
  renamed.add(fn);
  return () => renamed.delete(fn);
}

function announceRename(userId, username) {
  for (const fn of [...renamed]) fn(userId, username);
}

/** Mounts the menu into `slot`. */
export function mountAccount(slot) {
  const client = getClient();
  const session = loadSession();
  const name = h("span", { class: "account-name" }, `@${session.user.username}`);
  const { field: usernameField, input } = field("New username", {
    name: "username",
    required: true,
    minlength: 3,
    maxlength: 32,
    autocomplete: "off",
    spellcheck: "false",
  });
  const error = h("p", { class: "error", "aria-live": "polite" });
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "account-title" },
    h("form", { method: "dialog", onsubmit: save },
      h("h2", { id: "account-title" }, "Account"),
      usernameField, error,
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary" }, "Save username"),
        h("button", { type: "button", onclick: () => dialog.close() }, "Close")),
      h("hr"),
      h("button", { type: "button", class: "danger", onclick: signOut }, "Sign out")));
  const open = h("button", { type: "button", class: "account-button", "aria-haspopup": "dialog", onclick: () => {
    input.value = loadSession().user.username;
    error.textContent = "";
    dialog.showModal();
    input.select();
  } }, h("span", { class: "visually-hidden" }, "Account "), name);
  replace(slot, open, dialog);

  client.on("user_profile_updated", ({ user_id, username }) => {
    const current = loadSession();
    if (current && user_id === current.user.id) setOwnName(username);
    announceRename(user_id, username);
  });

  function setOwnName(username) {
    const current = loadSession();
    if (!current) return;
    saveSession({ ...current, user: { ...current.user, username } });
    name.textContent = `@${username}`;
  }

  async function save(event) {
    event.preventDefault();
    const username = input.value.trim();
    try {
      const user = await client.rest.users.setUsername(loadSession().user.id, username);
      setOwnName(user.username);
      announceRename(user.id, user.username);
      dialog.close();
      toast(`You are now @${user.username}`);
    } catch (e) {
      error.textContent = e.status === 409 ? "That username is taken." : errorText(e);
    }
  }

  function signOut() {
    stopClient();
    clearSession();
    location.assign("/");
  }
}
