/**
 * First visit: pick a username (API.md §7: a textbox "Username" and a button "Sign up"). On an
 * invite link the same form comes first, then the app joins the thread (seed 000's
 * UsernameCreationDialog).
 */
import { showStatus } from "../badge.js";
import { errorText, field, h, replace } from "../dom.js";
import { createAccount } from "../session.js";

/**
 * Renders the sign-up form into `main`; `onDone()` runs once the session is stored.
 * @param {HTMLElement} main
 * @param {{ joining: boolean, onDone: () => void }} options
 */
export function mountSignUp(main, { joining, onDone }) {
  showStatus("offline");
  document.getElementById("badge").title = "Not signed in";
  const { field: usernameField, input } = field("Username", {
    name: "username",
    autocomplete: "username",
    required: true,
    minlength: 3,
    maxlength: 32,
    pattern: "[A-Za-z0-9_.\\-]{3,32}",
    spellcheck: "false",
    autocapitalize: "none",
  }, { hint: "3 to 32 letters, digits, _ . or -" });
  const error = h("p", { class: "error", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign up");
  const form = h("form", { class: "card narrow", onsubmit: submit },
    h("h1", {}, joining ? "Pick a username to join" : "Welcome to Tandem"),
    h("p", { class: "muted" }, joining
      ? "You were invited to a thread. Choose the name others will see; you join right after."
      : "Threads, drafts and canvases, live with the people you invite. Choose a username to start."),
    usernameField, error, button);

  async function submit(event) {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await createAccount(input.value.trim());
      onDone();
    } catch (e) {
      error.textContent = e.status === 409 ? "That username is taken, try another." : errorText(e);
      button.disabled = false;
      input.focus();
    }
  }

  replace(main, form);
  input.focus();
}
