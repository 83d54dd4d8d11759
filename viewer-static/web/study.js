// Study viewer: series thumbnails, a stack of rendered images (wheel,
// keys, swipe, slider), window/level by drag, zoom and pan (ctrl+wheel,
// pinch), cine, the DICOM tag panel and the recognition stamp. It talks
// DICOMweb only: QIDO, metadata, /rendered and /thumbnail.
//
// Window/level: the server renders every window (/rendered?window=c,w) from
// the full 12- or 16-bit data, so what is shown is exact; while the mouse
// moves, a linear transfer (an SVG feComponentTransfer whose slope and
// intercept map the shown window onto the new one, the same straight line
// the server applies) previews the change at once, and the exact picture
// replaces it 150 ms after the drag pauses.
//
// Slow networks: the series thumbnail (small, fetched first) shows at once,
// then a picture rendered at the screen's size (CSS pixels x
// devicePixelRatio, capped, never above the image's own size), and the full
// resolution only once the user zooms in.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const studyUID = new URLSearchParams(location.search).get("studyUID") || "";
  const vp = $("viewport"), img = $("image"), slider = $("slider");
  const state = {
    series: null, stack: [], index: 0,
    window: null, // {c, w, fn} chosen by the user; null: the server's default
    shown: null, // window of the picture on screen, from X-Rendered-Window
    tool: matchMedia("(pointer: coarse)").matches ? "scroll" : "wl",
    zoom: 1, tx: 0, ty: 0, playing: false,
  };
  const MAX_SIDE = 2048; // cap of a screen-sized render, in device pixels
  const cache = new Map(); // "index|window" -> Promise<{src, window}>, oldest first
  const CACHE_MAX = 60;
  let showSeq = 0;
  // rendered is true once a render of the current series was put on
  // screen: thumbnails arriving later must not replace it.
  let rendered = false;

  const status = (text) => { $("viewer-status").textContent = text || ""; };
  const winParam = () => (state.window ? [Math.round(state.window.c), Math.round(state.window.w), state.window.fn].join(",") : "");
  function parseWindow(s) {
    const p = (s || "").split(",");
    return p.length >= 2 ? { c: +p[0], w: +p[1], fn: (p[2] || "LINEAR").toLowerCase().replace(/_/g, "-") } : null;
  }

  // size is the render size for the current zoom: "" (full resolution)
  // once zoomed in, else the viewport in device pixels, capped and never
  // larger than the image (the server would scale it up).
  function size(it) {
    if (state.zoom > 1.1) return "";
    const dpr = Math.min(3, window.devicePixelRatio || 1);
    let w = Math.round(Math.max(1, vp.clientWidth) * dpr), h = Math.round(Math.max(1, vp.clientHeight) * dpr);
    const k = Math.min(1, MAX_SIDE / Math.max(w, h));
    w = Math.round(w * k);
    h = Math.round(h * k);
    if (it.cols && it.rows && w >= it.cols && h >= it.rows) return "";
    return w + "," + h;
  }

  function itemPath(it) {
    const base = "/studies/" + studyUID + "/series/" + state.series + "/instances/" + it.sop;
    return it.frame ? base + "/frames/" + it.frame : base;
  }

  // load returns the picture of stack item i in the current window,
  // fetched once and kept in a small LRU of blob URLs.
  function load(i) {
    const vps = size(state.stack[i]);
    const key = state.series + "|" + i + "|" + winParam() + "|" + vps;
    let p = cache.get(key);
    if (p) {
      cache.delete(key);
      cache.set(key, p);
      return p;
    }
    p = GW.image(itemPath(state.stack[i]) + "/rendered", { window: winParam(), viewport: vps })
      .then((r) => ({ ...r, quality: vps ? "screen" : "full" }));
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    while (cache.size > CACHE_MAX) {
      const [oldKey, old] = cache.entries().next().value;
      cache.delete(oldKey);
      old.then((r) => URL.revokeObjectURL(r.src), () => {});
    }
    return p;
  }

  async function show(i) {
    if (!state.stack.length) return;
    state.index = Math.max(0, Math.min(state.stack.length - 1, i));
    slider.value = state.index + 1;
    $("ov-index").textContent = "图像 Image " + (state.index + 1) + " / " + state.stack.length;
    const seq = ++showSeq;
    try {
      const r = await load(state.index);
      if (seq !== showSeq) return;
      rendered = true;
      img.src = r.src;
      await img.decode().catch(() => {});
      if (seq !== showSeq) return;
      img.style.filter = "";
      state.shown = parseWindow(r.window);
      overlays();
      vp.dataset.loaded = String(state.index + 1);
      vp.dataset.window = r.window;
      vp.dataset.quality = r.quality;
      // When the first real picture showed (Date.now), for slow-network tests.
      if (!vp.dataset.screenAt) vp.dataset.screenAt = String(Date.now());
      if (!vp.dataset.firstAt) vp.dataset.firstAt = vp.dataset.screenAt;
      status("");
      for (const d of [1, -1, 2, 3]) if (state.index + d >= 0 && state.index + d < state.stack.length) load(state.index + d).catch(() => {});
    } catch (e) {
      if (seq === showSeq) status("无法显示 Cannot show: " + e.message);
    }
    if (!$("tags").hidden) tagsSoon();
  }

  function overlays() {
    const w = state.window || state.shown;
    $("ov-window").textContent = w ? "窗宽 W " + Math.round(w.w) + " 窗位 L " + Math.round(w.c) : "彩色 Colour";
    $("ov-zoom").textContent = Math.round(state.zoom * 100) + "%";
  }

  let fullTimer = 0;
  function applyTransform() {
    img.style.transform = "translate(" + state.tx + "px, " + state.ty + "px) scale(" + state.zoom + ")";
    overlays();
    // Zoomed in on a screen-sized picture: fetch the full resolution once
    // the gesture pauses.
    clearTimeout(fullTimer);
    if (state.zoom > 1.1 && vp.dataset.quality === "screen") fullTimer = setTimeout(() => show(state.index), 250);
  }

  function zoomAt(factor, cx, cy) {
    const r = vp.getBoundingClientRect();
    const px = cx - r.left - r.width / 2, py = cy - r.top - r.height / 2;
    const z = Math.max(0.25, Math.min(16, state.zoom * factor));
    state.tx = px - (px - state.tx) * (z / state.zoom);
    state.ty = py - (py - state.ty) * (z / state.zoom);
    state.zoom = z;
    applyTransform();
  }

  function reset() {
    state.zoom = 1;
    state.tx = state.ty = 0;
    applyTransform();
  }

  // preview is the SVG filter of the window/level preview: a linear
  // transfer per colour channel, in sRGB (the values the server wrote), not
  // the linearRGB SVG filters use by default.
  const NS = "http://www.w3.org/2000/svg";
  const preview = (() => {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("width", "0");
    svg.setAttribute("height", "0");
    svg.classList.add("filters");
    const f = document.createElementNS(NS, "filter");
    f.id = "wl-preview";
    f.setAttribute("color-interpolation-filters", "sRGB");
    const ct = document.createElementNS(NS, "feComponentTransfer");
    const funcs = ["feFuncR", "feFuncG", "feFuncB"].map((n) => {
      const e = document.createElementNS(NS, n);
      e.setAttribute("type", "linear");
      ct.append(e);
      return e;
    });
    f.append(ct);
    svg.append(f);
    document.body.append(svg);
    return funcs;
  })();

  // previewWindow shows the picture rendered in window a as if in window
  // b. A linear VOI maps value x to (x - c)/w + 1/2, so the shown grey
  // y = (x - a.c)/a.w + 1/2 becomes y' = y*k + (1 - k)/2 + (a.c - b.c)/b.w
  // with k = a.w/b.w (PS3.3 C.11.2.1.2; the half-unit terms cancel).
  // MONOCHROME1 pictures are inverted, so the shift changes sign.
  function previewWindow(a, b) {
    const inv = state.stack[state.index] && state.stack[state.index].mono1 ? -1 : 1;
    const k = a.w / b.w, intercept = (1 - k) / 2 + inv * (a.c - b.c) / b.w;
    for (const e of preview) {
      e.setAttribute("slope", k.toFixed(5));
      e.setAttribute("intercept", intercept.toFixed(5));
    }
    img.style.filter = "url(#wl-preview)";
  }

  // Window/level drag: right is wider, down is brighter centre.
  let wlTimer = 0;
  function dragWindow(dx, dy) {
    const base = state.window || state.shown;
    if (!base) return; // colour pictures are not windowed
    if (!state.window) state.window = { ...base, fn: base.fn || "linear" };
    const sens = Math.max(0.5, state.window.w / 300);
    state.window.w = Math.max(1, state.window.w + dx * sens);
    state.window.c = state.window.c + dy * sens;
    if (state.shown) previewWindow(state.shown, state.window);
    overlays();
    clearTimeout(wlTimer);
    wlTimer = setTimeout(() => show(state.index), 150);
  }

  // Pointers: one pointer uses the tool (middle and right mouse buttons
  // pan), two pointers pinch-zoom and pan.
  const pointers = new Map();
  let pinch = null, scrollAcc = 0;
  vp.addEventListener("pointerdown", (e) => {
    vp.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, button: e.button });
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 };
    }
    vp.focus({ preventScroll: true });
  });
  vp.addEventListener("pointermove", (e) => {
    const p = pointers.get(e.pointerId);
    if (!p) return;
    const dx = e.clientX - p.x, dy = e.clientY - p.y;
    p.x = e.clientX;
    p.y = e.clientY;
    if (pointers.size >= 2 && pinch) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y), mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      state.tx += mx - pinch.mx;
      state.ty += my - pinch.my;
      zoomAt(d / (pinch.d || d), mx, my);
      pinch = { d, mx, my };
      return;
    }
    const tool = p.button === 1 || p.button === 2 ? "pan" : state.tool;
    if (tool === "pan") {
      state.tx += dx;
      state.ty += dy;
      applyTransform();
    } else if (tool === "wl") {
      dragWindow(dx, dy);
    } else {
      scrollAcc += dy;
      const step = Math.max(6, vp.clientHeight / Math.max(20, state.stack.length * 2));
      while (Math.abs(scrollAcc) >= step) {
        show(state.index + (scrollAcc > 0 ? 1 : -1));
        scrollAcc -= Math.sign(scrollAcc) * step;
      }
    }
  });
  const up = (e) => {
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
  };
  vp.addEventListener("pointerup", up);
  vp.addEventListener("pointercancel", up);
  vp.addEventListener("contextmenu", (e) => e.preventDefault());
  vp.addEventListener("dblclick", reset);

  let wheelAcc = 0;
  vp.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (e.ctrlKey) return zoomAt(Math.exp(-e.deltaY * 0.002), e.clientX, e.clientY);
    wheelAcc += e.deltaY;
    if (Math.abs(wheelAcc) >= 40) {
      show(state.index + Math.sign(wheelAcc));
      wheelAcc = 0;
    }
  }, { passive: false });

  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("input, dialog")) return;
    const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 5, ArrowUp: -1, ArrowLeft: -1, PageUp: -5 };
    if (e.key in steps) show(state.index + steps[e.key]);
    else if (e.key === "Home") show(0);
    else if (e.key === "End") show(state.stack.length - 1);
    else if (e.key === "+" || e.key === "=") zoomAt(1.25, innerWidth / 2, innerHeight / 2);
    else if (e.key === "-") zoomAt(0.8, innerWidth / 2, innerHeight / 2);
    else if (e.key === " ") toggleCine();
    else return;
    e.preventDefault();
  });
  slider.addEventListener("input", () => show(+slider.value - 1));

  for (const b of document.querySelectorAll("[data-tool]")) {
    b.addEventListener("click", () => setTool(b.dataset.tool));
  }
  function setTool(t) {
    state.tool = t;
    for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  }
  $("reset").addEventListener("click", () => {
    state.window = null;
    reset();
    show(state.index);
  });

  // Cine: the next picture is asked for once the current one shows, at
  // up to 10 pictures a second.
  $("cine").addEventListener("click", toggleCine);
  async function toggleCine() {
    if (state.stack.length < 2) return;
    state.playing = !state.playing;
    $("cine").textContent = state.playing ? "⏸ 暂停 Pause" : "▶ 播放 Play";
    while (state.playing) {
      const t0 = performance.now();
      await show((state.index + 1) % state.stack.length);
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t0))));
    }
  }

  // Tag panel: the current instance's metadata (WADO-RS metadata).
  let tagsTimer = 0;
  const tagsSoon = () => { clearTimeout(tagsTimer); tagsTimer = setTimeout(showTags, 200); };
  $("tags-button").addEventListener("click", () => {
    const open = $("tags").hidden;
    $("tags").hidden = !open;
    document.body.classList.toggle("tags-open", open);
    $("tags-button").setAttribute("aria-expanded", String(open));
    if (open) showTags();
  });
  $("tag-filter").addEventListener("input", filterTags);
  async function showTags() {
    const it = state.stack[state.index];
    if (!it) return;
    const tbody = $("tags").querySelector("tbody");
    try {
      const [ds] = await GW.metadata("/studies/" + studyUID + "/series/" + state.series + "/instances/" + it.sop);
      const rows = Object.keys(ds).sort().map((tag) => {
        const e = ds[tag], tr = document.createElement("tr");
        const name = tagName(tag);
        let value;
        if (e.vr === "SQ") value = "[" + (e.Value || []).length + " 项 items]";
        else if (e.BulkDataURI) value = "(大数据 bulk data)";
        else if (e.InlineBinary) value = "(二进制 binary, " + Math.round(e.InlineBinary.length * 0.75) + " bytes)";
        else if (e.vr === "DA") value = (e.Value || []).map((v) => GW.fmtDate(String(v))).join(" \\ ");
        else value = (e.Value || []).map((v) => (typeof v === "object" && v ? [v.Alphabetic, v.Ideographic].filter(Boolean).join(" = ") : String(v))).join(" \\ ");
        ["(" + tag.slice(0, 4) + "," + tag.slice(4) + ")", name, e.vr, value.length > 200 ? value.slice(0, 200) + "…" : value]
          .forEach((t, i) => tr.append(GW.el("td", ["tag", "name", "vr", "value"][i], t)));
        tr.dataset.search = (tag + " " + name + " " + value).toLowerCase();
        return tr;
      });
      tbody.replaceChildren(...rows);
      filterTags();
    } catch (e) {
      tbody.replaceChildren(GW.el("tr", "", "错误 Error: " + e.message));
    }
  }
  // tagName is the keyword of a tag; private creators (gggg,00xx in an odd
  // group, PS3.5 7.8.1) are named as such.
  function tagName(tag) {
    if (DICOM_KEYWORDS[tag]) return DICOM_KEYWORDS[tag];
    const group = parseInt(tag.slice(0, 4), 16), el = parseInt(tag.slice(4), 16);
    if (group % 2 === 1 && el >= 0x10 && el <= 0xff) return "PrivateCreator";
    if (group % 2 === 1) return "(私有 private)";
    return "";
  }
  function filterTags() {
    const q = $("tag-filter").value.trim().toLowerCase();
    for (const tr of $("tags").querySelectorAll("tbody tr")) tr.hidden = q && !(tr.dataset.search || "").includes(q);
  }

  async function selectSeries(se, button) {
    state.playing = false;
    $("cine").textContent = "▶ 播放 Play";
    for (const b of document.querySelectorAll(".series-item")) b.setAttribute("aria-current", String(b === button));
    state.series = GW.val(se, "0020000E");
    $("ov-series").textContent = ["#" + GW.val(se, "00200011"), GW.val(se, "00080060"), GW.val(se, "0008103E")].join(" ");
    status("载入中… Loading…");
    rendered = false;
    placeholder(button && button.querySelector("img.thumb.loaded"));
    const ins = await GW.qido("/studies/" + studyUID + "/series/" + state.series + "/instances", { includefield: "00200013,00280008,00280010,00280011,00280004" });
    ins.sort((a, b) => (+GW.val(a, "00200013") || 0) - (+GW.val(b, "00200013") || 0));
    state.stack = [];
    for (const i of ins) {
      const n = parseInt(GW.val(i, "00280008"), 10) || 1;
      const it = { sop: GW.val(i, "00080018"), rows: +GW.val(i, "00280010") || 0, cols: +GW.val(i, "00280011") || 0,
        mono1: GW.val(i, "00280004").trim() === "MONOCHROME1" };
      if (n > 1) for (let f = 1; f <= n; f++) state.stack.push({ ...it, frame: f });
      else state.stack.push(it);
    }
    state.window = null;
    slider.max = String(Math.max(1, state.stack.length));
    slider.hidden = state.stack.length < 2;
    $("cine").hidden = state.stack.length < 2;
    reset();
    await show(0);
  }

  // placeholder shows a thumbnail (an <img> already loaded, or a picture
  // from GW.image) in the viewport until a rendered picture replaces it.
  function placeholder(src) {
    if (src && src.src) src = src.src;
    if (!src || rendered) return;
    img.src = src;
    img.style.filter = "";
    state.shown = null;
    vp.dataset.quality = "thumb";
    if (!vp.dataset.firstAt) vp.dataset.firstAt = String(Date.now());
  }

  async function init() {
    GW.setupHeader();
    setTool(state.tool);
    if (!/^[0-9.]{1,64}$/.test(studyUID)) return status("缺少检查 UID Missing studyUID");
    // The study's thumbnail, asked for with the searches below: the first
    // thing on screen on a slow network.
    // (Share pages show it already: first.js.)
    if (!img.getAttribute("src")) GW.image("/studies/" + studyUID + "/thumbnail", { viewport: "128,128" }).then(placeholder, () => {});
    try {
      const [studies, series] = await Promise.all([
        GW.qido("/studies", { StudyInstanceUID: studyUID, includefield: "00081030,00080080," + GW.recognitionFields }),
        GW.qido("/studies/" + studyUID + "/series", { includefield: "0008103E" }),
      ]);
      const st = studies[0];
      if (st) {
        $("study-title").textContent = [GW.val(st, "00100010"), GW.val(st, "00100020"), GW.fmtDate(GW.val(st, "00080020")), GW.val(st, "00081030")].filter(Boolean).join(" · ");
        document.title = GW.val(st, "00081030") + " · 影像云";
        // Share pages have no stamp slot: a patient would read 互认已过期
        // (expired) as "this exam is invalid".
        const rec = GW.recognition(st);
        if (rec && $("stamp")) $("stamp").replaceChildren(GW.badge(rec, true));
      }
      series.sort((a, b) => (+GW.val(a, "00200011") || 0) - (+GW.val(b, "00200011") || 0));
      const strip = $("series");
      strip.replaceChildren();
      let first = null;
      for (const se of series) {
        const b = GW.el("button", "series-item");
        b.type = "button";
        const t = GW.el("img", "thumb");
        t.alt = "";
        b.append(t, GW.el("span", "", "#" + GW.val(se, "00200011") + " " + GW.val(se, "00080060") + " · " + GW.val(se, "00201209")), GW.el("span", "muted small", GW.val(se, "0008103E")));
        b.addEventListener("click", () => selectSeries(se, b).catch((e) => status("错误 Error: " + e.message)));
        strip.append(b);
        GW.image("/studies/" + studyUID + "/series/" + GW.val(se, "0020000E") + "/thumbnail", { viewport: "128,128" })
          .then((r) => { t.src = r.src; t.classList.add("loaded"); }, () => t.classList.add("missing"));
        first = first || [se, b];
      }
      if (!first) return status("该检查没有序列 No series");
      await selectSeries(...first);
    } catch (e) {
      status("错误 Error: " + e.message);
    }
  }
  init();
})();
