/**
 * Presence: the members of a room and who is online among them, built from the server's frames
 * (and, for threads and drafts, REST).
 *
 * @module tandem/presence
 */

import { listen, report } from "./util.js";

/**
 * Members of a room and who is online among them. Each change returns the diff as
 * `{ joined, left }`: members who came online (or were added online) and who went offline (or
 * were removed while online), and notifies the listeners.
 */
export class PresenceState {
  constructor(room) {
    this.room = room;
    this.members = new Map();
    this.listeners = { change: new Set(), join: new Set(), leave: new Set() };
  }

  /** The online members. */
  online() {
    return [...this.members.values()].filter((member) => member.online);
  }

  /** Replaces every member (a fresh list from the server). */
  replace(list) {
    const before = new Map(this.members);
    this.members = new Map(list.map((member) => [member.id, { ...member }]));
    return this.diff(before);
  }

  /** Adds or updates one member. */
  upsert(member) {
    const before = new Map(this.members);
    this.members.set(member.id, { ...this.members.get(member.id), ...member });
    return this.diff(before);
  }

  /** Removes one member. */
  remove(id) {
    const before = new Map(this.members);
    this.members.delete(id);
    return this.diff(before);
  }

  /**
   * Applies a server frame if it concerns this room (or a member of it): `canvas_viewers`,
   * `user_joined`, `user_left`, `user_status_changed`, `invitation_accepted`,
   * `participant_left`, `collab.collaborator_added`, `user_profile_updated`.
   */
  apply(frame) {
    const here = frame.room === this.room;
    switch (frame.type) {
      case "canvas_viewers":
        return here && this.replace(frame.users.map((user) => ({ ...user, online: true })));
      case "user_joined":
        return here && this.upsert({ id: frame.user_id, username: frame.username, name: frame.display_name, online: true });
      case "user_left":
      case "participant_left":
        return here && this.remove(frame.user_id);
      case "invitation_accepted":
        return here && this.upsert({ id: frame.user_id, username: frame.user_name, online: Boolean(frame.is_online) });
      case "collab.collaborator_added":
        return here && !this.members.has(frame.data?.user_id) && this.upsert({ id: frame.data.user_id, online: false });
      case "user_status_changed":
        return this.members.has(frame.user_id) && this.upsert({ id: frame.user_id, online: frame.is_online });
      case "user_profile_updated":
        return this.members.has(frame.user_id) && this.upsert({ id: frame.user_id, username: frame.username });
    }
    return false;
  }

  diff(before) {
    const wasOnline = (id) => Boolean(before.get(id)?.online);
    const isOnline = (id) => Boolean(this.members.get(id)?.online);
    const joined = [...this.members.values()].filter((m) => m.online && !wasOnline(m.id));
    const left = [...before.values()].filter((m) => m.online && !isOnline(m.id));
    const changed = joined.length || left.length || before.size !== this.members.size ||
      [...this.members].some(([id, m]) => JSON.stringify(before.get(id)) !== JSON.stringify(m));
    for (const member of joined) this.emit("join", member);
    for (const member of left) this.emit("leave", member);
    if (changed) this.emit("change", this.online());
    return { joined, left };
  }

  emit(kind, value) {
    for (const fn of this.listeners[kind]) {
      try {
        fn(value);
      } catch (error) {
        report(error);
      }
    }
  }
}

/**
 * The app's view of a PresenceState (`client.presence(room)`): the online `members` and the
 * `onChange` / `onJoin` / `onLeave` listeners, each returning its remover.
 * @param {PresenceState} state
 */
export function presenceHelper(state) {
  return {
    get members() {
      return state.online();
    },
    onChange: (fn) => listen(state.listeners.change, fn),
    onJoin: (fn) => listen(state.listeners.join, fn),
    onLeave: (fn) => listen(state.listeners.leave, fn),
  };
}
