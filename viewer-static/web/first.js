// First picture of a share page (share.html), run as soon as the image
// element is parsed: the shared study's thumbnail, which the page's Link
// header has the browser fetch with the page itself. On a slow network it
// is on screen a second or more before the scripts have loaded; study.js
// replaces it with a render sized to the screen.
"use strict";

(() => {
  // The answer of POST /s/{token}/open is this page (a round trip sooner
  // than a redirect): it takes its own address, so that a reload is a GET
  // and the scripts' relative URLs start from the site root.
  const self = document.querySelector('meta[name="page-url"]');
  if (self) history.replaceState(null, "", self.content);
  const uid = new URLSearchParams(location.search).get("studyUID") || "";
  const img = document.getElementById("image"), vp = document.getElementById("viewport");
  if (!img || !vp || !/^[0-9.]{1,64}$/.test(uid)) return;
  if ((img.getAttribute("src") || "").startsWith("data:")) {
    // The server put the thumbnail in the page: it was drawn as the page
    // was parsed. Element Timing says when it was painted.
    if (!vp.dataset.quality) vp.dataset.quality = "thumb";
    const mark = (t) => { if (!vp.dataset.firstAt) vp.dataset.firstAt = String(Math.round(t)); };
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (e.identifier === "first-picture") mark(performance.timeOrigin + (e.renderTime || e.loadTime));
        }
      }).observe({ type: "element", buffered: true });
    } catch (e) { /* no Element Timing */ }
    if (img.complete) setTimeout(() => mark(Date.now()), 1000); // fallback
    return;
  }
  const src = "dicomweb/studies/" + uid + "/thumbnail?viewport=128,128";
  img.addEventListener("load", () => {
    if (img.getAttribute("src") !== src) return; // a render came first
    if (!vp.dataset.quality) vp.dataset.quality = "thumb";
    // When the first picture showed (Date.now), for slow-network tests.
    if (!vp.dataset.firstAt) vp.dataset.firstAt = String(Date.now());
  }, { once: true });
  img.src = src;
})();
