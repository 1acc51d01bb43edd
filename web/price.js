// Price badge: what a run of this node will cost on fal, from the pack's effective price table
// (GET /luma_fal/prices: the bundled table with fal's live or cached unit prices applied, each endpoint
// with its source, plus the spend limits). The evaluation mirrors price_of() in nodes/luma/prices.py;
// where fal publishes no price the badge says so instead of guessing, and it always says where the
// number came from (live, cached with its date, bundled). When a spend limit would refuse the run the
// badge says which, in red. The same badge on every host and frontend: on the classic canvas a pill in the
// title bar (drawPrice), in "Nodes 2.0" one of the node header's badges (priceBadge).

import { request } from "./comfy.js";
import { fitText, roundedBox } from "./status.js";

const PRICES_ROUTE = "/luma_fal/prices";
const MAX_BADGE_WIDTH = 640;
export const LIMIT_COLOUR = "rgba(190, 30, 30, 0.97)";

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

let table = null; // null until loaded; false when this install has no price table
let loading = null;
const RELOAD_MS = 60_000; // live prices and today's spend change while the page is open

export function loadPrices() {
  loading ??= request(PRICES_ROUTE, { cache: "no-store" }).then((res) => {
    table = res.ok && res.body?.endpoints ? res.body : false;
    loading = null;
    return table;
  });
  return loading;
}

