// The study viewer: the arrow keys follow the page's previous and next links.
"use strict";

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.target instanceof Element && event.target.closest("input, textarea, select, [contenteditable]")) return;
  const which = { ArrowLeft: "prev", ArrowRight: "next" }[event.key];
  if (!which) return;
  if (window.hvgenPageInPlace && window.hvgenPageInPlace(which)) {
    event.preventDefault(); // the image view pages without loading the page again
    return;
  }
  const link = document.querySelector(`a[data-key="${which}"]`);
  if (link) {
    event.preventDefault();
    window.location.assign(link.href);
  }
});

// The image view (a series page): frames rendered by the server, stepped or played
// at the file's frame time, the window chosen from the file's presets or dragged,
// zoom and pan. Frames of the current window are asked for ahead of time, so that
// stepping and cine show frames the browser already has.
(() => {
  const view = document.getElementById("imageview");
  if (!view) return;
  const img = document.getElementById("frame");
  const viewport = document.getElementById("viewport");
  const frames = Number(view.dataset.frames) || 1;
  let frameMs = Math.max(1, Number(view.dataset.frameMs) || 100);
  let [rangeCenter, rangeWidth] = view.dataset.range.split(",").map(Number);
  const range = document.getElementById("frame-range");
  const cine = document.getElementById("cine");
  const preset = document.getElementById("window-preset");
  const position = document.getElementById("frame-position");
  const windowNow = document.getElementById("window-now");
  const problem = document.getElementById("frame-error");
  const state = { frame: 1, window: null, zoom: 1, x: 0, y: 0, timer: null };
  const loaded = new Map(); // url -> Image, kept while the window stays
  const AHEAD = 8;

  const url = (frame, win) =>
    `${view.dataset.src}&frame=${frame}` + (win ? `&window=${win[0].toFixed(2)},${win[1].toFixed(2)}` : "");

  function prefetch(from) {
    const n = Number(view.dataset.frames) || 1;
    for (let k = 1; k <= Math.min(AHEAD, n - 1); k++) {
      const frame = ((from - 1 + k) % n) + 1;
      const u = url(frame, state.window);
      if (!loaded.has(u)) {
        const im = new Image();
        im.src = u;
        loaded.set(u, im);
      }
    }
  }

  function show() {
    const u = url(state.frame, state.window);
    if (img.getAttribute("src") !== u) img.src = u;
    img.alt = img.alt.replace(/frame \d+ of/, `frame ${state.frame} of`);
    if (range) range.value = String(state.frame);
    position.firstChild.textContent = position.firstChild.textContent.replace(/frame \d+ of/, `frame ${state.frame} of`);
    windowNow.textContent = state.window
      ? `window: center ${state.window[0].toFixed(1)}, width ${state.window[1].toFixed(1)}`
      : "window: from the file";
    view.dataset.frame = String(state.frame);
    view.dataset.window = state.window ? state.window.map((v) => v.toFixed(2)).join(",") : "";
    prefetch(state.frame);
  }

  function step(by) {
    const n = Number(view.dataset.frames) || 1;
    state.frame = ((state.frame - 1 + by + n) % n) + 1;
    show();
  }

  function transform() {
    img.style.transform = `translate(${state.x}px, ${state.y}px) scale(${state.zoom})`;
  }

  let fitted = false;
  const fit = () => {
    const w = img.offsetWidth || img.naturalWidth; // the image's own size (its width and height attributes)
    const h = img.offsetHeight || img.naturalHeight;
    const scale = Math.min(viewport.clientWidth / w, viewport.clientHeight / h);
    state.zoom = Number.isFinite(scale) && scale > 0 ? scale : 1;
    state.x = state.y = 0;
    transform();
  };
  const loadedNow = () => {
    if (!fitted) {
      fitted = true;
      fit();
    }
    problem.hidden = true;
    view.dataset.loaded = img.getAttribute("src");
  };
  img.addEventListener("load", loadedNow);
  img.addEventListener("error", () => {
    problem.hidden = false;
    document.getElementById("frame-error-link").href = img.getAttribute("src");
  });
  document.getElementById("frame-prev")?.addEventListener("click", () => step(-1));
  document.getElementById("frame-next")?.addEventListener("click", () => step(1));
  range?.addEventListener("input", () => {
    state.frame = Number(range.value);
    show();
  });
  cine?.addEventListener("click", () => {
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = null;
      cine.textContent = "Play";
      cine.setAttribute("aria-pressed", "false");
      return;
    }
    cine.textContent = "Pause";
    cine.setAttribute("aria-pressed", "true");
    const tick = () => {
      // the next frame is shown once the browser has it, at the file's frame time at most
      const next = url((state.frame % (Number(view.dataset.frames) || 1)) + 1, state.window);
      const ready = loaded.get(next);
      if (!ready || ready.complete) step(1);
      else prefetch(state.frame);
      state.timer = setTimeout(tick, frameMs);
    };
    state.timer = setTimeout(tick, frameMs);
  });
  preset.addEventListener("change", () => {
    state.window = preset.value ? preset.value.split(",").map(Number) : null;
    loaded.clear();
    show();
  });

  // Dragging: the window (right: wider, down: higher center) or the image's place.
  let drag = null;
  viewport.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    const mode = document.querySelector("input[name=drag]:checked")?.value || "window";
    const base = state.window || (preset.options.length > 1 ? preset.options[1].value.split(",").map(Number) : [rangeCenter, rangeWidth]);
    drag = { mode, x0: event.clientX, y0: event.clientY, base, px: state.x, py: state.y };
    viewport.setPointerCapture(event.pointerId);
  });
  viewport.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x0;
    const dy = event.clientY - drag.y0;
    if (drag.mode === "pan") {
      state.x = drag.px + dx;
      state.y = drag.py + dy;
      transform();
    }
  });
  const end = (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x0;
    const dy = event.clientY - drag.y0;
    if (drag.mode === "window" && (dx || dy)) {
      const scale = Math.max(drag.base[1], 1) / 256;
      state.window = [drag.base[0] + dy * scale, Math.max(1, drag.base[1] + dx * scale * 2)];
      preset.value = "";
      loaded.clear();
      show();
    }
    drag = null;
  };
  viewport.addEventListener("pointerup", end);
  viewport.addEventListener("pointercancel", () => {
    drag = null;
  });
  const zoom = (factor) => {
    state.zoom = Math.min(16, Math.max(0.125, state.zoom * factor));
    transform();
  };
  document.getElementById("zoom-in").addEventListener("click", () => zoom(1.25));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(0.8));
  document.getElementById("zoom-reset").addEventListener("click", () => {
    state.zoom = 1;
    state.x = state.y = 0;
    transform();
  });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  viewport.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target instanceof Element && event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      event.preventDefault();
      step(event.key === "ArrowDown" ? 1 : -1);
    }
  });
  // Paging through the series in place: the image's frames are swapped, the links and the
  // address follow (history.replaceState), and the neighbours' first frames are fetched ahead.
  const listed = document.getElementById("series-images");
  const images = listed ? JSON.parse(listed.textContent) : [];
  const pager = document.querySelector("nav.pager");
  const here = new URL(window.location.href);
  state.image = Number(here.searchParams.get("image")) || 1;
  let frameCount = frames;
  const imageUrl = (k, frame) => `${images[k - 1].src}&frame=${frame}`;
  const neighbours = () => {
    for (const k of [state.image - 1, state.image + 1]) {
      if (k >= 1 && k <= images.length && !loaded.has(imageUrl(k, 1))) {
        const im = new Image();
        im.src = imageUrl(k, 1);
        loaded.set(imageUrl(k, 1), im);
      }
    }
  };
  const button = (which, k) => {
    const label = which === "prev" ? "← Previous" : "Next →";
    if (k < 1 || k > images.length) {
      const off = document.createElement("span");
      off.className = "button off";
      off.textContent = label;
      return off;
    }
    const a = document.createElement("a");
    Object.assign(a, { className: "button quiet", id: which, rel: which, href: `?image=${k}`, textContent: label });
    a.dataset.key = which;
    a.addEventListener("click", (event) => {
      event.preventDefault();
      pageTo(k);
    });
    return a;
  };
  function pageTo(k) {
    if (!images.length || k < 1 || k > images.length) return false;
    state.image = k;
    state.frame = 1;
    frameCount = images[k - 1].frames;
    view.dataset.src = images[k - 1].src;
    view.dataset.frames = String(frameCount);
    if (range) range.max = String(frameCount);
    document.getElementById("position").textContent = `image ${k} of ${images.length}`;
    position.firstChild.textContent = position.firstChild.textContent.replace(/frame \d+ of \d+/, `frame 1 of ${frameCount}`);
    img.alt = img.alt.replace(/^Image \d+/, `Image ${k}`).replace(/of \d+$/, `of ${frameCount}`);
    pager.children[0].replaceWith(button("prev", k - 1));
    pager.children[pager.children.length - 1].replaceWith(button("next", k + 1));
    const download = document.getElementById("image-download");
    download.href = images[k - 1].download;
    download.textContent = `Download this image (DICOM, ${images[k - 1].size})`;
    document.getElementById("tags-link").href = `${here.pathname}/tags?image=${k}`;
    document.getElementById("frame-controls").hidden = frameCount < 2;
    const full = document.getElementById("full-link");
    if (full) {
      full.hidden = !images[k - 1].full;
      full.href = images[k - 1].full || "#";
    }
    here.searchParams.set("image", String(k));
    history.replaceState(null, "", here.pathname + here.search);
    document.title = document.title.replace(/image \d+ of/, `image ${k} of`);
    state.window = null; // as a reload shows the image: its own window until its presets come
    preset.value = "";
    show();
    neighbours();
    fetch(`${here.pathname}/info?image=${k}`, { credentials: "same-origin" })
      .then((answer) => (answer.ok ? answer.json() : null))
      .then((info) => {
        if (info && state.image === k) takeInfo(info);
      })
      .catch(() => {});
    return true;
  }
  // Each image's own presets, frame time and value range (imageinfo.py), as a reload would show them.
  function takeInfo(info) {
    frameMs = Math.max(1, Number(info.frame_ms) || 100);
    [rangeCenter, rangeWidth] = info.range.map(Number);
    view.dataset.frameMs = frameMs.toFixed(3);
    view.dataset.range = `${rangeCenter},${rangeWidth}`;
    const keep = preset.options[0];
    preset.replaceChildren(keep);
    for (const p of info.presets) {
      const option = document.createElement("option");
      option.value = `${p.center},${p.width}`;
      option.textContent = `${p.label} (${p.center} / ${p.width})`;
      preset.append(option);
    }
    preset.value = "";
    const text = position.firstChild.textContent;
    const cut = text.indexOf(" · cine");
    if (cut >= 0) {
      const rate = Math.round(10000 / frameMs) / 10;
      const none = info.frame_time_from ? "" : " (the file gives no frame time)";
      position.firstChild.textContent = `${text.slice(0, cut)} · cine ${rate} frames/s${none}`;
    }
    view.dataset.infoFor = String(state.image);
  }
  if (images.length) {
    window.hvgenPageInPlace = (which) => pageTo(state.image + (which === "next" ? 1 : -1));
    for (const which of ["prev", "next"]) {
      const a = document.getElementById(which);
      if (a) a.replaceWith(button(which, state.image + (which === "next" ? 1 : -1)));
    }
  }

  // the stored preview is shown first: the rendered frames follow once it is there
  if (img.complete) {
    if (img.naturalWidth > 0) loadedNow(); // loaded before this script ran
    show();
  } else {
    img.addEventListener("load", show, { once: true });
    img.addEventListener("error", show, { once: true });
  }
})();
