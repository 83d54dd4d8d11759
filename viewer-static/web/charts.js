// SVG bar charts drawn with DOM calls (no HTML strings, so labels from
// data cannot inject markup). Charts are drawn at the container's own
// width in CSS pixels, so text keeps its size on a phone (a fixed viewBox
// scaled down to 343 px made 11 px labels 6 px); pages redraw on resize.
// Every bar carries its value, and axes their ticks.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const FONT = 13; // px, labels and values
  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // ticks picks a round step (1, 2 or 5 times a power of ten) giving at
  // most n intervals up to v; whole numbers (counts) get whole steps.
  function ticks(v, whole, n) {
    if (v <= 0) return { step: 1, n: 1 };
    const raw = v / (n || 5), p = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    if (whole && step < 1) step = 1;
    return { step, n: Math.max(1, Math.ceil(v / step)) };
  }
  // num writes a value in full with separators (values on bars); short
  // writes axis ticks, with 万 (10,000) for large ones.
  const num = (v) => (Math.round(v * 100) / 100).toLocaleString("zh-CN");
  const short = (v) => (v >= 10000 ? (v / 10000).toLocaleString("zh-CN", { maximumFractionDigits: 1 }) + "万" : num(v));
  // textWidth estimates a label's width: CJK characters are square, others
  // about 0.6 em.
  const textWidth = (s) => [...String(s)].reduce((w, ch) => w + (/[\u2e80-\uffff]/.test(ch) ? FONT : FONT * 0.6), 0);
  function clip(s, px) {
    s = String(s);
    while (s.length > 1 && textWidth(s) > px) s = s.slice(0, -2) + "…";
    return s;
  }

  // legend draws the series' swatches from y, wrapping; returns the height.
  function legend(root, series, W, y) {
    let x = 0, line = 0;
    for (const s of series) {
      const w = 18 + textWidth(s.label) + 16;
      if (x > 0 && x + w > W) { x = 0; line++; }
      root.append(svg("rect", { x, y: y + line * 20, width: 12, height: 12, class: "bar swatch " + s.cls }));
      root.append(svg("text", { x: x + 16, y: y + line * 20 + 11, class: "legend" }, s.label));
      x += w;
    }
    return (line + 1) * 20;
  }

  // bars draws grouped bars: rows [{key, label?, ...}], series [{field,
  // label, cls}]. Horizontal bars (opt.horizontal) suit long names
  // (hospitals, items); vertical ones months.
  function bars(container, title, rows, series, opt) {
    opt = opt || {};
    const W = Math.max(280, Math.floor(container.clientWidth || 600));
    const values = rows.flatMap((r) => series.map((s) => +r[s.field] || 0));
    const tk = ticks(Math.max(0, ...values), values.every(Number.isInteger), W < 420 ? 4 : 5);
    const max = tk.step * tk.n;
    const name = (r) => r.label || r.key;
    const root = svg("svg", { role: "img", class: "chart-svg", "aria-label": title });
    root.append(svg("title", {}, title));
    root.append(svg("text", { x: 0, y: 16, class: "chart-title" }, title));
    const top = 26 + legend(root, series, W, 26) + 8;
    let H;
    if (opt.horizontal) {
      const labelW = Math.min(W * 0.38, Math.max(...rows.map((r) => textWidth(name(r)))) + 8);
      const valueW = Math.max(...values.map((v) => textWidth(num(v)))) + 8;
      const L = labelW, R = valueW, barH = 16, rowH = series.length * (barH + 2) + 12;
      const plot = W - L - R;
      H = top + rows.length * rowH + 24;
      for (let i = 0; i <= tk.n; i++) {
        const x = L + (plot * i) / tk.n;
        root.append(svg("line", { x1: x, x2: x, y1: top, y2: H - 20, class: i ? "grid" : "axis-line" }));
        root.append(svg("text", { x, y: H - 4, class: "axis", "text-anchor": "middle" }, short(tk.step * i)));
      }
      rows.forEach((r, i) => {
        const y0 = top + i * rowH + 6;
        root.append(svg("text", { x: L - 6, y: y0 + (series.length * (barH + 2)) / 2 + 4, class: "axis", "text-anchor": "end" }, clip(name(r), L - 8)));
        series.forEach((s, j) => {
          const v = +r[s.field] || 0, w = (plot * v) / max, y = y0 + j * (barH + 2);
          const rect = svg("rect", { x: L, y, width: Math.max(1, w), height: barH, class: "bar " + s.cls });
          rect.append(svg("title", {}, name(r) + " " + s.label + ": " + num(v)));
          root.append(rect, svg("text", { x: L + w + 4, y: y + barH - 4, class: "value" }, num(v)));
        });
      });
    } else {
      const L = Math.max(...[0, ...Array.from({ length: tk.n + 1 }, (_, i) => textWidth(short(tk.step * i)))]) + 8;
      const B = 24, plotH = 200, R = 4;
      H = top + 16 + plotH + B;
      const y = (v) => top + 16 + plotH * (1 - v / max);
      for (let i = 0; i <= tk.n; i++) {
        const v = tk.step * i;
        root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: i ? "grid" : "axis-line" }));
        root.append(svg("text", { x: L - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, short(v)));
      }
      const band = (W - L - R) / Math.max(1, rows.length), bw = (band * 0.84) / series.length;
      // Every label must fit its band; otherwise every other one is shown.
      const every = Math.max(1, Math.ceil(Math.max(...rows.map((r) => textWidth(name(r)))) / (band - 4)));
      rows.forEach((r, i) => {
        const x0 = L + band * i + band * 0.08;
        series.forEach((s, j) => {
          const v = +r[s.field] || 0;
          const rect = svg("rect", { x: x0 + j * bw, y: y(v), width: Math.max(1, bw - 2), height: y(0) - y(v), class: "bar " + s.cls });
          rect.append(svg("title", {}, name(r) + " " + s.label + ": " + num(v)));
          root.append(rect);
          // The value above its bar, when it fits the bar's width.
          if (textWidth(short(v)) <= bw + 6) root.append(svg("text", { x: x0 + j * bw + (bw - 2) / 2, y: y(v) - 3, class: "value", "text-anchor": "middle" }, short(v)));
        });
        if (i % every === 0) root.append(svg("text", { x: L + band * i + band / 2, y: H - 6, class: "axis", "text-anchor": "middle" }, name(r)));
      });
    }
    root.setAttribute("width", W);
    root.setAttribute("height", H);
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    container.replaceChildren(root);
  }
  return { bars, num };
})();
