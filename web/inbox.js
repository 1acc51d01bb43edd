// The inbox: every fal request the pack journaled, newest first, in a sidebar tab (frontends 1.32 and
// newer offer app.extensionManager.registerSidebarTab), or in a floating panel opened from the menu on
// older ones. Rows show time, node, endpoint, state, estimated price, request id (copyable) and files,
// with actions: open a file (ComfyUI's /view), download again, cancel at fal, and add a
// "Result by Request ID" node for the request to the graph. While the panel is shown it refreshes every
// two seconds and at once on the pack's status events, so a running request turns "done" by itself.

import { api, app, request } from "./comfy.js";
import { money } from "./price.js";
import { viewUrl } from "./preview.js";
import { STATUS_EVENT } from "./status.js";

const LIST_ROUTE = "/luma_fal/requests?limit=50";
const LEDGER_ROUTE = "/luma_fal/ledger";
const TAB_ID = "luma-fal-inbox";
const BY_ID_NODE = "LumaFalRequestById";
const POLL_MS = 2000;
const EVENT_DELAY_MS = 250;
const IN_FLIGHT = new Set(["preparing", "submitting", "queued", "running", "completed"]);

const STYLE = `
.luma-fal-inbox { display: flex; flex-direction: column; gap: 8px; padding: 8px; font-size: 12px; height: 100%;
  overflow-y: auto; box-sizing: border-box; color: var(--fg-color, #ddd); }
.luma-fal-inbox h3 { margin: 0; font-size: 14px; }
.luma-fal-inbox-ledger { opacity: 0.9; line-height: 1.5; }
.luma-fal-inbox-ledger details { margin-top: 2px; }
.luma-fal-inbox-notice { min-height: 1em; opacity: 0.85; }
.luma-fal-inbox-row { border: 1px solid var(--border-color, #444); border-radius: 6px; padding: 6px;
  display: flex; flex-direction: column; gap: 3px; }
.luma-fal-inbox-top { display: flex; gap: 6px; align-items: baseline; }
.luma-fal-inbox-state { font-weight: bold; text-transform: uppercase; font-size: 10px; padding: 1px 4px;
  border-radius: 3px; background: #555; }
.luma-fal-inbox-state[data-state="done"] { background: #2e6b3a; }
.luma-fal-inbox-state[data-state="running"], .luma-fal-inbox-state[data-state="queued"],
.luma-fal-inbox-state[data-state="completed"], .luma-fal-inbox-state[data-state="submitting"] { background: #2d5a8a; }
.luma-fal-inbox-state[data-state="failed"], .luma-fal-inbox-state[data-state="expired"],
.luma-fal-inbox-state[data-state="unknown_submit"] { background: #8a2d2d; }
.luma-fal-inbox-price { margin-left: auto; }
.luma-fal-inbox-worker { font-size: 10px; opacity: 0.75; white-space: nowrap; }
.luma-fal-inbox-rid code { font-size: 11px; user-select: all; word-break: break-all; }
.luma-fal-inbox-prompt, .luma-fal-inbox-message { opacity: 0.8; overflow: hidden; text-overflow: ellipsis; }
.luma-fal-inbox-message { white-space: pre-wrap; max-height: 4.5em; }
.luma-fal-inbox-files a { color: var(--p-primary-color, #8cf); margin-right: 6px; word-break: break-all; }
.luma-fal-inbox-actions { display: flex; flex-wrap: wrap; gap: 4px; }
.luma-fal-inbox button { font: inherit; font-size: 11px; padding: 2px 6px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); }
.luma-fal-inbox button:disabled { opacity: 0.5; cursor: default; }
.luma-fal-inbox-floating { position: fixed; right: 12px; top: 60px; width: 380px; max-height: 75vh; z-index: 1000;
  background: var(--comfy-menu-bg, #1e1e1e); border: 1px solid var(--border-color, #444); border-radius: 8px; }
`;

