/**
 * My library (`/library`, seed 000 pattern 1): the user's playlist and the users they follow.
 * User-owned data: loaded once, changed optimistically (the list updates at once) and rolled
 * back with a message when the server refuses or cannot be reached.
 */
import { errorText, field, h, replace, timeEl } from "../dom.js";
import { getClient, onResync } from "../realtime.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";
import { userPicker } from "../user-picker.js";

export async function mount(main, _params, scope) {
  const client = getClient();
  const me = loadSession().user.id;
  /** @type {Array<{id: string, data: any, created_at?: string, pending?: boolean}>} */
  let playlist = [];
  /** @type {Array<{id: string, username: string, pending?: boolean}>} */
  let followed = [];

  const playlistList = h("ul", { class: "list", "aria-label": "Playlist" });
  const followedList = h("ul", { class: "list", "aria-label": "Following" });
  const { field: itemField, input: itemInput } = field("Playlist item", { required: true, maxlength: 200, autocomplete: "off" });
  const addForm = h("form", { class: "inline-form", onsubmit: addItem }, itemField, h("button", { type: "submit", class: "primary" }, "Add to playlist"));
  const picker = userPicker({
    label: "Follow by username",
    verb: "Follow",
    exclude: (user) => followed.some((f) => f.id === user.id),
    onPick: follow,
  });

  replace(main, h("h1", {}, "My library"),
    h("div", { class: "two-columns" },
      h("section", { class: "card", "aria-labelledby": "playlist-title" }, h("h2", { id: "playlist-title" }, "Playlist"), addForm, playlistList),
      h("section", { class: "card", "aria-labelledby": "following-title" }, h("h2", { id: "following-title" }, "Following"), picker, followedList)));

  const itemTitle = (item) => (typeof item.data?.title === "string" ? item.data.title : JSON.stringify(item.data));

  function render() {
    replace(playlistList, playlist.length ? playlist.map((item) => h("li", { class: item.pending ? "pending" : "" },
      h("span", {}, itemTitle(item)), item.created_at ? h("span", { class: "hint" }, " · ", timeEl(item.created_at)) : h("span", { class: "hint" }, " · saving…"),
      h("button", { type: "button", class: "link-button", "aria-label": `Remove ${itemTitle(item)}`, disabled: item.pending, onclick: () => removeItem(item) }, "Remove")))
      : h("li", { class: "muted" }, "Nothing in your playlist yet."));
    replace(followedList, followed.length ? followed.map((user) => h("li", { class: user.pending ? "pending" : "" },
      h("span", {}, `@${user.username}`),
      h("button", { type: "button", class: "link-button", "aria-label": `Unfollow ${user.username}`, disabled: user.pending, onclick: () => unfollow(user) }, "Unfollow")))
      : h("li", { class: "muted" }, "You follow no one yet."));
  }

  async function load() {
    try {
      const [list, follows] = await Promise.all([client.rest.users.playlist(me), client.rest.users.followed(me)]);
      playlist = list.items ?? [];
      followed = follows.users ?? [];
      render();
    } catch (e) {
      toast(`Could not load your library: ${errorText(e)}`, "error");
    }
  }

  async function addItem(event) {
    event.preventDefault();
    const title = itemInput.value.trim();
    if (!title) return;
    const optimistic = { id: `pending-${crypto.randomUUID()}`, data: { title }, pending: true };
    playlist = [...playlist, optimistic];
    itemInput.value = "";
    render();
    try {
      const saved = await client.rest.users.addToPlaylist(me, { data: { title } });
      playlist = playlist.map((item) => (item === optimistic ? saved : item));
    } catch (e) {
      playlist = playlist.filter((item) => item !== optimistic);
      itemInput.value = title;
      toast(`Not added, undone: ${errorText(e)}`, "error");
    }
    render();
  }

  async function removeItem(item) {
    const before = playlist;
    playlist = playlist.filter((i) => i !== item);
    render();
    try {
      await client.rest.users.removeFromPlaylist(me, item.id);
    } catch (e) {
      playlist = before;
      render();
      toast(`Not removed, undone: ${errorText(e)}`, "error");
    }
  }

  async function follow(user) {
    const optimistic = { id: user.id, username: user.username, pending: true };
    followed = [...followed, optimistic];
    render();
    try {
      await client.rest.users.follow(me, user.id);
      followed = followed.map((f) => (f === optimistic ? { id: user.id, username: user.username } : f));
      render();
    } catch (e) {
      followed = followed.filter((f) => f !== optimistic);
      render();
      throw new Error(`Not followed, undone: ${errorText(e)}`);
    }
  }

  async function unfollow(user) {
    const before = followed;
    followed = followed.filter((f) => f !== user);
    render();
    try {
      await client.rest.users.unfollow(me, user.id);
    } catch (e) {
      followed = before;
      render();
      toast(`Still following, undone: ${errorText(e)}`, "error");
    }
  }

  scope.add(onResync(load));
  await load();
}
