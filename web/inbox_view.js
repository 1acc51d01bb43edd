// What the inbox (inbox.js) draws: its stylesheet, the spend ledger line, one journal entry's row with its
// buttons, and the "Result by Request ID" node a row adds to the graph. A row's buttons hand their POSTs to
// the inbox showing it (its send and say), which owns the list and redraws it. Only imported: it registers
// nothing, so the frontend loading it as one more extension script adds nothing twice.

import { app } from "./comfy.js";
import { money } from "./price.js";
import { viewUrl } from "./preview.js";

const BY_ID_NODE = "LumaFalRequestById";
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

export function ensureStyle() {
  if (document.getElementById("luma-fal-inbox-style")) return;
  const style = Object.assign(document.createElement("style"), { id: "luma-fal-inbox-style", textContent: STYLE });
  document.head.append(style);
}

export function el(tag, className, text) {
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
    // Clipboard API refused (insecure origin, no permission): execCommand("copy") still works in most browsers.
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

// The spend line and its per-endpoint details, from /luma_fal/ledger.
export function ledgerView(ledger) {
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
  return [line, details];
}

// One entry's row. inbox: the Inbox showing it (its send(entry, verb, label) and say(text)).
export function entryRow(entry, inbox) {
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
    actions.append(actionButton(inbox, "luma-fal-inbox-refetch", "Download again", entry,
      "Fetch the result from fal again into the output folder", "refetch",
      IN_FLIGHT.has(entry.state) && entry.following));
    actions.append(graphButton(inbox, entry));
  }
  if (entry.can_cancel) {
    actions.append(actionButton(inbox, "luma-fal-inbox-cancel", "Cancel at fal", entry, "Cancel this request at fal", "cancel", false));
  }
  if (actions.childElementCount) row.append(actions);
  return row;
}

function actionButton(inbox, className, label, entry, tip, verb, disabled) {
  const button = el("button", className, label);
  button.type = "button";
  button.title = tip;
  button.disabled = !!disabled;
  button.addEventListener("click", () => {
    button.disabled = true;
    inbox.send(entry, verb, label);
  });
  return button;
}

function graphButton(inbox, entry) {
  const button = el("button", "luma-fal-inbox-to-graph", "Add to graph");
  button.type = "button";
  button.title = "Add a 'Result by Request ID' node for this request to the current graph";
  button.addEventListener("click", () => {
    const node = addResultNode(entry);
    inbox.say(node ? `Added a Result by Request ID node for ${entry.request_id}` : "This ComfyUI has no Result by Request ID node (update the pack).");
  });
  return button;
}