export function startPriceReload() {
  setInterval(() => loadPrices().then(() => globalThis.app?.graph?.setDirtyCanvas?.(true, true)), RELOAD_MS);
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

function baseUsd(entry, params) {
  for (const match of entry.unpriced ?? []) {
    if (Object.entries(match).every(([k, v]) => asText(params[k]) === asText(v))) return null;
  }
  let usd = Number(entry.unit_price) * Number(entry.units_per_base?.[entry.unit] ?? 1);
  for (const [name, factors] of Object.entries(entry.factors ?? {})) {
    const factor = factors[asText(params[name])];
    if (factor == null) return null;
    usd *= Number(factor);
  }
  return usd;
}

const round6 = (x) => Math.round(x * 1e6) / 1e6;

export function priceOf(prices, endpointId, params) {
  const entry = prices?.endpoints?.[endpointId];
  if (!entry) return { usd: null, label: NOT_IN_TABLE, source: "" };
  const source = entry.source?.label ?? "";
  const merged = { ...(prices.defaults ?? {}) };
  for (const [k, v] of Object.entries(params)) if (v != null) merged[k] = v;
  const unit = baseUsd(entry, merged);
  if (unit == null) return { usd: null, label: NOT_PUBLISHED, source };
  if (entry.quantity === "source_seconds") {
    if (merged.source_seconds == null) {
      const rate = round6(unit);
      return { usd: null, label: `${money(rate)} per started source second`, source, perSourceSecond: rate };
    }
    const started = Math.max(1, Math.ceil(Number(merged.source_seconds) - 1e-9));
    const usd = round6(unit * started);
    return { usd, label: `${money(usd)} (${started} s of source)`, source };
  }
  if (entry.quantity === "images") {
    const images = Math.trunc(Number(merged.images));
    let usd = unit * images;
    let detail = count(images, "image");
    const inputs = Math.trunc(Number(merged.input_images));
    const extra = Number(entry.per_input_image || 0);
    if (extra > 0 && inputs > 0) {
      usd += extra * inputs;
      detail += " + " + count(inputs, "input image");
    }
    usd = round6(usd);
    return { usd, label: `${money(usd)} (${detail})`, source };
  }
  const usd = round6(unit);
  return { usd, label: money(usd), source };
}

// What a spend limit would say about a run of ``usd`` (null when none would refuse it).
export function limitState(limits, price) {
  if (!limits) return null;
  if (price.usd == null) {
    return limits.unknown_price === "refuse" && price.perSourceSecond == null ? "refused: unknown price" : null;
  }
  if (limits.max_run_usd != null && price.usd > limits.max_run_usd + 1e-9) return `over cap ${money(limits.max_run_usd)}`;
  const spent = Number(limits.spent_today ?? 0);
  if (limits.daily_budget_usd != null && spent + price.usd > limits.daily_budget_usd + 1e-9) {
    return `over budget (${money(Math.max(0, limits.daily_budget_usd - spent))} left today)`;
  }
  return null;
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

// How many images an IMAGE input carries, where the browser can know it: LoadImage gives one,
// RepeatImageBatch multiplies, ImageBatch adds. null = not knowable here (the badge then says "from").
function sourceNode(node, name) {
  const input = node.inputs?.find((i) => i.name === name);
  if (input?.link == null) return undefined;
  const graph = node.graph ?? globalThis.app?.graph;
  const link = graph?.links?.[input.link] ?? graph?.links?.get?.(input.link);
  return link ? graph.getNodeById(link.origin_id) : null;
}

export function imageCount(node, name, depth = 0) {
  const origin = sourceNode(node, name);
  if (origin === undefined) return 0;
  if (!origin || depth > 8) return null;
  const w = widgetValues(origin);
  if (origin.type === "LoadImage") return 1;
  if (origin.type === "RepeatImageBatch") {
    const inner = imageCount(origin, "image", depth + 1);
    return inner == null ? null : inner * Math.trunc(Number(w.amount ?? 1));
  }
  if (origin.type === "ImageBatch") {
    const a = imageCount(origin, "image1", depth + 1);
    const b = imageCount(origin, "image2", depth + 1);
    return a == null || b == null ? null : a + b;
  }
  return null;
}

// The request parameters the price depends on, as the browser can know them. ``lowerBound`` when a
// connected IMAGE input's batch size cannot be known here (the count then uses one image for it).
export function priceParams(node) {
  const w = widgetValues(node);
  const params = {};
  for (const k of ["resolution", "duration", "hdr", "exr_export", "model"]) if (k in w) params[k] = w[k];
  let inputImages = 0;
  let batchInput = false;
  // The edited image is always exactly one image (a batch is refused before upload).
  for (const name of SOURCE_INPUTS[node.type] ?? []) if (isConnected(node, name)) inputImages += 1;
  for (const name of ["references", "reference_images"]) {
    if (!node.inputs?.some((i) => i.name === name)) continue;
    const n = imageCount(node, name);
    if (n == null) {
      inputImages += 1;
      batchInput = true;
    } else {
      inputImages += n;
    }
  }
  params.input_images = inputImages;
  return { params, batchInput };
}

// Requests one run of the node sends: takes × the non-empty lines of prompt_variants (1 when linked).
export function requestCount(node) {
  const w = widgetValues(node);
  const takes = Number.isInteger(w.takes) && w.takes > 1 ? w.takes : 1;
  const variants = typeof w.prompt_variants === "string" && !isConnected(node, "prompt_variants")
    ? w.prompt_variants.split(/\r?\n/).filter((line) => line.trim()).length : 0;
  return takes * Math.max(1, variants);
}

// The price of ``n`` requests, as nodes/comfy/run/job.fan_out_price says it: the total, then n × one.
export function timesRequests(price, n) {
  if (n <= 1) return price;
  if (price.usd == null) return { ...price, label: `${n} × ${price.label}` };
  const usd = round6(price.usd * n);
  return { ...price, usd, label: `${money(usd)} (${n} × ${price.label})` };
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
  const price = timesRequests(priceOf(table, endpoint, params), requestCount(node));
  // A connected batch of unknown size may hold more images than the one counted: a lower bound.
  const lowerBound = price.usd != null && batchInput && table.endpoints[endpoint]?.per_input_image > 0;
  const limit = limitState(table.limits, price);
  const parts = [`${lowerBound ? "from " : ""}${price.label}`];
  if (price.source) parts.push(price.source);
  if (limit) parts.push(limit);
  return { endpoint, params, ...price, lowerBound, limit, text: parts.join(" · ") };
}

// A pill at the right end of the title bar (above the node when the title leaves no room).
function drawPill(node, ctx, fullText, colour) {
  const titleHeight = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
  ctx.save();
  ctx.font = "bold 12px sans-serif";
  const text = fitText(ctx, fullText, MAX_BADGE_WIDTH);
  const w = ctx.measureText(text).width + 12;
  const h = 18;
  const titleWidth = ctx.measureText(node.getTitle?.() ?? node.title ?? "").width + titleHeight + 8;
  const inTitle = titleWidth + w + 6 <= node.size[0];
  // In the title bar when it fits; else above the node (clear of the frontend's own badge row there),
  // right-aligned and free to grow leftwards.
  const x = node.size[0] - w - (inTitle ? 6 : 0);
  const y = inTitle ? -titleHeight + (titleHeight - h) / 2 : -titleHeight - h - 22;
  ctx.fillStyle = colour;
  roundedBox(ctx, x, y, w, h, 9);
  ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.fillText(text, x + 6, y + 13);
  ctx.restore();
  return text;
}

// The pack's price badge, on every host and frontend (the nodes declare none of the frontend's own: see
// request_node_schema in nodes/comfy/node_types/schema.py): price, source and, when a spend limit would
// refuse the run, that limit, in red.
export function drawPrice(node, ctx) {
  const price = nodePrice(node);
  node.lumaFal ??= {};
  node.lumaFal.price = price;
  if (!price || node.flags?.collapsed) return;
  node.lumaFal.drawnPrice = drawPill(node, ctx, price.text, priceColour(price));
  node.lumaFal.drawnPriceColour = price.limit ? LIMIT_COLOUR : null;
}

// Red when a spend limit would refuse the run, amber when the price is unknown, green otherwise.
function priceColour(price) {
  return price.limit ? LIMIT_COLOUR : price.usd == null ? "rgba(120, 90, 20, 0.95)" : "rgba(20, 90, 50, 0.95)";
}

// The price as one of the node's badges (``node.badges``), for "Nodes 2.0": there nodes are DOM elements, no
// canvas foreground is drawn, and the frontend shows each extension badge's text in the node header. On the
// classic canvas LiteGraph draws ``node.badges`` as well; this one draws nothing there (no width, no-op draw)
// since drawPrice's pill is the price shown.
export function priceBadge(node) {
  return () => {
    const price = nodePrice(node);
    const text = price && !node.flags?.collapsed ? price.text : "";
    return { text, fgColor: "#ffffff", bgColor: price ? priceColour(price) : undefined, height: 0,
             getWidth: () => 0, draw: () => {} };
  };
}
