/**
 * A thread's participants (seed 000 test 3, API.md §7): a list named "Participants" whose items
 * show the username, an online/offline dot whose accessible name is "online" or "offline", and
 * when offline the last time seen. Kept live by `user_status_changed`, `invitation_accepted`,
 * `participant_left` and username changes.
 */
import { h, replace, timeEl } from "../dom.js";

/**
 * @param {{ users: any[], invites: any[] }} thread the REST thread (its `users` are mutated)
 * @param {string} me the signed-in user's id
 */
export function participantsList(thread, me) {
  const list = h("ul", { class: "participants", "aria-label": "Participants" });
  const invited = h("p", { class: "hint" });
  const element = h("div", {}, list, invited);

  function render() {
    const users = [...thread.users].sort((a, b) => Number(b.is_online) - Number(a.is_online) || a.username.localeCompare(b.username));
    replace(list, users.map((user) => h("li", { class: "participant", dataset: { userId: user.id } },
      h("span", { class: `dot ${user.is_online ? "online" : "offline"}`, role: "img", "aria-label": user.is_online ? "online" : "offline" }),
      h("span", { class: "participant-name" }, user.username, user.id === me ? h("span", { class: "muted" }, " (you)") : null),
      user.is_online ? null : h("span", { class: "last-seen" },
        user.last_online ? ["last seen ", timeEl(user.last_online)] : "not seen online yet"))));
    const pending = thread.invites ?? [];
    invited.textContent = pending.length ? `Invited: ${pending.map((i) => i.username).join(", ")}` : "";
  }

  return {
    element,
    render,
    /** `user_status_changed`. */
    setOnline(userId, isOnline) {
      const user = thread.users.find((u) => u.id === userId);
      if (!user) return;
      user.is_online = isOnline;
      if (!isOnline) user.last_online = new Date().toISOString();
      render();
    },
    /** `invitation_accepted` (or a join by link). */
    add({ user_id, user_name, is_online }) {
      thread.invites = (thread.invites ?? []).filter((i) => i.user_id !== user_id);
      if (!thread.users.some((u) => u.id === user_id)) {
        thread.users.push({ id: user_id, username: user_name, name: user_name, is_online, joined_at: new Date().toISOString() });
      }
      render();
    },
    /** `participant_left`. */
    remove(userId) {
      thread.users = thread.users.filter((u) => u.id !== userId);
      render();
    },
    /** A username change. */
    rename(userId, username) {
      for (const user of thread.users) if (user.id === userId) user.username = username;
      for (const invite of thread.invites ?? []) if (invite.user_id === userId) invite.username = username;
      render();
    },
    /** The current username of `userId`, if a participant. */
    nameOf(userId) {
      return thread.users.find((u) => u.id === userId)?.username;
    },
  };
}
