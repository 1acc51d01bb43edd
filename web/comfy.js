// The frontend's app and api objects, whichever way this frontend offers them.
// 1.32 and 1.58 both ship the scripts/*.js shims; window.comfyAPI is the object behind them and is
// the fallback if a future frontend drops the shims. A failed import must not stop the graph loading.

async function fromShim(path, name) {
  try {
    return (await import(path))[name];
  } catch {
    return undefined;
  }
}

export const app = window.comfyAPI?.app?.app ?? (await fromShim("../../scripts/app.js", "app"));
export const api = window.comfyAPI?.api?.api ?? (await fromShim("../../scripts/api.js", "api"));

export const NODE_PREFIX = "LumaFal";

export function isLumaFalType(type) {
  return typeof type === "string" && type.startsWith(NODE_PREFIX);
}

// GET/POST through the frontend's fetchApi (adds the /api prefix and any auth headers) with a plain
// fetch fallback. Never throws: an old or missing Python side shows up as { ok: false }.
export async function request(path, init = {}) {
  try {
    const response = api?.fetchApi ? await api.fetchApi(path, init) : await fetch(path, init);
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { ok: response.ok, status: response.status, body };
  } catch (error) {
    return { ok: false, status: 0, body: null, error: String(error?.message ?? error) };
  }
}

export function redraw(node) {
  (node?.graph ?? app?.graph)?.setDirtyCanvas?.(true, true);
  app?.canvas?.setDirty?.(true, true);
}
