// The inbox: every fal request the pack journaled, newest first, in a sidebar tab (frontends 1.32 and
// newer offer app.extensionManager.registerSidebarTab), or in a floating panel opened from the menu on
// older ones. Rows show time, node, endpoint, state, estimated price, request id (copyable) and files,
// with actions: open a file (ComfyUI's /view), download again, cancel at fal, and add a
// "Result by Request ID" node for the request to the graph. While the panel is shown it refreshes every
// two seconds and at once on the pack's status events, so a running request turns "done" by itself.

import { api, app, request } from "./comfy.js";
import { el, ensureStyle, entryRow, ledgerView } from "./inbox_view.js";
import { STATUS_EVENT } from "./status.js";

const LIST_ROUTE = "/luma_fal/requests?limit=50";
const LEDGER_ROUTE = "/luma_fal/ledger";
const TAB_ID = "luma-fal-inbox";
const POLL_MS = 2000;
const EVENT_DELAY_MS = 250;

class Inbox {
  constructor(root) {
    ensureStyle();
    this.root = root;
    this.root.classList.add("luma-fal-inbox");
    this.title = el("h3", null, "Luma (fal) requests");
    this.ledger = el("div", "luma-fal-inbox-ledger");
    this.notice = el("div", "luma-fal-inbox-notice");
    this.list = el("div", "luma-fal-inbox-list");
    this.root.replaceChildren(this.title, this.ledger, this.notice, this.list);
    this.rows = new Map(); // entry id -> { key, node }: the row shown for that entry as it was then
    this.changedAt = undefined;
    this.timer = null;
    this.pending = null;
    this.onEvent = () => this.soon();
    // While a button is pressed the list is not redrawn: a click is a press and a release on the same
    // element, and a row redrawn in between (a poll, a status event) would swallow it.
    this.pressed = false;
    this.deferred = false;
    this.root.addEventListener("pointerdown", () => { this.pressed = true; });
    this.onRelease = () => {
      if (!this.pressed) return;
      this.pressed = false;
      if (this.deferred) {
        this.deferred = false;
        this.soon();
      }
    };
  }

  mount() {
    this.refresh();
    this.timer = setInterval(() => {
      if (!document.hidden && this.root.isConnected) this.refresh();
    }, POLL_MS);
    for (const name of [STATUS_EVENT, "execution_success", "execution_error", "execution_interrupted"]) {
      api?.addEventListener?.(name, this.onEvent);
    }
    window.addEventListener("pointerup", this.onRelease, true);
    window.addEventListener("pointercancel", this.onRelease, true);
    window.addEventListener("blur", this.onRelease); // a release outside the page is never seen
  }

  unmount() {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    for (const name of [STATUS_EVENT, "execution_success", "execution_error", "execution_interrupted"]) {
      api?.removeEventListener?.(name, this.onEvent);
    }
    window.removeEventListener("pointerup", this.onRelease, true);
    window.removeEventListener("pointercancel", this.onRelease, true);
    window.removeEventListener("blur", this.onRelease); // a release outside the page is never seen
  }

  soon() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh(), EVENT_DELAY_MS);
  }

  say(text) {
    this.notice.textContent = text ?? "";
  }

  async refresh() {
    if (this.busy) return;
    this.busy = true;
    try {
      const res = await request(LIST_ROUTE, { cache: "no-store" });
      if (this.held()) return;
      if (!res.ok) {
        this.rows.clear(); // the rows are drawn again once the server answers, even if unchanged
        this.list.replaceChildren(el("div", null, res.body?.error ?? "The Luma (fal) pack's server side did not answer."));
        return;
      }
      this.render(res.body?.entries ?? []);
      if (res.body?.changed_at !== this.changedAt) {
        const ledger = await request(LEDGER_ROUTE, { cache: "no-store" });
        if (this.held()) return;
        this.changedAt = res.body?.changed_at;
        if (ledger.ok) this.renderLedger(ledger.body);
      }
    } finally {
      this.busy = false;
    }
  }

  // Nothing is redrawn under a press, nor moved (as a taller ledger line would move the rows): the
  // refresh is done again once the button is released.
  held() {
    if (this.pressed) this.deferred = true;
    return this.pressed;
  }

  renderLedger(ledger) {
    this.ledger.replaceChildren(...ledgerView(ledger));
  }

  render(entries) {
    if (!entries.length) {
      this.rows.clear();
      if (this.list.querySelector(".luma-fal-inbox-empty")) return;
      this.list.replaceChildren(el("div", "luma-fal-inbox-empty", "No fal requests yet. Run a Luma (fal) node and it shows here."));
      return;
    }
    // A row is rebuilt only when its entry changed; the others stay the same elements, in place.
    const rows = new Map();
    const wanted = entries.map((entry) => {
      const key = JSON.stringify(entry);
      const shown = this.rows.get(entry.id);
      const node = shown?.key === key ? shown.node : entryRow(entry, this);
      rows.set(entry.id, { key, node });
      return node;
    });
    this.rows = rows;
    wanted.forEach((node, index) => {
      const there = this.list.children[index] ?? null;
      if (there !== node) this.list.insertBefore(node, there);
    });
    while (this.list.children.length > wanted.length) this.list.lastElementChild.remove();
  }

  // A row's button: POST its verb for the entry, say how it went, and draw that row afresh (its button
  // enabled again) even if nothing else changed.
  async send(entry, verb, label) {
    const res = await request(`/luma_fal/requests/${encodeURIComponent(entry.request_id)}/${verb}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    this.say(res.ok ? `${label}: request ${entry.request_id} (${res.body?.state ?? "sent"})` : res.body?.error ?? `${label} failed (HTTP ${res.status})`);
    this.rows.delete(entry.id);
    this.refresh();
  }
}

// Frontends without sidebar tabs: a floating panel toggled by a button in the classic menu.
function addFloatingPanel() {
  const menu = document.querySelector(".comfy-menu");
  if (!menu) return;
  const button = el("button", "luma-fal-inbox-open", "Luma fal inbox");
  let panel = null;
  let inbox = null;
  button.addEventListener("click", () => {
    if (panel) {
      inbox.unmount();
      panel.remove();
      panel = inbox = null;
      return;
    }
    panel = el("div", "luma-fal-inbox-floating");
    document.body.append(panel);
    inbox = new Inbox(panel);
    inbox.mount();
  });
  menu.append(button);
}

export function registerInbox() {
  const manager = app?.extensionManager;
  if (typeof manager?.registerSidebarTab !== "function") {
    addFloatingPanel();
    return;
  }
  let inbox = null;
  manager.registerSidebarTab({
    id: TAB_ID,
    icon: "pi pi-inbox luma-fal-inbox-icon",
    title: "Luma fal",
    tooltip: "Luma (fal) requests",
    label: "Luma fal",
    type: "custom",
    render: (element) => {
      inbox?.unmount();
      inbox = new Inbox(element);
      inbox.mount();
    },
    destroy: () => {
      inbox?.unmount();
      inbox = null;
    },
  });
}
