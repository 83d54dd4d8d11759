// SVG bar charts drawn with DOM calls (no HTML strings, so labels from
// data cannot inject markup).
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // ticks picks a round step (1, 2 or 5 times a power of ten) giving at
  // most five intervals up to v; whole numbers (counts) get whole steps.
  function ticks(v, whole) {
    if (v <= 0) return { step: 1, n: 1 };
    const raw = v / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    if (whole && step < 1) step = 1;
    return { step, n: Math.max(1, Math.ceil(v / step)) };
  }
  const fmt = (v) => (v >= 10000 ? (v / 10000).toFixed(v >= 100000 ? 0 : 1) + "万" : String(Math.round(v * 100) / 100));

  // bars draws grouped bars: rows [{key, ...}], series [{field, label, cls}].
  function bars(container, title, rows, series) {
    const W = 640, H = 300, L = 56, R = 12, T = 56, B = 30;
    const values = rows.flatMap((r) => series.map((s) => +r[s.field] || 0));
    const tk = ticks(Math.max(0, ...values), values.every(Number.isInteger));
    const max = tk.step * tk.n;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg" });
    root.append(svg("title", {}, title));
    root.append(svg("text", { x: 4, y: 16, class: "chart-title" }, title));
    for (let i = 0; i <= tk.n; i++) {
      const v = tk.step * i, y = T + (H - T - B) * (1 - i / tk.n);
      root.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      root.append(svg("text", { x: L - 6, y: y + 4, class: "axis", "text-anchor": "end" }, fmt(v)));
    }
    const band = (W - L - R) / Math.max(1, rows.length), bw = (band * 0.8) / series.length;
    rows.forEach((r, i) => {
      const x0 = L + band * i + band * 0.1;
      series.forEach((s, j) => {
        const v = +r[s.field] || 0, h = ((H - T - B) * v) / max;
        const rect = svg("rect", { x: x0 + j * bw, y: H - B - h, width: Math.max(1, bw - 2), height: h, class: "bar " + s.cls });
        rect.append(svg("title", {}, `${r.key} ${s.label}: ${v}`));
        root.append(rect);
      });
      root.append(svg("text", { x: x0 + band * 0.4, y: H - B + 16, class: "axis", "text-anchor": "middle" }, r.key));
    });
    series.forEach((s, j) => {
      const x = L + 150 * j;
      root.append(svg("rect", { x, y: 28, width: 12, height: 12, class: "bar " + s.cls }));
      root.append(svg("text", { x: x + 16, y: 38, class: "legend" }, s.label));
    });
    container.replaceChildren(root);
  }
  return { bars };
})();
