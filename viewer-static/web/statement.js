// The printable recognition statement for the medical record: a decision
// (statement.html?studyUID=...&decision=...) with its study, item, holding
// and accepting hospital, physician, outcome and date, read from the API
// with the tab's token, in Chinese with English labels.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const q = new URLSearchParams(location.search);
  const studyUID = q.get("studyUID") || "", id = q.get("decision") || "";
  const say = (t) => { $("statement-status").textContent = t; };
  $("print").addEventListener("click", () => window.print());
  $("back").href = "study.html?studyUID=" + encodeURIComponent(studyUID);

  const name = async (inst) => {
    const r = inst ? await GW.api("/institutions/" + encodeURIComponent(inst)).catch(() => null) : null;
    return r && r.name ? r.name + " (" + inst + ")" : inst || "";
  };

  // decision reads the decision with its texts in a language (zh, en).
  async function decision(lang) {
    const headers = { Accept: "application/json", "Accept-Language": lang };
    const tok = sessionStorage.getItem("imgcloud.token"); // as common.js keeps it
    if (tok) headers.Authorization = "Bearer " + tok;
    const r = await fetch(new URL("api/v1/recognition/decisions?study=" + encodeURIComponent(studyUID), document.baseURI), { headers });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || String(r.status));
    return ((await r.json()).decisions || []).find((x) => x.id === id);
  }

  async function init() {
    if (!/^[0-9.]{1,64}$/.test(studyUID) || !id) return say("缺少检查或决定 Missing study or decision.");
    const [d, en] = await Promise.all([decision("zh-CN"), decision("en")]);
    if (!d) return say("未找到该决定 Decision not found.");
    const studies = await GW.qido("/studies", { StudyInstanceUID: studyUID, includefield: "00081030" }).catch(() => []);
    const st = studies[0];
    const [holding, accepting] = await Promise.all([name(d.holding_institution), name(d.institution)]);
    const outcome = d.outcome === "accept" ? "认可，不再重复检查 Accepted: the exam is not repeated" : "不认可 Refused";
    const rows = [
      ["检查 Study", [st && GW.val(st, "00081030"), st && GW.fmtDate(GW.val(st, "00080020"))].filter(Boolean).join(" · ")],
      ["检查 UID Study UID", d.study],
      ["患者 Patient", st ? [GW.val(st, "00100010"), GW.val(st, "00100020")].filter(Boolean).join(" · ") : ""],
      ["互认项目 Item", [d.item, d.item_name].filter(Boolean).join(" ") + (d.price_yuan ? " (¥" + d.price_yuan + ")" : "")],
      ["持有机构 Holding hospital", holding],
      ["接受机构 Accepting hospital", accepting],
      ["医嘱号/就诊号 Order", d.order || ""],
      ["医师 Physician", d.physician],
      ["决定 Decision", outcome],
      ["原因 Reason", [[d.reason_text, en && en.reason_text].filter(Boolean).join(" "), d.text].filter(Boolean).join("：")],
      ["有效期至 Valid until", d.valid_until],
      ["决定日期 Date", (d.at || "").slice(0, 10)],
      ["编号 Record", d.id],
    ];
    const body = $("statement").querySelector("tbody");
    for (const [k, v] of rows) {
      if (!v) continue;
      const tr = document.createElement("tr");
      tr.append(GW.el("th", "", k), GW.el("td", "", v));
      body.append(tr);
    }
    if (d.superseded_by) say("注意：此决定已被后来的决定取代 Note: a later decision superseded this one (" + d.superseded_by + ").");
    if (d.superseded_by) $("statement-status").className = "superseded";
    $("statement-date").textContent = (d.at || "").slice(0, 10);
    $("statement").hidden = false;
    $("statement-signature").hidden = false;
    document.body.dataset.ready = "1";
  }
  init().catch((e) => say("错误 Error: " + e.message));
})();
