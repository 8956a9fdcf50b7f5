// Live regions: every element marked with {% live %} follows its topic's socket and applies the
// Turbo Stream elements the server sends for it (append, prepend, replace, update, remove,
// before, after, refresh). Resuming, backoff and reloads are realtime.js's; replaced content is
// morphed with idiomorph, so focus, scroll and what the user typed stay.
import { Idiomorph } from "./idiomorph.esm.js";
import { subscribe } from "./realtime.js";

const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline", stopped: "Not live", reloading: "Reloading…" };
// A burst of refreshes costs one fetch per region.
const REFRESH_DEBOUNCE_MS = 150;

/** A stream frame's text as a frame realtime.js can resume from: its elements and its cursor. */
function parse(text) {
  const holder = document.createElement("template");
  holder.innerHTML = text;
  const streams = [...holder.content.querySelectorAll("turbo-stream")];
  if (!streams.length) throw new Error("no turbo-stream element");
  return { type: "turbo_stream", kwargs: {}, streams, cursor: streams[streams.length - 1].dataset.cursor || "" };
}

/** A copy of a stream's template content (text included). */
function fragmentOf(stream) {
  const template = stream.querySelector("template");
  return template ? template.content.cloneNode(true) : document.createDocumentFragment();
}

/** The top-level elements of a stream's template. */
function contentOf(stream) {
  return [...fragmentOf(stream).children];
}

function morph(target, element) {
  Idiomorph.morph(target, element, { morphStyle: "outerHTML" });
}

/** An element whose id is already on the page is morphed in place: applying twice changes nothing. */
function insert(elements, place) {
  for (const element of elements) {
    const existing = element.id && document.getElementById(element.id);
    if (existing) morph(existing, element);
    else place(element);
  }
}

const ACTIONS = {
  append: (target, elements) => insert(elements, (el) => target.append(el)),
  prepend: (target, elements) => insert([...elements].reverse(), (el) => target.prepend(el)),
  before: (target, elements) => insert(elements, (el) => target.before(el)),
  after: (target, elements) => insert([...elements].reverse(), (el) => target.after(el)),
  replace(target, elements) {
    if (elements.length === 1) morph(target, elements[0]);
    else target.replaceWith(...elements);
  },
  update(target, elements, stream) {
    Idiomorph.morph(target, fragmentOf(stream), { morphStyle: "innerHTML" });
  },
  remove: (target) => target.remove(),
};

const refreshes = new Map();

/** Fetch the page again and morph the target element (or the region) in. */
function refresh(region, id) {
  clearTimeout(refreshes.get(id));
  refreshes.set(
    id,
    setTimeout(async () => {
      refreshes.delete(id);
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const current = id ? document.getElementById(id) : region;
      const replacement = id ? fresh.getElementById(id) : fresh.querySelector(`[data-live="${CSS.escape(region.dataset.live)}"]`);
      if (current && replacement) morph(current, replacement);
    }, REFRESH_DEBOUNCE_MS),
  );
}

function apply(region, stream) {
  const action = stream.getAttribute("action");
  const id = stream.getAttribute("target");
  if (action === "refresh") return refresh(region, id);
  const target = document.getElementById(id);
  const run = ACTIONS[action];
  if (!run) return console.warn("live: unknown stream action %s", action);
  if (target) run(target, contentOf(stream), stream);
}

/**
 * Apply Turbo Stream elements that came some other way (a fetch response, say), as Turbo's
 * `renderStreamMessage` does. `refresh` morphs in the element of the page's first live region.
 */
export function renderStreamMessage(text) {
  const region = document.querySelector("[data-live]") || document.body;
  for (const stream of parse(text).streams) apply(region, stream);
}

function showState(state) {
  for (const status of document.querySelectorAll("[data-live-status]")) {
    status.dataset.state = state;
    const label = status.querySelector("[data-live-label]");
    if (label) label.textContent = LABELS[state] || state;
  }
  document.dispatchEvent(new CustomEvent("live:state", { detail: state }));
}

/** The region a stream belongs to: the one holding its target, else the first of the socket's. */
function regionOf(regions, stream) {
  const target = document.getElementById(stream.getAttribute("target"));
  return regions.find((region) => region.contains(target)) || regions[0];
}

/** One socket for regions that follow one topic from one render (same socket, same cursor). */
function follow(regions) {
  const names = [...new Set(regions.map((region) => region.dataset.live))];
  subscribe({
    path: regions[0].dataset.socket + "?live=" + names.map(encodeURIComponent).join(","),
    cursor: regions[0].dataset.cursor,
    parse,
    handlers: {
      // Events that changed nothing here: the frame only moves the cursor a reconnect resumes from.
      cursor() {},
      turbo_stream(kwargs, frame) {
        for (const stream of frame.streams) {
          try {
            apply(regionOf(regions, stream), stream);
          } catch (error) {
            console.error("live: applying %s failed", stream.getAttribute("action"), error);
          }
        }
      },
    },
    onState: showState,
    onStop(why) {
      if (why === "forbidden" || why === "gone") {
        for (const notice of document.querySelectorAll("[data-live-stopped]")) notice.hidden = false;
      }
    },
  });
}

// Regions read in one snapshot resume from one cursor, so those on one topic share a socket;
// regions rendered apart (another cursor) cannot, as a cursor is opaque to the page.
const sockets = new Map();
for (const region of document.querySelectorAll("[data-live]")) {
  const key = region.dataset.socket + " " + region.dataset.cursor;
  sockets.set(key, [...(sockets.get(key) || []), region]);
}
for (const regions of sockets.values()) follow(regions);
