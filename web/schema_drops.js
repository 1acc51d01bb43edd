// What fal's live schema drops, shown on the node before a run: a connected input fal's current schema has
// no field for (e.g. reference images on Ray 3.2 text-to-video) would be left out and the result billed
// without it, so the run is refused while it is connected. The verdicts come with the price badge's table
// (GET /luma_fal/prices, "schema_drops": node type -> {input: why}), computed by the Python side from the
// same documents the run checks (nodes/comfy/rules/schema_drops.py). Drawn as an amber line above the
// node's left edge, and set as the input slot's tooltip.

import { priceTable } from "./price.js";
import { fitText, roundedBox } from "./status.js";

const COLOUR = "rgba(150, 70, 10, 0.97)";
const MAX_WIDTH = 640;

function connected(node, name) {
  const slot = (node.inputs ?? []).find((input) => input?.name === name);
  return slot && slot.link != null ? slot : null;
}

// The refusals that apply to this node now (its connected inputs fal's schema has no field for).
export function schemaDrops(node) {
  const byInput = priceTable()?.schema_drops?.[node.comfyClass ?? node.type] ?? {};
  const found = [];
  for (const [name, why] of Object.entries(byInput)) {
    const slot = connected(node, name);
    if (!slot) continue;
    slot.tooltip = why;
    found.push(why);
  }
  return found;
}

export function drawSchemaDrops(node, ctx) {
  node.lumaFal ??= {};
  const found = node.flags?.collapsed ? [] : schemaDrops(node);
  node.lumaFal.drawnSchemaDrops = found.length ? found.join("\n") : null;
  if (!found.length) return;
  const titleHeight = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
  const first = found[0];
  const text = `Refused while connected: ${first.split(":")[0]} (fal's schema has no field for it)`;
  ctx.save();
  ctx.font = "bold 12px sans-serif";
  const shown = fitText(ctx, found.length > 1 ? `${text} +${found.length - 1}` : text, MAX_WIDTH);
  const w = ctx.measureText(shown).width + 12;
  const h = 18;
  const y = -titleHeight - 2 * h - 26; // above the row the price pill may use
  ctx.fillStyle = COLOUR;
  roundedBox(ctx, 0, y, w, h, 9);
  ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.fillText(shown, 6, y + 13);
  ctx.restore();
}