function ensureStyle() {
  if (document.getElementById("luma-fal-inbox-style")) return;
  const style = Object.assign(document.createElement("style"), { id: "luma-fal-inbox-style", textContent: STYLE });
  document.head.append(style);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

function when(seconds) {
  if (typeof seconds !== "number") return "";
  const date = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const today = new Date().toDateString() === date.toDateString();
  return today ? time : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

function shortEndpoint(endpointId) {
  return String(endpointId ?? "").replace(/^luma\/agent\//, "");
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (insecure origin, no permission): the old way still works in most browsers.
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    const ok = document.execCommand?.("copy") ?? false;
    area.remove();
    return ok;
  }
}

function setWidget(node, name, value) {
  const widget = node.widgets?.find((w) => w.name === name);
  if (!widget) return false;
  widget.value = value;
  widget.callback?.(value, app?.canvas, node);
  return true;
}

// A "Result by Request ID" node for this request, placed in the middle of what the canvas shows.
export function addResultNode(entry) {
  const node = window.LiteGraph?.createNode?.(BY_ID_NODE);
  if (!node || !app?.graph) return null;
  setWidget(node, "endpoint", entry.endpoint_id);
  setWidget(node, "request_id", entry.request_id);
  const area = app.canvas?.visible_area;
  node.pos = area ? [area[0] + area[2] / 2 - node.size[0] / 2, area[1] + area[3] / 2 - node.size[1] / 2] : [100, 100];
  app.graph.add(node);
  app.canvas?.selectNode?.(node);
  app.graph.setDirtyCanvas?.(true, true);
  return node;
}

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
    const part = (label, total) => `${label} ${money(total?.usd ?? 0)} (${total?.requests ?? 0})`;
    const line = el("div", "luma-fal-inbox-spend",
      `Estimated spend: ${part("today", ledger.today)} · ${part("this session", ledger.session)}` +
        (ledger.in_flight?.requests ? ` · in flight ${money(ledger.in_flight.usd)}` : "") +
        (ledger.unpriced ? ` · ${ledger.unpriced} without a published price` : ""));
    const details = el("details");
    details.append(el("summary", null, "per endpoint"));
    for (const row of ledger.by_endpoint ?? []) {
      details.append(el("div", null, `${shortEndpoint(row.endpoint_id)}: ${money(row.usd)} (${row.requests})`));
    }
    details.title = `Estimates ${ledger.estimate ?? ""}`;
    this.ledger.replaceChildren(line, details);
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
      const node = shown?.key === key ? shown.node : this.row(entry);
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

  row(entry) {
    const row = el("div", "luma-fal-inbox-row");
    row.dataset.entryId = String(entry.id);
    row.dataset.requestId = entry.request_id ?? "";
    row.dataset.state = entry.state;

    const top = el("div", "luma-fal-inbox-top");
    const state = el("span", "luma-fal-inbox-state", entry.state.replace("_", " "));
    state.dataset.state = entry.state;
    let price = entry.price_usd == null ? "price unknown" : `~${money(entry.price_usd)}`;
    // What fal billed (its billable units on the result, or its billing events) beside the estimate; a drift
    // over 10 % is flagged. Where fal sent no units the row says so and the estimate stands.
    let priceTitle = "";
    if (entry.billed_usd != null) {
      price += ` · billed ${money(entry.billed_usd)}`;
      if (entry.drift_flag) price += ` (${entry.drift > 0 ? "+" : ""}${Math.round(entry.drift * 100)} % vs estimate)`;
      if (entry.billed_units != null && entry.unit_price != null) {
        priceTitle = `fal: ${entry.billed_units} ${entry.billed_unit || "unit"}(s) × ${money(entry.unit_price)}` +
          (entry.billed_from === "billing_events" ? " (fal's billing events)" : " (billable units sent with the result)");
      }
    } else if (entry.billed_from === "none") {
      price += " · fal sent no billed units";
      priceTitle = "fal sent no x-fal-billable-units with the result: the figure is the pack's estimate";
    }
    const priceEl = el("span", "luma-fal-inbox-price", price);
    if (priceTitle) priceEl.title = priceTitle;
    if (entry.drift_flag) priceEl.dataset.drift = "flagged";
    top.append(state, el("span", "luma-fal-inbox-time", when(entry.created_at)), priceEl);
    if (entry.recovered) {
      const tag = el("span", "luma-fal-inbox-recovered", "recovered");
      tag.title = "fal's answer to the submit was lost; the request was found in fal's own records";
      top.append(tag);
    }
    // In a fleet (several ComfyUIs on one journal) the worker that owns the request: who follows and saves it.
    if (entry.worker) {
      const worker = el("span", "luma-fal-inbox-worker", `worker ${entry.worker}${entry.this_worker ? " (this one)" : ""}`);
      worker.title = `owned by ${entry.owner}`;
      top.append(worker);
    }
    row.append(top, el("div", "luma-fal-inbox-what", `${entry.node_name} · ${shortEndpoint(entry.endpoint_id)}`));
    if (entry.prompt) row.append(el("div", "luma-fal-inbox-prompt", entry.prompt));

    if (entry.request_id) {
      const rid = el("div", "luma-fal-inbox-rid");
      const copy = el("button", "luma-fal-inbox-copy", "Copy id");
      copy.type = "button";
      copy.title = "Copy the fal request id";
      copy.addEventListener("click", async () => {
        const ok = await copyText(entry.request_id);
        copy.textContent = ok ? "Copied" : "Copy failed";
        copy.dataset.copied = String(ok);
      });
      rid.append(el("code", null, entry.request_id), document.createTextNode(" "), copy);
      row.append(rid);
    }

    if (entry.files?.length) {
      const files = el("div", "luma-fal-inbox-files");
      for (const file of entry.files) {
        if (file.exists) {
          const link = el("a", "luma-fal-inbox-file", file.filename);
          link.href = viewUrl(file);
          link.target = "_blank";
          link.rel = "noopener";
          link.title = `Open ${file.subfolder ? file.subfolder + "/" : ""}${file.filename}`;
          files.append(link);
        } else {
          files.append(el("span", "luma-fal-inbox-file-missing", `${file.filename} (deleted) `));
        }
      }
      row.append(files);
    }
    if (entry.message) row.append(el("div", "luma-fal-inbox-message", entry.message));

    const actions = el("div", "luma-fal-inbox-actions");
    if (entry.can_refetch) {
      actions.append(this.action("luma-fal-inbox-refetch", "Download again", entry,
        "Fetch the result from fal again into the output folder", "refetch",
        IN_FLIGHT.has(entry.state) && entry.following));
      actions.append(this.graphButton(entry));
    }
    if (entry.can_cancel) {
      actions.append(this.action("luma-fal-inbox-cancel", "Cancel at fal", entry, "Cancel this request at fal", "cancel", false));
    }
    if (actions.childElementCount) row.append(actions);
    return row;
  }

  action(className, label, entry, tip, verb, disabled) {
    const button = el("button", className, label);
    button.type = "button";
    button.title = tip;
    button.disabled = !!disabled;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const res = await request(`/luma_fal/requests/${encodeURIComponent(entry.request_id)}/${verb}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      this.say(res.ok ? `${label}: request ${entry.request_id} (${res.body?.state ?? "sent"})` : res.body?.error ?? `${label} failed (HTTP ${res.status})`);
      this.rows.delete(entry.id); // its row is drawn afresh (this button enabled again) even if nothing changed
      this.refresh();
    });
    return button;
  }

  graphButton(entry) {
    const button = el("button", "luma-fal-inbox-to-graph", "Add to graph");
    button.type = "button";
    button.title = "Add a 'Result by Request ID' node for this request to the current graph";
    button.addEventListener("click", () => {
      const node = addResultNode(entry);
      this.say(node ? `Added a Result by Request ID node for ${entry.request_id}` : "This ComfyUI has no Result by Request ID node (update the pack).");
    });
    return button;
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
