// Result preview: core frontends already show image outputs and, for outputs marked "animated" that
// are not webp/png, a <video> widget. Here the video is made to play muted and looping, and a video
// widget of our own is added only when this frontend showed none.

import { isLumaFalType } from "./comfy.js";

const VIDEO_EXTENSIONS = /\.(mp4|webm|mov|mkv)$/i;
const OWN_WIDGET = "luma_fal_video";
const WAIT_FOR_CORE_MS = 4000;
const WATCH_MS = 60000; // how long a late core widget is still looked for

export function viewUrl(file) {
  const params = new URLSearchParams({
    filename: file.filename ?? "",
    type: file.type ?? "output",
    subfolder: file.subfolder ?? "",
  });
  return `/api/view?${params}`;
}

export function videoOutputs(output) {
  if (!output?.animated?.some?.(Boolean)) return [];
  return (output.images ?? []).filter((f) => typeof f?.filename === "string" && VIDEO_EXTENSIONS.test(f.filename));
}

function nodeVideos(node) {
  const found = [];
  for (const widget of node.widgets ?? []) {
    const el = widget.element;
    if (!el) continue;
    if (el.tagName === "VIDEO") found.push(el);
    else found.push(...el.querySelectorAll?.("video") ?? []);
  }
  if (node.videoContainer?.querySelectorAll) found.push(...node.videoContainer.querySelectorAll("video"));
  return [...new Set(found)];
}

function autoplayMuted(video) {
  video.muted = true;
  video.loop = true;
  video.autoplay = true;
  video.playsInline = true;
  video.play?.()?.catch?.(() => {}); // autoplay may be refused before a user gesture; controls remain
}

function showOwnVideo(node, file) {
  const src = viewUrl(file);
  let widget = node.widgets?.find((w) => w.name === OWN_WIDGET);
  if (!widget) {
    if (typeof node.addDOMWidget !== "function") return;
    const video = document.createElement("video");
    video.controls = true;
    video.style.width = "100%";
    video.style.maxHeight = "100%";
    widget = node.addDOMWidget(OWN_WIDGET, "video", video, { serialize: false, hideOnZoom: false });
    widget.serialize = false;
  }
  const video = widget.element.tagName === "VIDEO" ? widget.element : widget.element.querySelector("video");
  if (video.getAttribute("src") !== src) video.src = src;
  autoplayMuted(video);
  node.setSize?.([node.size[0], Math.max(node.size[1], node.computeSize?.()[1] ?? 0)]);
}

export async function onVideoExecuted(node, output) {
  if (!isLumaFalType(node?.type ?? node?.comfyClass)) return;
  const files = videoOutputs(output);
  if (!files.length) return;
  const file = files[0];
  node.lumaFal ??= {};
  node.lumaFal.lastVideo = file;
  node.lumaFal.preview = null;
  const started = performance.now();
  const showsFile = (v) => (v.currentSrc || v.src || "").includes(encodeURIComponent(file.filename));
  // The core widget loads asynchronously (after the video's first frame; on a busy machine after seconds):
  // ours is added when none came within WAIT_FOR_CORE_MS, and one that comes later still plays muted.
  while (node.lumaFal.lastVideo === file && performance.now() - started < WATCH_MS) {
    const videos = nodeVideos(node).filter(showsFile);
    videos.filter((v) => !v.muted || !v.loop).forEach(autoplayMuted);
    if (!node.lumaFal.preview && videos.length) node.lumaFal.preview = "core";
    if (!node.lumaFal.preview && performance.now() - started >= WAIT_FOR_CORE_MS) {
      showOwnVideo(node, file);
      node.lumaFal.preview = "own";
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}
