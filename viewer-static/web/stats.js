// Recognition statistics: GET /api/v1/recognition/statistics?by=month and
// ?by=region, shape {"by":"month","rows":[{"key":"2026-10","recognised":12,
// "refused":3,"saved_yuan":4560.0}]}. A 404 (the API is not there yet)
// shows an empty state; ?demo=1 draws the sample rows below, labelled as
// samples.
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
      { key: "京津冀", recognised: 320, refused: 21, saved_yuan: 118400 },
      { key: "长三角", recognised: 281, refused: 17, saved_yuan: 101900 },
      { key: "成渝", recognised: 150, refused: 12, saved_yuan: 52300 },
      { key: "粤港澳", recognised: 60, refused: 7, saved_yuan: 18190 },
    ],
  };
  const status = document.getElementById("stats-status");
  const demo = new URLSearchParams(location.search).get("demo") === "1";

  function draw(by, rows) {
    Charts.bars(document.getElementById("chart-" + by + "-counts"), "互认与拒绝 Recognised and refused", rows, [
      { field: "recognised", label: "互认 Recognised", cls: "ok" },
      { field: "refused", label: "拒绝 Refused", cls: "no" },
    ]);
    Charts.bars(document.getElementById("chart-" + by + "-saved"), "节省费用（元）Saved (yuan)", rows, [
      { field: "saved_yuan", label: "节省 Saved ¥", cls: "saved" },
    ]);
  }

  async function main() {
    GW.setupHeader();
    document.getElementById("sample-banner").hidden = !demo;
    let empty = 0;
    for (const by of ["month", "region"]) {
      try {
        const answer = demo ? { by, rows: SAMPLE[by] } : await GW.api("/recognition/statistics", { by });
        const rows = (answer && answer.rows) || [];
        if (!rows.length) {
          empty++;
          continue;
        }
        draw(by, rows);
      } catch (e) {
        status.textContent = "错误 Error: " + e.message;
      }
    }
    if (empty === 2) status.textContent = "暂无统计数据 No statistics yet: 互认服务尚未产生数据 the recognition service has no figures to show.";
    document.body.dataset.ready = "1";
  }
  main();
})();
