// comfyui-luma-fal browser extension: price badge before a run, live status during it, the result
// after it, the fal key and spend-limit settings, and the inbox of journaled requests (inbox.js). It
// touches only nodes whose type starts with "LumaFal", and every server call is guarded, so a missing or
// older Python side leaves the rest of the graph alone.

import { app, isLumaFalType } from "./comfy.js";
import { drawPrice, loadPrices, priceBadge, priceTable, startPriceReload } from "./price.js";
import { moneySetting } from "./money_settings.js";
import { drawStatus, listenForStatus } from "./status.js";
import { drawSchemaDrops } from "./schema_drops.js";
import { onVideoExecuted } from "./preview.js";
import { addLegacyKeySetting, keySetting } from "./settings.js";
import { registerInbox } from "./inbox.js";

function chain(proto, name, after) {
  const before = proto[name];
  proto[name] = function (...args) {
    const result = before?.apply(this, args);
    try {
      after.apply(this, args);
    } catch (error) {
      console.warn(`[comfyui-luma-fal] ${name}:`, error);
    }
    return result;
  };
}

app?.registerExtension?.({
  name: "comfyui-luma-fal",
  settings: [keySetting, moneySetting],

  // Awaited before the frontend draws a node: its badge then has the price table from the start.
  async init() {
    await loadPrices();
  },

  async setup() {
    listenForStatus();
    addLegacyKeySetting();
    try {
      registerInbox();
    } catch (error) {
      console.warn("[comfyui-luma-fal] inbox:", error);
    }
    if (!app?.extensionManager) app?.ui?.settings?.addSetting?.(moneySetting);
    if (priceTable() === null) await loadPrices();
    startPriceReload();
    app.graph?.setDirtyCanvas?.(true, true);
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!isLumaFalType(nodeData?.name)) return;
    chain(nodeType.prototype, "onNodeCreated", function () {
      if (Array.isArray(this.badges)) this.badges.push(priceBadge(this));
    });
    chain(nodeType.prototype, "onDrawForeground", function (ctx) {
      drawPrice(this, ctx);
      drawSchemaDrops(this, ctx);
      drawStatus(this, ctx);
    });
    chain(nodeType.prototype, "onExecuted", function (output) {
      onVideoExecuted(this, output);
    });
  },
});
