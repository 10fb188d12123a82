/**
 * Pending invitations to threads (seed 000): loaded from `GET /api/v1/users/me/invites`, added
 * again on every `thread_invitation` (so a replayed, already answered one shows nothing), answered with Accept / Decline
 * (`PUT /api/v1/threads/{id}/invites/{me}`).
 */
import { errorText, h, replace, timeEl } from "../dom.js";
import { getClient, onResync } from "../realtime.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";

/**
 * The invitations section. `onAccepted(thread)` runs after an accept.
 * @returns {HTMLElement}
 */
export function invitationsSection(scope, { onAccepted }) {
  const client = getClient();
  const list = h("ul", { class: "list", "aria-label": "Invitations" });
  const section = h("section", { class: "card", "aria-labelledby": "invitations-title", hidden: true },
    h("h2", { id: "invitations-title" }, "Invitations"), list);
  /** @type {Map<string, any>} thread id → invite */
  const invites = new Map();

  function render() {
    section.hidden = invites.size === 0;
    replace(list, [...invites.values()].map((invite) => h("li", { class: "invite" },
      h("div", {}, h("strong", {}, invite.thread_name), " from @", invite.invited_by_username, " · ", timeEl(invite.created_at)),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", "aria-label": `Accept invitation to ${invite.thread_name}`,
          onclick: () => answer(invite, "accept") }, "Accept"),
        h("button", { type: "button", "aria-label": `Decline invitation to ${invite.thread_name}`,
          onclick: () => answer(invite, "decline") }, "Decline")))));
  }

  async function load() {
    try {
      const { invites: pending } = await client.rest.get("/api/v1/users/me/invites");
      invites.clear();
      for (const invite of pending) invites.set(invite.thread_id, invite);
      render();
    } catch (e) {
      toast(`Could not load invitations: ${errorText(e)}`, "error");
    }
  }

  async function answer(invite, action) {
    try {
      const thread = await client.rest.threads.answerInvite(invite.thread_id, loadSession().user.id, action);
      invites.delete(invite.thread_id);
      render();
      if (action === "accept") onAccepted(thread ?? { id: invite.thread_id });
    } catch (e) {
      toast(errorText(e), "error");
      load();
    }
  }

  // The event may be a replay of one already answered: the list is always read back by REST.
  scope.add(client.on("thread_invitation", () => load()));
  scope.add(onResync(load));
  load();
  return section;
}
