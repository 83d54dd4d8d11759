// Recognition statistics: GET /api/v1/recognition/statistics?by=month,
// region, institution or item, with from and to (YYYY-MM-DD), shape
// {"by":"region","rows":[{"key":"YRD","label":"长三角","recognised":12,
// "refused":3,"saved_yuan":4560.0}],"total":{...}}. Each view has two
// charts, a table of the same figures and a CSV export. No decisions (or
// no statistics API: 404) is an empty state, not a fault; ?demo=1 draws
// the sample rows below, labelled as samples.
"use strict";

(() => {
  const SAMPLE = {
    month: [
      { key: "2026-07", recognised: 118, refused: 9, saved_yuan: 41230 },
      { key: "2026-08", recognised: 142, refused: 12, saved_yuan: 50880 },
      { key: "2026-09", recognised: 167, refused: 10, saved_yuan: 59310 },
      { key: "2026-10", recognised: 181, refused: 15, saved_yuan: 66420 },
      { key: "2026-11", recognised: 203, refused: 11, saved_yuan: 72950 },
    ],
    region: [
      { key: "JJJ", label: "京津冀", recognised: 320, refused: 21, saved_yuan: 118400 },
      { key: "YRD", label: "长三角", recognised: 281, refused: 17, saved_yuan: 101900 },
      { key: "CY", label: "成渝", recognised: 150, refused: 12, saved_yuan: 52300 },
      { key: "GBA", label: "粤港澳", recognised: 60, refused: 7, saved_yuan: 18190 },
    ],
    institution: [
      { key: "bj-pumch", label: "北京协和医院", recognised: 301, refused: 18, saved_yuan: 110200 },
      { key: "sh-zs", label: "复旦大学附属中山医院", recognised: 262, refused: 21, saved_yuan: 95400 },
      { key: "cd-hx", label: "四川大学华西医院", recognised: 248, refused: 18, saved_yuan: 85190 },
    ],
    item: [
      { key: "CT-HEAD-01", label: "头颅CT平扫", recognised: 402, refused: 25, saved_yuan: 120600 },
      { key: "DX-CHEST-01", label: "胸部X线摄影", recognised: 310, refused: 20, saved_yuan: 37200 },
      { key: "MR-HEAD-01", label: "头颅MR平扫", recognised: 99, refused: 12, saved_yuan: 132990 },
    ],
  };
  const VIEWS = ["month", "region", "institution", "item"];
  const COUNTS = [
    { field: "recognised", label: "互认 Recognised", cls: "ok" },
    { field: "refused", label: "不予互认 Refused", cls: "no" },
  ];
  const SAVED = [{ field: "saved_yuan", label: "节省 Saved ¥", cls: "saved" }];
  const KEY_HEAD = { month: "月份 Month", region: "地区 Region", institution: "医院 Hospital", item: "项目 Item" };
  const $ = (id) => document.getElementById(id);
  const status = $("stats-status");
  const params = new URLSearchParams(location.search);
  const demo = params.get("demo") === "1";
  const range = { from: params.get("from") || "", to: params.get("to") || "" };
  const answers = {}; // by -> {rows, total}
  const yuan = (v) => "¥" + Charts.num(v);
  const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10); // China time

  function sum(rows) {
    const t = { key: "合计 Total", recognised: 0, refused: 0, saved_yuan: 0 };
    for (const r of rows) for (const f of ["recognised", "refused", "saved_yuan"]) t[f] += +r[f] || 0;
    return t;
  }

  // table writes the figures of a view, with the totals in its foot.
  function table(by, rows, total) {
    const t = GW.el("table", "stats-table");
    t.id = "table-" + by;
    const row = (cells, tag) => {
      const tr = document.createElement("tr");
      cells.forEach((c, i) => tr.append(GW.el(tag || (i ? "td" : "th"), i ? "num" : "", c)));
      return tr;
    };
    const head = document.createElement("thead");
    head.append(row([KEY_HEAD[by], "互认 Recognised", "不予互认 Refused", "节省 Saved"], "th"));
    const body = document.createElement("tbody");
    for (const r of rows) body.append(row([r.label || r.key, Charts.num(r.recognised), Charts.num(r.refused), yuan(r.saved_yuan)]));
    const foot = document.createElement("tfoot");
    foot.append(row(["合计 Total", Charts.num(total.recognised), Charts.num(total.refused), yuan(total.saved_yuan)]));
    t.append(head, body, foot);
    return t;
  }

  // csv writes a view as CSV (UTF-8 with a BOM, which spreadsheet
  // programs need to read Chinese), keys and names both.
  function csv(by, rows, total) {
    const q = (v) => (/[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
    const lines = [["key", "name", "recognised", "refused", "saved_yuan"]];
    for (const r of rows) lines.push([r.key, r.label || r.key, r.recognised, r.refused, r.saved_yuan]);
    lines.push(["total", "合计 Total", total.recognised, total.refused, total.saved_yuan]);
    return "\ufeff" + lines.map((l) => l.map(q).join(",")).join("\r\n") + "\r\n";
  }

  function draw(by) {
    const a = answers[by], sec = $("by-" + by);
    sec.querySelector(".view-extra")?.remove();
    const extra = GW.el("div", "view-extra");
    if (!a.rows.length) {
      $("chart-" + by + "-counts").replaceChildren(GW.el("p", "muted", "这段时间没有决定 No decisions in this period"));
      $("chart-" + by + "-saved").replaceChildren();
      sec.append(extra);
      return;
    }
    Charts.bars($("chart-" + by + "-counts"), "互认与不予互认（次）Recognised and refused", a.rows, COUNTS, { horizontal: by !== "month" });
    Charts.bars($("chart-" + by + "-saved"), "节省费用（元）Saved (yuan)", a.rows, SAVED, { horizontal: by !== "month" });
    const dl = GW.el("a", "csv", "导出 CSV Export");
    dl.id = "csv-" + by;
    dl.href = URL.createObjectURL(new Blob([csv(by, a.rows, a.total)], { type: "text/csv;charset=utf-8" }));
    dl.download = ["recognition", by, range.from || "start", range.to || today()].join("-") + ".csv";
    extra.append(table(by, a.rows, a.total), dl);
    sec.append(extra);
  }

  function totals(t) {
    const box = $("totals");
    box.replaceChildren(
      ...[["互认 Recognised", Charts.num(t.recognised)], ["不予互认 Refused", Charts.num(t.refused)], ["节省 Saved", yuan(t.saved_yuan)]]
        .map(([k, v]) => { const d = GW.el("div", "total"); d.append(GW.el("span", "total-value", v), GW.el("span", "muted", k)); return d; }));
    box.hidden = false;
  }

  async function main() {
    GW.setupHeader();
    $("sample-banner").hidden = !demo;
    const form = $("range");
    form.from.value = range.from;
    form.to.value = range.to;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      if (demo) q.set("demo", "1");
      if (form.from.value) q.set("from", form.from.value);
      if (form.to.value) q.set("to", form.to.value);
      location.search = q.toString();
    });
    $("range-all").addEventListener("click", () => { location.search = demo ? "demo=1" : ""; });
    $("stats-range").textContent = "统计范围 Period: " + (range.from || "最早 earliest") + " 至 to " + (range.to || today()) +
      " · 生成于 as of " + today();
    let missing = 0, failed = false;
    for (const by of VIEWS) {
      try {
        const a = demo ? { rows: SAMPLE[by] } : await GW.api("/recognition/statistics", { by, from: range.from, to: range.to });
        if (!a) missing++;
        const rows = (a && a.rows) || [];
        answers[by] = { rows, total: (a && a.total && a.total.key !== undefined ? a.total : null) || sum(rows) };
      } catch (e) {
        failed = true;
        status.className = "error";
        status.textContent = "无法载入统计 Could not load the statistics: " + e.message;
        answers[by] = { rows: [], total: sum([]) };
      }
    }
    const t = answers.month.total;
    const none = VIEWS.every((by) => !answers[by].rows.length);
    if (none && !failed) {
      status.className = "empty";
      status.textContent = missing === VIEWS.length
        ? "暂无统计数据：本网关未启用互认服务。 No statistics yet: mutual recognition is not enabled on this gateway."
        : "暂无统计数据：这段时间还没有医生作出互认决定。医生在查看外院检查时选择“互认”或“不予互认”后，这里会显示结果。 No decisions yet: once physicians accept or refuse outside results, the figures appear here.";
    }
    if (!none) {
      totals(t);
      for (const by of VIEWS) draw(by);
    }
    for (const s of document.querySelectorAll(".chart-card")) s.hidden = none;
    // Charts are drawn at their width in pixels: redraw when it changes.
    let timer = 0, width = innerWidth;
    addEventListener("resize", () => {
      if (innerWidth === width || none) return;
      width = innerWidth;
      clearTimeout(timer);
      timer = setTimeout(() => VIEWS.forEach(draw), 150);
    });
    document.body.dataset.ready = "1";
  }
  main();
})();
