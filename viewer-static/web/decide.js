// Recognition on the study page: tapping or hovering the stamp says what
// the status means and why (Chinese and English, from the API), and a
// clinician accepts or refuses a recognisable result for an order from
// the same dialog, then prints the recognition statement (statement.html).
// It needs only #stamp and the toolbar of study.html; everything else it
// builds itself, so study.js knows nothing of it.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const studyUID = new URLSearchParams(location.search).get("studyUID") || "";
  if (!/^[0-9.]{1,64}$/.test(studyUID)) return;
  const TOKEN_KEY = "imgcloud.token"; // as common.js keeps it
  const el = GW.el;
  const state = { zh: null, en: null, me: null, current: [] };

  // call sends a JSON request to /api/v1 in a language (zh or en) with the
  // tab's token; it answers {status, body}.
  async function call(method, path, lang, body) {
    const headers = { Accept: "application/json", "Accept-Language": lang === "en" ? "en" : "zh-CN" };
    const tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers.Authorization = "Bearer " + tok;
    if (body) headers["Content-Type"] = "application/json";
    const r = await fetch(new URL("api/v1" + path, document.baseURI), { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: await r.json().catch(() => ({})) };
  }

  const yuan = (v) => "¥" + Number(v || 0).toFixed(2).replace(/\.00$/, "");
  const tag = () => (state.zh && state.zh.tag) || null;
  const canDecide = () => tag() && tag().status === "RECOGNISED" && state.me && state.me.role === "clinician";

  // The dialog: built once, filled by render.
  const dlg = el("dialog", "recognition-dialog");
  dlg.id = "recognition-dialog";
  dlg.setAttribute("aria-labelledby", "recognition-title");
  // Keys typed here are not the viewer's shortcuts.
  dlg.addEventListener("keydown", (e) => e.stopPropagation());
  document.body.append(dlg);

  function row(dl, name, value) {
    if (!value) return;
    dl.append(el("dt", "", name), el("dd", "", value));
  }

  function render(message) {
    const t = tag(), en = state.en && state.en.tag;
    dlg.replaceChildren();
    const h = el("h2", "", "检查结果互认 Mutual recognition");
    h.id = "recognition-title";
    dlg.append(h);
    if (!t) {
      dlg.append(el("p", "muted", "本检查没有互认信息 No recognition information for this study."));
    } else {
      const st = el("p", "rec-status badge-" + t.status.toLowerCase().replace(/_/g, "-"));
      st.append(el("strong", "", t.status_text || t.status), el("span", "muted", " " + ((en && en.status_text) || "")));
      dlg.append(st);
      if (t.reason) {
        const why = el("div", "rec-reason");
        why.append(el("p", "", t.reason));
        if (en && en.reason && en.reason !== t.reason) why.append(el("p", "muted", en.reason));
        dlg.append(why);
      }
      const dl = el("dl", "rec-facts");
      row(dl, "项目 Item", [t.item, t.item_name, t.item_name_en].filter(Boolean).join(" · "));
      row(dl, "持有机构 Holding hospital", state.zh.holding_institution_name || t.holding_institution);
      row(dl, "有效期至 Valid until", t.valid_until);
      row(dl, "价格 Price", t.price_yuan ? yuan(t.price_yuan) : "");
      row(dl, "检查日期 Study date", t.study_date);
      dlg.append(dl);
    }
    if (canDecide()) dlg.append(decisionForm());
    if (state.current.length) dlg.append(currentList());
    const msg = el("p", "rec-message", message || "");
    msg.id = "decide-message";
    msg.setAttribute("role", "status");
    const close = el("button", "", "关闭 Close");
    close.type = "button";
    close.addEventListener("click", () => dlg.close());
    const menu = el("menu", "");
    menu.append(close);
    dlg.append(msg, menu);
  }

  function decisionForm() {
    const f = el("form", "decide-form");
    f.id = "decide-form";
    const order = el("input");
    order.name = "order";
    order.required = true;
    order.maxLength = 64;
    order.autocomplete = "off";
    const ol = el("label", "", "医嘱号/就诊号 Order or visit number ");
    ol.append(order);
    f.append(el("h3", "", "互认决定 Decision"), ol);
    const reasons = el("fieldset", "refusal-reasons");
    reasons.append(el("legend", "", "不认可的原因 Reason for refusing"));
    const enText = {};
    for (const r of (state.en && state.en.refusal_reasons) || []) enText[r.code] = r.text;
    for (const r of state.zh.refusal_reasons || []) {
      const l = el("label", "");
      const radio = el("input");
      radio.type = "radio";
      radio.name = "reason";
      radio.value = r.code;
      l.append(radio, " " + r.text + (enText[r.code] ? " " + enText[r.code] : ""));
      reasons.append(l);
    }
    const other = el("input");
    other.name = "text";
    other.maxLength = 1024;
    other.placeholder = "其他原因 Other reason";
    reasons.append(other);
    const accept = el("button", "accept", "认可 Accept");
    accept.type = "submit";
    accept.value = "accept";
    const refuse = el("button", "refuse", "不认可 Refuse");
    refuse.type = "submit";
    refuse.value = "refuse";
    const buttons = el("div", "decide-buttons");
    buttons.append(accept, refuse);
    f.append(reasons, buttons);
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const outcome = ev.submitter && ev.submitter.value;
      const body = { study: studyUID, order: order.value.trim(), outcome };
      if (outcome === "refuse") {
        const picked = f.querySelector('input[name="reason"]:checked');
        if (!picked) return render("请选择不认可的原因 Choose a reason for refusing.");
        body.reason = picked.value;
        if (other.value.trim()) body.text = other.value.trim();
      }
      decide(body);
    });
    return f;
  }

  function currentList() {
    const box = el("section", "current-decisions");
    box.append(el("h3", "", "当前决定 Current decisions"));
    const ul = el("ul", "");
    for (const d of state.current) {
      const li = el("li", "");
      li.dataset.order = d.order || "";
      li.dataset.outcome = d.outcome;
      li.append(el("span", "", [d.order || "—", d.outcome_text, d.reason_text, d.physician, (d.at || "").slice(0, 10)].filter(Boolean).join(" · ") + " "));
      const a = el("a", "statement-link", "互认证明 Statement");
      a.href = "statement.html?studyUID=" + encodeURIComponent(studyUID) + "&decision=" + encodeURIComponent(d.id);
      a.target = "_blank";
      a.rel = "noopener";
      li.append(a);
      ul.append(li);
    }
    box.append(ul);
    return box;
  }

  async function decide(body) {
    const r = await call("POST", "/recognition/decisions", "zh", body);
    if (r.status !== 201) return render("未保存 Not saved: " + (r.body.error || r.status));
    await loadDecisions();
    render("已保存 Saved: " + [r.body.order, r.body.outcome_text, r.body.reason_text].filter(Boolean).join(" · "));
    dlg.dataset.saved = String(Number(dlg.dataset.saved || 0) + 1);
  }

  async function loadDecisions() {
    if (!state.me || !state.me.institution) return;
    const r = await call("GET", "/recognition/decisions?current=true&study=" + encodeURIComponent(studyUID) + "&institution=" + encodeURIComponent(state.me.institution), "zh");
    state.current = r.status === 200 ? r.body.decisions || [] : [];
  }

  // hover: the stamp shows the status and why, in both languages, in a
  // note under it (and its title).
  function titleStamp() {
    const b = document.querySelector("#stamp .stamp");
    const t = tag(), en = state.en && state.en.tag;
    if (!b || !t) return;
    const lines = [[t.status_text, en && en.status_text].filter(Boolean).join(" "), t.reason, en && en.reason !== t.reason ? en.reason : ""].filter(Boolean);
    b.title = lines.concat("点按查看详情 Tap for details").join("\n");
    const why = b.querySelector(".stamp-why") || el("span", "stamp-why");
    why.replaceChildren(...lines.map((l) => el("span", "", l)), el("span", "muted", "点按查看详情 Tap for details"));
    b.append(why);
  }

  // load asks the API once, when the stamp is first hovered or tapped
  // (a page whose gateway has no recognition API asks nothing).
  let loading = null;
  function load() {
    loading = loading || (async () => {
      const [zh, en, me] = await Promise.all([
        call("GET", "/recognition/studies/" + studyUID, "zh"),
        call("GET", "/recognition/studies/" + studyUID, "en"),
        call("GET", "/me", "zh"),
      ]);
      if (zh.status !== 200) return;
      state.zh = zh.body;
      state.en = en.status === 200 ? en.body : null;
      state.me = me.status === 200 ? me.body : null;
      await loadDecisions();
      titleStamp();
      document.body.dataset.recognition = canDecide() ? "decide" : "view";
    })().catch((e) => console.warn("recognition:", e.message));
    return loading;
  }

  async function open() {
    if (!dlg.open) dlg.showModal();
    dlg.replaceChildren(el("p", "muted", "加载中 Loading…"));
    await load();
    render("");
  }

  // A recognised stamp gets a toolbar button for the decision as well.
  function stampChanged() {
    const b = document.querySelector("#stamp .stamp");
    if (!b) return;
    titleStamp();
    if (b.classList.contains("badge-recognised") && !$("recognition-button")) {
      const btn = el("button", "", "互认决定 Decide");
      btn.type = "button";
      btn.id = "recognition-button";
      btn.addEventListener("click", open);
      const bar = document.querySelector(".toolbar");
      if (bar) bar.append(btn);
    }
  }

  function init() {
    const slot = $("stamp");
    if (!slot) return;
    // The viewport drags on pointerdown: a tap on the stamp is not a drag.
    slot.addEventListener("pointerdown", (e) => { if (e.target.closest(".stamp")) e.stopPropagation(); });
    slot.addEventListener("pointerover", (e) => { if (e.target.closest(".stamp")) load(); });
    slot.addEventListener("click", (e) => { if (e.target.closest(".stamp")) open(); });
    new MutationObserver(stampChanged).observe(slot, { childList: true });
    stampChanged();
  }
  init();
})();
