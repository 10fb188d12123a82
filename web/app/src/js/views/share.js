/**
 * Bringing people into a thread: invite by username (a search, `POST /threads/{id}/invites`) and
 * a share link (`POST /threads/{id}/invite-link`; absolute when the server has `--public-url`,
 * made absolute with this page's origin otherwise) with a copy button.
 */
import { errorText, h } from "../dom.js";
import { getClient } from "../realtime.js";
import { toast } from "../toast.js";
import { userPicker } from "../user-picker.js";

/**
 * @param {any} thread the REST thread (its members and invites are not offered again)
 * @param {() => void} onInvited called after an invitation was added to `thread.invites`
 */
export function shareSection(thread, onInvited) {
  const client = getClient();
  const picker = userPicker({
    label: "Invite by username",
    verb: "Invite",
    exclude: (user) => thread.users.some((u) => u.id === user.id) || (thread.invites ?? []).some((i) => i.user_id === user.id),
    onPick: async (user) => {
      const invite = await client.rest.threads.invite(thread.id, user.id);
      thread.invites = [...(thread.invites ?? []), invite];
      onInvited();
      toast(`Invited ${user.username}`);
    },
  });

  const linkInput = h("input", { type: "text", readonly: true, id: "share-link", class: "share-link" });
  const linkRow = h("div", { class: "field", hidden: true },
    h("label", { for: "share-link" }, "Share link"), h("div", { class: "row" }, linkInput,
      h("button", { type: "button", onclick: copy }, "Copy link")));
  const create = h("button", { type: "button", onclick: makeLink }, "Create share link");

  async function makeLink() {
    try {
      const { url } = await client.rest.threads.inviteLink(thread.id);
      linkInput.value = new URL(url, location.origin).href;
      linkRow.hidden = false;
      linkInput.select();
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(linkInput.value);
      toast("Link copied");
    } catch {
      linkInput.select();
      toast("Select the link and copy it");
    }
  }

  return h("details", { class: "card share" },
    h("summary", {}, "Invite people"),
    picker,
    h("div", { class: "share-link-box" }, h("p", { class: "hint" }, "Anyone with the link can join."), create, linkRow));
}
