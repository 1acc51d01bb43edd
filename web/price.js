// Price badge: what a run of this node will cost on fal, from the pack's one price table
// (nodes/luma/prices.json, served by GET /luma_fal/prices). The evaluation mirrors price_of() in
// nodes/luma/prices.py; where the table has no price the badge says so instead of guessing.

import { request } from "./comfy.js";
import { fitText, roundedBox } from "./status.js";

const PRICES_ROUTE = "/luma_fal/prices";
const MAX_BADGE_WIDTH = 640;

const RAY = "luma/agent/ray/v3.2";
const UNI = "luma/agent/uni-1/v1";
// Node id -> endpoint id (the model widget picks Uni-1 max). Nodes not listed make no fal request.
const ENDPOINTS = {
  LumaFalRay32TextToVideo: () => `${RAY}/text-to-video`,
  LumaFalRay32ImageToVideo: () => `${RAY}/image-to-video`,
  LumaFalRay32VideoToVideo: () => `${RAY}/video-to-video`,
  LumaFalRay32Reframe: () => `${RAY}/reframe`,
  LumaFalUni1TextToImage: (p) => (p.model === "uni-1 max" ? `${UNI}/max` : `${UNI}/text-to-image`),
  LumaFalUni1ImageEdit: (p) => (p.model === "uni-1 max" ? `${UNI}/max/edit` : `${UNI}/edit`),
};
// Image inputs whose images the edit endpoints bill per image. The edited image counts too.
const SOURCE_INPUTS = { LumaFalUni1ImageEdit: ["image"] };
const REFERENCE_INPUT = /^(reference_images|references)$/;

let table = null; // null until loaded; false when this install has no price table
let loading = null;

export function loadPrices() {
  loading ??= request(PRICES_ROUTE, { cache: "no-store" }).then((res) => {
    table = res.ok && res.body?.endpoints ? res.body : false;
    return table;
  });
  return loading;
}

export function priceTable() {
  return table;
}

// --- evaluation: a line-by-line port of price_of() in nodes/luma/prices.py (see its docstring) -----
const NOT_PUBLISHED = "price not published";
const NOT_IN_TABLE = "price unknown (not in the price table)";

export function money(usd) {
  usd = Math.round(usd * 1e6) / 1e6;
  const cents = usd * 100;
  return `$${usd.toFixed(Math.abs(cents - Math.round(cents)) < 1e-9 ? 2 : 3)}`;
}

function asText(value) {
  return typeof value === "boolean" ? (value ? "true" : "false") : String(value);
}

function count(n, word) {
  return n === 1 ? `${n} ${word}` : `${n} ${word}s`;
}

function usdOf(entry, params) {
  if (entry.kind === "table") {
    const key = entry.keys.map((name) => asText(params[name])).join("|");
    return entry.prices?.[key] ?? null;
  }
  if (entry.kind === "per_image") {
    if (entry.per_image == null) return null;
    const total = entry.per_image * Math.trunc(Number(params.images));
    return Math.round((total + (entry.per_input_image || 0) * Math.trunc(Number(params.input_images))) * 1e6) / 1e6;
  }
  return null; // a kind this browser code does not know: unknown, never a guess
}

function notPublished(prices, entry, params) {
  const hint = entry.hint;
  if (hint) {
    const other = prices.endpoints[hint.from];
    const otherUsd = other ? usdOf(other, params) : null;
    if (otherUsd != null) return `${NOT_PUBLISHED} (${hint.text} ${money(otherUsd)})`;
  }
  return NOT_PUBLISHED;
}

export function priceOf(prices, endpointId, params) {
  const entry = prices?.endpoints?.[endpointId];
  if (!entry) return { usd: null, label: NOT_IN_TABLE };
  const merged = { ...(prices.defaults ?? {}) };
  for (const [k, v] of Object.entries(params)) if (v != null) merged[k] = v;
  const usd = usdOf(entry, merged);
  if (usd == null) return { usd: null, label: notPublished(prices, entry, merged) };
  if (entry.kind === "per_image") {
    let detail = count(Math.trunc(Number(merged.images)), "image");
    const inputs = Math.trunc(Number(merged.input_images));
    if ((entry.per_input_image || 0) > 0 && inputs > 0) detail += " + " + count(inputs, "input image");
    return { usd, label: `${money(usd)} (${detail})` };
  }
  return { usd, label: money(usd) };
}

