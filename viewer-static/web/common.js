// Shared helpers of the viewer pages: DICOMweb and /api/v1 requests with an
// optional bearer token, DICOM JSON accessors, the recognition badge and
// the header's token entry. Plain JS, no build step, no framework.
"use strict";

const GW = (() => {
  // Service roots, relative to the page so a reverse proxy prefix works.
  const root = (document.querySelector('meta[name="dicomweb-root"]') || {}).content || "dicomweb";
  const apiRoot = (document.querySelector('meta[name="api-root"]') || {}).content || "api/v1";
  const TOKEN_KEY = "imgcloud.token";

  // The token comes only from the dialog, never from the address: a link
  // carrying one (#token=) would sign the reader in as whoever made the
  // link. Share links use their session cookie; IHE IID launches carry
  // no token.
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  function url(base, path, params) {
    const u = new URL(base + path, document.baseURI);
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== "") u.searchParams.set(k, v);
    return u;
  }

  // request fetches with Accept and, when a token is set, Authorization.
  async function request(u, accept) {
    const headers = { Accept: accept };
    if (token()) headers.Authorization = "Bearer " + token();
    const r = await fetch(u, { headers });
    if (r.status === 401) openTokenDialog(token() ? SIGN_IN_AGAIN : SIGN_IN);
    return r;
  }

  // failure turns an error answer into an Error; a 401 says what to do,
  // not the server's "unauthenticated: no credentials".
  async function failure(r) {
    if (r.status === 401) return new Error(token() ? "令牌无效或已过期，请重新登录 The token is not valid or has expired: sign in again" : "请先登录 Please sign in");
    const body = await r.json().catch(() => ({}));
    return new Error(body.error || r.status + " " + r.statusText);
  }

  async function qido(path, params) {
    const r = await request(url(root, path, params), "application/dicom+json");
    if (!r.ok) throw await failure(r);
    return r.json();
  }

  async function metadata(path) {
    const r = await request(url(root, path + "/metadata"), "application/dicom+json");
    if (!r.ok) throw await failure(r);
    return r.json();
  }

  // image fetches a rendered picture or thumbnail and returns a blob URL
  // (so the Authorization header is sent) with the window the server used.
  async function image(path, params, accept) {
    const r = await request(url(root, path, params), accept || "image/jpeg");
    if (!r.ok) throw await failure(r);
    const blob = await r.blob();
    return { src: URL.createObjectURL(blob), window: r.headers.get("X-Rendered-Window") || "" };
  }

  // api fetches project JSON; a 404 answers null (the API may not exist).
  async function api(path, params) {
    const r = await request(url(apiRoot, path, params), "application/json");
    if (r.status === 404) return null;
    if (!r.ok) throw await failure(r);
    return r.json();
  }

  function val(ds, tag) {
    const e = ds && ds[tag];
    if (!e || !e.Value || !e.Value.length) return "";
    const v = e.Value[0];
    if (typeof v === "object" && v !== null) return personName(v);
    return String(v);
  }
  // personName shows a PN value for people: "李敏 / Li Min" (ideographic
  // components are written without spaces, others with).
  function personName(v) {
    const part = (s, sep) => (s || "").split("^").filter(Boolean).join(sep);
    return [part(v.Ideographic, ""), part(v.Alphabetic, " "), v.Ideographic || v.Alphabetic ? "" : part(v.Phonetic, " ")].filter(Boolean).join(" / ");
  }
  const vals = (ds, tag) => (ds && ds[tag] && ds[tag].Value ? ds[tag].Value.join(", ") : "");
  const fmtDate = (d) => (d && d.length === 8 ? d.slice(0, 4) + "-" + d.slice(4, 6) + "-" + d.slice(6) : d || "");

  // Recognition tag (互认), added to study answers by the recognition
  // service as a private block: creator "IMGCLOUD RECOGNITION" at
  // (0011,0010) and elements (0011,1001) status, (0011,1002) item code,
  // (0011,1003) item name, (0011,1004) valid until (DA).
  const RECOGNITION_CREATOR = "IMGCLOUD RECOGNITION";
  const recognitionFields = "00110010,00111001,00111002,00111003,00111004";
  function recognition(ds) {
    if (val(ds, "00110010").trim() !== RECOGNITION_CREATOR) return null;
    const status = val(ds, "00111001").trim();
    if (!status) return null;
    return { status, code: val(ds, "00111002"), name: val(ds, "00111003"), until: fmtDate(val(ds, "00111004")) };
  }
  const STATUS_TEXT = {
    RECOGNISED: "互认 ✓",
    EXPIRED: "互认已过期 Expired",
    NOT_ELIGIBLE: "不适用互认 Not eligible",
    NOT_CERTIFIED: "机构未认证 Not certified",
    OUTSIDE_REGION: "区域外 Outside region",
  };
  // badge builds the mark: a small badge in lists, a stamp on images.
  function badge(rec, stamp) {
    const el = el_("span", "badge badge-" + rec.status.toLowerCase().replace(/_/g, "-") + (stamp ? " stamp" : ""));
    let text = STATUS_TEXT[rec.status] || rec.status;
    if (rec.status === "RECOGNISED" && rec.until) text += " 至 " + rec.until;
    el.append(el_("span", "badge-main", text));
    if (rec.name || rec.code) el.append(el_("span", "badge-item", [rec.code, rec.name].filter(Boolean).join(" ")));
    el.title = "检查检验结果互认 Mutual recognition: " + rec.status;
    return el;
  }

  // el_ makes an element with a class and text (never HTML).
  function el_(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The sign-in prompt: what a token is and where to get one.
  const SIGN_IN = "请登录以查看影像 Sign in to see the images";
  const SIGN_IN_AGAIN = "令牌无效或已过期 Your token is not valid or has expired";
  const TOKEN_HELP = [
    "访问令牌是医院影像云管理员为您生成的一串密码，代表您的身份（如某医院的医生）。",
    "An access token is a long password your imaging cloud administrator makes for you; it says who you are (for example, a physician of your hospital).",
    "请向本院信息科或影像云管理员索取，粘贴到下面。",
    "Ask your hospital's IT department or the gateway administrator for one (they run: gateway token create --role clinician …), and paste it below.",
    "患者请使用医院发送的分享链接，无需令牌。",
    "Patients: open the share link the hospital sent you; no token is needed.",
  ];

  function openTokenDialog(message) {
    const d = document.getElementById("token-dialog");
    if (!d || d.open) return;
    const m = d.querySelector(".token-message");
    m.textContent = message || (token() ? "已登录 Signed in" : SIGN_IN);
    m.classList.add("token-title");
    if (!d.querySelector(".token-help")) {
      const help = el_("div", "token-help");
      TOKEN_HELP.forEach((t, i) => help.append(el_("p", i % 2 ? "en" : "", t)));
      m.after(help);
    }
    d.querySelector("input").value = token();
    d.showModal();
  }

  // setupHeader wires the token button and dialog present on every page.
  function setupHeader() {
    const d = document.getElementById("token-dialog");
    const btn = document.getElementById("token-button");
    if (!d || !btn) return;
    const show = () => { btn.textContent = token() ? "已登录 Signed in" : "登录 Sign in"; };
    show();
    btn.addEventListener("click", () => openTokenDialog(""));
    d.querySelector("form").addEventListener("submit", (ev) => {
      const v = d.querySelector("input").value.trim();
      if (ev.submitter && ev.submitter.value === "clear") sessionStorage.removeItem(TOKEN_KEY);
      else if (v) sessionStorage.setItem(TOKEN_KEY, v);
      show();
      location.reload();
    });
  }

  return { root, request, qido, metadata, image, api, val, vals, fmtDate, recognition, recognitionFields, badge, el: el_, setupHeader };
})();
