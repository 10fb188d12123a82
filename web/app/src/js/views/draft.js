/**
 * A draft (`/drafts/{id}`, seed 003): segments appear live; only the ring holder can add one, so
 * for everyone else the "Segment" box and the "Add segment" button are disabled and
 * "Waiting for @holder" is shown; the holder can "Pass ring" to a collaborator; anyone can add a
 * collaborator. Events of the `draft:` room arrive while the page views it (subscribe from the
 * REST snapshot's seq, so nothing is missed or doubled).
 */
import { onRename } from "../account.js";
import { copyPageLink } from "../copy-link.js";
import { errorText, field, h, replace, timeEl } from "../dom.js";
import { getClient, onResync } from "../realtime.js";
import { remember } from "../recent.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";
import { userPicker } from "../user-picker.js";

export async function mount(main, { id }, scope) {
  const client = getClient();
  const me = loadSession().user.id;
  const room = `draft:${id}`;
  let draft;
  try {
    draft = await client.rest.drafts.get(id);
  } catch (e) {
    replace(main, h("h1", {}, "Draft not found"),
      h("p", {}, e.status === 404 || e.status === 403 ? "This draft does not exist or you are not a collaborator." : errorText(e)),
      h("p", {}, h("a", { href: "/drafts" }, "Back to drafts")));
    return;
  }
  remember("drafts", { id, name: draft.title });
  const online = new Set();

  const title = h("h1", {}, draft.title);
  const holderLine = h("p", { class: "ring-holder" });
  const segments = h("ol", { class: "segments", "aria-label": "Segments" });
  const collaborators = h("ul", { class: "participants", "aria-label": "Collaborators" });
  const waiting = h("p", { class: "waiting", id: "waiting-for", "aria-live": "polite" });
  const { field: segmentField, input } = field("Segment", { rows: 3, maxlength: 10000, required: true }, { multiline: true });
  const addButton = h("button", { type: "submit", class: "primary", "aria-describedby": "waiting-for" }, "Add segment");
  const form = h("form", { class: "composer", onsubmit: addSegment }, segmentField, waiting, addButton);
  const passSelect = h("select", { id: "pass-to" });
  const passButton = h("button", { type: "button", onclick: passRing }, "Pass ring");
  const passRow = h("div", { class: "field" }, h("label", { for: "pass-to" }, "Pass ring to"), h("div", { class: "row" }, passSelect, passButton));
  const picker = userPicker({
    label: "Add collaborator by username",
    verb: "Add",
    exclude: (user) => draft.collaborators.some((c) => c.id === user.id),
    onPick: async (user) => apply(await client.rest.drafts.addCollaborator(id, user.id)),
  });

  replace(main, h("div", { class: "thread-layout" },
    h("div", { class: "thread-main" }, title, holderLine, segments, form),
    h("aside", { class: "thread-side", "aria-labelledby": "collab-title" },
      h("h2", { id: "collab-title" }, "Collaborators"), collaborators, passRow,
      h("details", { class: "card" }, h("summary", {}, "Add a collaborator"), picker, h("p", { class: "hint" }, "They open it from its link:"), copyPageLink()))));

  const nameOf = (userId) => draft.collaborators.find((c) => c.id === userId)?.username ?? "someone";

  function render() {
    const holding = draft.ring_holder_id === me;
    const holder = nameOf(draft.ring_holder_id);
    replace(holderLine, "Ring holder: ", h("strong", {}, holding ? "you" : `@${holder}`));
    waiting.textContent = holding ? "You hold the ring: add a segment or pass it on." : `Waiting for @${holder}`;
    input.disabled = !holding;
    addButton.disabled = !holding;
    const sorted = [...draft.segments].sort((a, b) => a.position - b.position);
    replace(segments, sorted.length ? sorted.map((s) => h("li", { class: "segment" },
      h("p", {}, s.content), h("p", { class: "hint" }, `@${nameOf(s.author_user_id)} · `, timeEl(s.created_at))))
      : h("li", { class: "muted" }, "No segments yet."));
    replace(collaborators, draft.collaborators.map((c) => h("li", { class: "participant" },
      h("span", { class: `dot ${online.has(c.id) ? "online" : "offline"}`, role: "img", "aria-label": online.has(c.id) ? "online" : "offline" }),
      h("span", { class: "participant-name" }, c.username, c.id === me ? h("span", { class: "muted" }, " (you)") : null),
      c.id === draft.ring_holder_id ? h("span", { class: "ring", title: "Holds the ring" }, "💍 ring") : null)));
    const others = draft.collaborators.filter((c) => c.id !== me);
    const chosen = passSelect.value;
    replace(passSelect, others.map((c) => h("option", { value: c.id, selected: c.id === chosen }, c.username)));
    passSelect.disabled = !holding || others.length === 0;
    passButton.disabled = !holding || others.length === 0;
  }

  /** Takes a fresh Draft from the server. */
  function apply(fresh) {
    draft = fresh;
    render();
  }

  async function addSegment(event) {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    addButton.disabled = true;
    try {
      const segment = await client.rest.drafts.addSegment(id, content);
      if (!draft.segments.some((s) => s.id === segment.id)) draft.segments.push(segment);
      input.value = "";
    } catch (e) {
      toast(e.code === "not_ring_holder" ? "You no longer hold the ring." : errorText(e), "error");
    }
    render();
  }

  async function passRing() {
    const to = passSelect.value;
    if (!to) return;
    try {
      apply(await client.rest.drafts.passRing(id, to));
    } catch (e) {
      toast(errorText(e), "error");
      refresh();
    }
  }

  async function refresh() {
    try {
      apply(await client.rest.drafts.get(id));
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  const here = (event) => event.draft_id === id || event.room === room;
  scope.add(client.on("collab.segment_added", (event) => {
    if (!here(event)) return;
    const { segment_id, content, author_user_id, position, created_at } = event.data;
    if (!draft.segments.some((s) => s.id === segment_id)) draft.segments.push({ id: segment_id, content, author_user_id, position, created_at });
    render();
  }));
  scope.add(client.on("collab.ring_passed", (event) => {
    if (!here(event)) return;
    draft.ring_holder_id = event.data.to;
    render();
  }));
  scope.add(client.on("collab.collaborator_added", (event) => here(event) && refresh()));
  scope.add(onRename((userId, username) => {
    for (const c of draft.collaborators) if (c.id === userId) c.username = username;
    render();
  }));
  scope.add(onResync((changed) => (changed === null || changed === room) && refresh()));
  const presence = client.presence(room);
  scope.add(presence.onChange((members) => {
    online.clear();
    for (const m of members) if (m.online !== false) online.add(m.id);
    render();
  }));
  for (const m of presence.members) if (m.online !== false) online.add(m.id);
  render();
  scope.add(() => client.unsubscribe(room));
  client.subscribe(room, { after: draft.seq }).catch((e) => toast(`Not live: ${errorText(e)}`, "error"));
}
