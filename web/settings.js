// The fal key setting: shows whether the server has a key (never the key itself) and lets the user
// store, replace or remove the server-side key file. The typed key goes straight to the pack's route
// and is cleared from the field; it is never a setting value, so it never reaches ComfyUI's settings file.

import { app, request } from "./comfy.js";

export const KEY_SETTING_ID = "LumaFal.FalKey";
const KEY_ROUTE = "/luma_fal/key";

function describe(status) {
  if (!status) return "Unknown: the Luma (fal) pack's server side did not answer (is it installed and up to date?)";
  if (!status.configured) return "No fal key configured. Paste one below, or set FAL_KEY for the ComfyUI server.";
  if (status.source === "env") return "A fal key is configured by the server's environment (FAL_KEY).";
  return "A fal key is stored on the server.";
}

// Frontend themes set these CSS variables; the fallbacks keep the controls legible without them.
const CONTROL_STYLE = {
  padding: "4px 10px",
  borderRadius: "6px",
  border: "1px solid var(--border-color, #4e4e4e)",
  background: "var(--comfy-input-bg, #222)",
  color: "var(--input-text, #ddd)",
  font: "inherit",
};

function element(tag, props = {}, style = {}) {
  const el = Object.assign(document.createElement(tag), props);
  Object.assign(el.style, style);
  return el;
}

export function renderKeySetting() {
  const root = element("div", { className: "luma-fal-key" }, { display: "flex", flexDirection: "column", gap: "6px", minWidth: "320px" });
  const state = element("div", { className: "luma-fal-key-state", textContent: "Checking…" });
  const row = element("div", {}, { display: "flex", gap: "6px" });
  const input = element("input", {
    type: "password",
    className: "luma-fal-key-input p-inputtext",
    placeholder: "paste a fal key (key_id:secret)",
    autocomplete: "off",
    spellcheck: false,
  }, { ...CONTROL_STYLE, flex: "1" });
  const save = element("button", { className: "luma-fal-key-save p-button p-button-sm", textContent: "Save key", type: "button" }, { ...CONTROL_STYLE, cursor: "pointer" });
  const remove = element("button", { className: "luma-fal-key-remove p-button p-button-sm p-button-secondary", textContent: "Remove stored key", type: "button" }, { ...CONTROL_STYLE, cursor: "pointer", alignSelf: "flex-start" });
  const message = element("div", { className: "luma-fal-key-message" }, { fontSize: "0.85em", opacity: "0.85" });
  row.append(input, save);
  root.append(state, row, remove, message);

  const show = (status, note = "") => {
    state.textContent = describe(status);
    state.dataset.configured = String(!!status?.configured);
    state.dataset.source = status?.source ?? "";
    remove.disabled = status?.source !== "file";
    message.textContent = note;
  };

  const refresh = async () => {
    const res = await request(KEY_ROUTE, { cache: "no-store" });
    show(res.ok ? res.body : null);
  };

  save.addEventListener("click", async () => {
    const key = input.value.trim();
    input.value = ""; // never leave the key in the page
    if (!key) {
      message.textContent = "Paste a key first.";
      return;
    }
    save.disabled = true;
    const res = await request(KEY_ROUTE, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key }),
    });
    save.disabled = false;
    if (res.ok) show(res.body, res.body?.note ?? "Key saved.");
    else message.textContent = res.body?.error ?? `Could not save the key (HTTP ${res.status}).`;
  });

  remove.addEventListener("click", async () => {
    const res = await request(KEY_ROUTE, { method: "DELETE" });
    if (res.ok) show(res.body, "Stored key removed.");
    else message.textContent = res.body?.error ?? `Could not remove the key (HTTP ${res.status}).`;
  });

  refresh();
  return root;
}

export const keySetting = {
  id: KEY_SETTING_ID,
  category: ["Luma (fal)", "fal", "key"],
  name: "fal API key",
  tooltip: "Stored in ComfyUI's user folder on the server (comfyui-luma-fal/fal_key), never in workflows.",
  // A custom-rendered setting: both frontends call type(name, setValue, value, attrs) for an element.
  // setValue is never called, so the setting itself always holds nothing.
  type: () => renderKeySetting(),
  defaultValue: "",
};

// Frontends without extension-declared settings (before 1.3) still have the legacy settings UI.
export function addLegacyKeySetting() {
  if (app?.extensionManager) return;
  app?.ui?.settings?.addSetting?.(keySetting);
}
