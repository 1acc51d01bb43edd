// Live run status on the node, fed by the pack's "luma_fal.status" websocket events.

import { api, app, isLumaFalType, redraw } from "./comfy.js";

export const STATUS_EVENT = "luma_fal.status";
const FINAL_PHASES = new Set(["done", "error", "cancelled"]);
const LOG_LINES_SHOWN = 3;
const TAKE_LINES_SHOWN = 8;

function findNode(executionId) {
  const graph = app?.graph;
  if (!graph || executionId == null) return null;
  const id = String(executionId);
  // Newer frontends resolve subgraph paths such as "12:5"; plain ids work everywhere.
  const node = app.getNodeByExecutionId?.(id) ?? graph.getNodeById?.(id) ?? graph.getNodeById?.(Number(id));
  return node && isLumaFalType(node.type ?? node.comfyClass) ? node : null;
}

function seconds(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${Math.round(value)}s` : null;
}

// The lines drawn on the node: the Python side's summary (or one built from the fields when an
// older/other sender gives none), a node with several takes one line per unfinished take ("take 3:
// In queue, position 2"), then the newest log lines not already in it.
export function statusLines(status) {
  let head = typeof status.text === "string" && status.text ? status.text : "";
  if (!head) {
    const parts = [status.phase || "running"];
    if (typeof status.queue_position === "number") parts.push(`queue position ${status.queue_position}`);
    const queued = seconds(status.elapsed_queue);
    const running = seconds(status.elapsed_run);
    if (queued) parts.push(`queued ${queued}`);
    if (running) parts.push(`running ${running}`);
    head = parts.join(" · ");
  }
  if (typeof status.fraction === "number" && !head.includes("%")) head += ` · ${Math.round(status.fraction * 100)}%`;
  // What fal's live schema made the pack leave out of this run (rules/schema_drops.py): kept all run long.
  const notice = typeof status.notice === "string" && status.notice && status.notice !== head ? [status.notice] : [];
  const logs = Array.isArray(status.logs) ? status.logs.map(String).filter((line) => line && !head.includes(line)) : [];
  const takes = Array.isArray(status.take_lines) ? status.take_lines.map(String) : [];
  const more = takes.length > TAKE_LINES_SHOWN ? [`+${takes.length - TAKE_LINES_SHOWN} more takes`] : [];
  return [head, ...notice, ...takes.slice(0, TAKE_LINES_SHOWN), ...more, ...logs.slice(-LOG_LINES_SHOWN)];
}

function setStatus(node, status) {
  node.lumaFal ??= {};
  node.lumaFal.status = status;
  node.lumaFal.statusLines = status ? statusLines(status) : null;
  redraw(node);
}

function clearAll() {
  for (const node of app?.graph?._nodes ?? app?.graph?.nodes ?? []) {
    // A refusal (nothing was sent) stays on its node until that node runs again.
    if (node.lumaFal?.status && node.lumaFal.status.phase !== "refused") setStatus(node, null);
  }
}

export function listenForStatus() {
  if (!api?.addEventListener) return;
  api.addEventListener(STATUS_EVENT, (event) => {
    const data = event?.detail;
    if (!data || typeof data !== "object") return;
    const node = findNode(data.node);
    if (!node) return;
    node.lumaFal ??= {};
    if (node.lumaFal.noticePrompt !== data.prompt_id) node.lumaFal.notice = null; // a new run of this node
    node.lumaFal.noticePrompt = data.prompt_id;
    if (typeof data.notice === "string" && data.notice) node.lumaFal.notice = data.notice;
    setStatus(node, FINAL_PHASES.has(data.phase) ? null : { ...data, notice: node.lumaFal.notice });
  });
  // Safety net when a final status event never arrives (server restart, older Python side).
  for (const name of ["execution_success", "execution_error", "execution_interrupted"]) {
    api.addEventListener(name, clearAll);
  }
}

// Drawn below the node so it never hides widgets; only while a status is set.
export function drawStatus(node, ctx) {
  const lines = node.lumaFal?.statusLines;
  if (!lines?.length || node.flags?.collapsed) return;
  const lineHeight = 15;
  const pad = 6;
  const width = node.size[0];
  const top = node.size[1] + 6;
  ctx.save();
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "rgba(20, 24, 32, 0.9)";
  roundedBox(ctx, 0, top, width, lines.length * lineHeight + pad * 2, 6);
  ctx.fill();
  lines.forEach((line, i) => {
    ctx.fillStyle = i === 0 ? "#9fd3ff" : "#c8c8c8";
    ctx.fillText(fitText(ctx, line, width - pad * 2), pad, top + pad + 11 + i * lineHeight);
  });
  ctx.restore();
  node.lumaFal.drawnStatus = lines.join("\n");
}

export function roundedBox(ctx, x, y, w, h, r) {
  ctx.beginPath();
  if (ctx.roundRect) ctx.roundRect(x, y, w, h, r);
  else ctx.rect(x, y, w, h);
}

export function fitText(ctx, text, maxWidth) {
  if (ctx.measureText(text).width <= maxWidth) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText(cut + "…").width > maxWidth) cut = cut.slice(0, -1);
  return cut + "…";
}
