// Spend limits and balance in ComfyUI's settings dialog (Settings → Luma (fal) → Spend limits).
// The limits are stored on the server (user/comfyui-luma-fal/money.json, via POST /luma_fal/money),
// never as frontend settings values; environment variables set for the server win and are shown
// read-only. The panel also shows the fal balance (when the key may read it), today's spend, and
// where prices and schemas come from, with a button to fetch fal's current documents now.

import { request } from "./comfy.js";
import { loadPrices, money } from "./price.js";

export const MONEY_SETTING_ID = "LumaFal.SpendLimits";
const MONEY_ROUTE = "/luma_fal/money";
const BALANCE_ROUTE = "/luma_fal/balance";
const REFRESH_ROUTE = "/luma_fal/fal_docs/refresh";

const FIELDS = [
  ["max_run_usd", "Per-run cap (USD)", "LUMA_FAL_MAX_RUN_USD", "refuse a run whose estimate is above this"],
  ["daily_budget_usd", "Daily budget (USD)", "LUMA_FAL_DAILY_BUDGET_USD", "today's spend plus the prompt's runs must stay within it"],
  ["balance_floor_usd", "Balance floor (USD)", "LUMA_FAL_BALANCE_FLOOR_USD", "refuse runs that would take the fal balance below it"],
];

const CONTROL_STYLE = {
  padding: "3px 8px", borderRadius: "6px", border: "1px solid var(--border-color, #4e4e4e)",
  background: "var(--comfy-input-bg, #222)", color: "var(--input-text, #ddd)", font: "inherit",
};

function element(tag, props = {}, style = {}) {
  const el = Object.assign(document.createElement(tag), props);
  Object.assign(el.style, style);
  return el;
}

export function describeBalance(body) {
  if (!body) return "Balance: the pack's server side did not answer.";
  if (body.available) return `fal balance: ${money(body.usd)}${body.currency && body.currency !== "USD" ? " " + body.currency : ""}`;
  if (body.refused) return `fal balance: not available to this key. ${body.message}`;
  return `fal balance: unknown (${body.message || "no answer"})`;
}

function describeDocuments(docs) {
  if (!docs) return "";
  const schemas = Object.values(docs.schemas ?? {}).map((s) => s.source);
  const unique = [...new Set(schemas)].join(", ");
  return `Prices: ${docs.prices?.source ?? "?"}${docs.prices?.error ? ` (last fetch: ${docs.prices.error})` : ""}. Schemas: ${unique}.`;
}

export function renderMoneySetting() {
  const root = element("div", { className: "luma-fal-money" }, { display: "flex", flexDirection: "column", gap: "6px", minWidth: "360px" });
  const inputs = {};
  for (const [name, label, env, hint] of FIELDS) {
    const row = element("label", { title: `${hint}; empty = no limit; ${env} overrides` }, { display: "flex", gap: "8px", alignItems: "center" });
    const input = element("input", { type: "number", min: "0", step: "0.01", placeholder: "no limit", className: `luma-fal-money-${name} p-inputtext` }, { ...CONTROL_STYLE, width: "8em" });
    inputs[name] = input;
    row.append(element("span", { textContent: label }, { minWidth: "11em" }), input);
    root.append(row);
  }
  const policyRow = element("label", {}, { display: "flex", gap: "8px", alignItems: "center" });
  const policy = element("select", { className: "luma-fal-money-unknown_price" }, CONTROL_STYLE);
  for (const value of ["warn", "refuse"]) policy.append(element("option", { value, textContent: value }));
  inputs.unknown_price = policy;
  policyRow.append(element("span", { textContent: "When a price is unknown" }, { minWidth: "11em" }), policy);
  const buttons = element("div", {}, { display: "flex", gap: "6px" });
  const save = element("button", { type: "button", textContent: "Save limits", className: "luma-fal-money-save p-button p-button-sm" }, { ...CONTROL_STYLE, cursor: "pointer" });
  const refresh = element("button", { type: "button", textContent: "Fetch fal's prices now", className: "luma-fal-money-refresh p-button p-button-sm p-button-secondary" }, { ...CONTROL_STYLE, cursor: "pointer" });
  buttons.append(save, refresh);
  const spent = element("div", { className: "luma-fal-money-spent" });
  const balance = element("div", { className: "luma-fal-money-balance", textContent: "fal balance: checking…" });
  const docs = element("div", { className: "luma-fal-money-docs" }, { fontSize: "0.85em", opacity: "0.85" });
  const message = element("div", { className: "luma-fal-money-message" }, { fontSize: "0.85em" });
  root.append(policyRow, buttons, spent, balance, docs, message);

  const show = (state) => {
    if (!state) {
      message.textContent = "The Luma (fal) pack's server side did not answer.";
      return;
    }
    if (state.error) message.textContent = state.error;
    for (const name of [...FIELDS.map((f) => f[0]), "unknown_price"]) {
      const fromEnv = state.origins?.[name] === "env";
      const value = fromEnv ? state[name] : state.stored?.[name];
      inputs[name].value = value == null ? (name === "unknown_price" ? "warn" : "") : String(value);
      inputs[name].disabled = fromEnv;
      inputs[name].title = fromEnv ? "set by the server's environment; change it there" : "";
    }
    spent.textContent = `Spent today (estimates of finished runs): ${money(Number(state.spent_today ?? 0))}`;
    if (state.documents) docs.textContent = describeDocuments(state.documents);
  };

  const load = async () => {
    const res = await request(MONEY_ROUTE, { cache: "no-store" });
    show(res.ok ? res.body : null);
    const bal = await request(`${BALANCE_ROUTE}?fresh=1`, { cache: "no-store" }); // opening the panel asks fal again
    balance.textContent = describeBalance(bal.ok ? bal.body : null);
    balance.dataset.available = String(!!bal.body?.available);
  };

  save.addEventListener("click", async () => {
    const body = {};
    for (const [name] of FIELDS) if (!inputs[name].disabled) body[name] = inputs[name].value.trim() || null;
    if (!inputs.unknown_price.disabled) body.unknown_price = inputs.unknown_price.value;
    const res = await request(MONEY_ROUTE, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    message.textContent = res.ok ? "Limits saved." : res.body?.error ?? `Could not save (HTTP ${res.status}).`;
    if (res.ok) {
      show(res.body);
      await loadPrices();
    }
  });

  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    const res = await request(REFRESH_ROUTE, { method: "POST" });
    refresh.disabled = false;
    if (res.ok) docs.textContent = describeDocuments(res.body);
    await loadPrices();
  });

  load();
  return root;
}

export const moneySetting = {
  id: MONEY_SETTING_ID,
  category: ["Luma (fal)", "fal", "spend limits"],
  name: "Spend limits and balance",
  tooltip: "Stored in ComfyUI's user folder on the server (comfyui-luma-fal/money.json); LUMA_FAL_* environment variables win.",
  type: () => renderMoneySetting(),
  defaultValue: "",
};