// Newer hosts (ComfyUI 0.33.0) declare the badge in the node definition (price_badge, generated from the
// same table by nodes/comfy/price_badge.py) and a frontend that knows such declarations (1.48.7) draws it
// as an icon badge whose text is the evaluated price; ours then stays off, so a node never shows two.
// A frontend that predates them (e.g. 1.32.9 in front of 0.33.0) leaves that badge empty: since its
// evaluation is asynchronous, ours waits FRONTEND_GRACE_MS for a text before it is drawn after all.
const FRONTEND_GRACE_MS = 2000;

function frontendShowsPrice(node) {
  for (const item of node.badges ?? []) {
    const badge = typeof item === "function" ? item() : item;
    if (badge?.icon && badge.text) return true;
  }
  return false;
}

export function ownBadgeWanted(node, nodeData, now = Date.now()) {
  if (!nodeData?.price_badge?.expr || !nodeData?.api_node) return true;
  const state = (node.lumaFal ??= {});
  if (state.frontendPriced || frontendShowsPrice(node)) {
    state.frontendPriced = true;
    state.drawnPrice = null;
    return false;
  }
  state.firstDrawAt ??= now;
  return now - state.firstDrawAt >= FRONTEND_GRACE_MS;
}

// --- reading a node -----------------------------------------------------------------------------
function widgetValues(node) {
  const values = {};
  for (const w of node.widgets ?? []) if (w?.name) values[w.name] = w.value;
  return values;
}

function isConnected(node, name) {
  const input = node.inputs?.find((i) => i.name === name);
  return input?.link != null;
}

// The request parameters the price depends on, as the browser can know them. A connected IMAGE
// input may carry a batch, so the count of billed images is then a lower bound.
export function priceParams(node) {
  const w = widgetValues(node);
  const params = {};
  for (const k of ["resolution", "duration", "hdr", "exr_export", "model"]) if (k in w) params[k] = w[k];
  let inputImages = 0;
  let batchInput = false;
  for (const name of SOURCE_INPUTS[node.type] ?? []) if (isConnected(node, name)) inputImages += 1;
  for (const input of node.inputs ?? []) {
    if (REFERENCE_INPUT.test(input.name) && input.link != null) {
      inputImages += 1;
      batchInput = true;
    }
  }
  params.input_images = inputImages;
  return { params, batchInput };
}

export function nodePrice(node) {
  const endpointFor = ENDPOINTS[node.type];
  if (!endpointFor) return null;
  const { params, batchInput } = priceParams(node);
  const endpoint = endpointFor(params);
  if (table === null) return { endpoint, params, usd: null, label: "price loading", text: "price …" };
  if (table === false) {
    const label = "price unknown (the pack's price table is not available)";
    return { endpoint, params, usd: null, label, text: label };
  }
  const price = priceOf(table, endpoint, params);
  // A connected batch may hold more images than the one counted: then the price is a lower bound.
  const lowerBound = price.usd != null && batchInput && table.endpoints[endpoint]?.per_input_image > 0;
  return { endpoint, params, ...price, lowerBound, text: `${lowerBound ? "from " : ""}${price.label}` };
}

// Drawn at the right end of the title bar (above the node when the title leaves no room).
export function drawPrice(node, ctx) {
  const price = nodePrice(node);
  node.lumaFal ??= {};
  node.lumaFal.price = price;
  if (!price || node.flags?.collapsed) return;
  const titleHeight = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
  ctx.save();
  ctx.font = "bold 12px sans-serif";
  const text = fitText(ctx, price.text, MAX_BADGE_WIDTH);
  const w = ctx.measureText(text).width + 12;
  const h = 18;
  const titleWidth = ctx.measureText(node.getTitle?.() ?? node.title ?? "").width + titleHeight + 8;
  const inTitle = titleWidth + w + 6 <= node.size[0];
  // In the title bar when it fits; else above the node (clear of the frontend's own badge row there),
  // right-aligned and free to grow leftwards.
  const x = node.size[0] - w - (inTitle ? 6 : 0);
  const y = inTitle ? -titleHeight + (titleHeight - h) / 2 : -titleHeight - h - 22;
  ctx.fillStyle = price.usd == null ? "rgba(120, 90, 20, 0.95)" : "rgba(20, 90, 50, 0.95)";
  roundedBox(ctx, x, y, w, h, 9);
  ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.fillText(text, x + 6, y + 13);
  ctx.restore();
  node.lumaFal.drawnPrice = text;
}

