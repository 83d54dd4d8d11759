// Study list: QIDO-RS search by patient, date range and modality, with a
// thumbnail and the recognition badge of each study.
"use strict";

(() => {
  const form = document.getElementById("search");
  const status = document.getElementById("status");
  const list = document.getElementById("studies");
  const page = new URLSearchParams(location.search);

  // Prefill from the address (IHE IID launches land here with patientID,
  // issuer, from, to, studyUID or accession).
  for (const k of ["patientName", "patientID", "from", "to", "modality"]) if (page.get(k)) form.elements[k].value = page.get(k);

  const thumbs = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      thumbs.unobserve(e.target);
      const img = e.target;
      GW.image("/studies/" + img.dataset.study + "/thumbnail", { viewport: "160,160" })
        .then((r) => { img.src = r.src; img.classList.add("loaded"); })
        .catch(() => img.classList.add("missing"));
    }
  }, { rootMargin: "200px" });

  function query() {
    const f = form.elements;
    const q = {
      PatientName: f.patientName.value.trim(),
      PatientID: f.patientID.value.trim(),
      IssuerOfPatientID: page.get("issuer") || "",
      ModalitiesInStudy: f.modality.value,
      StudyInstanceUID: page.get("studyUID") || "",
      AccessionNumber: page.get("accession") || "",
      fuzzymatching: "true",
      limit: "100",
      includefield: "00081030,00080080,00201206,00201208,00100040,00101010," + GW.recognitionFields,
    };
    const from = f.from.value.replace(/-/g, ""), to = f.to.value.replace(/-/g, "");
    if (from || to) q.StudyDate = from + "-" + to;
    return q;
  }

  function card(s) {
    const uid = GW.val(s, "0020000D");
    const li = GW.el("li", "card");
    const a = GW.el("a");
    a.href = "study.html?studyUID=" + encodeURIComponent(uid);
    const img = GW.el("img", "thumb");
    img.alt = "缩略图 Thumbnail";
    img.dataset.study = uid;
    thumbs.observe(img);
    const body = GW.el("div", "card-body");
    const who = GW.el("div", "patient");
    who.append(GW.el("strong", "", GW.val(s, "00100010") || "（无姓名 no name）"));
    who.append(GW.el("span", "muted", [GW.val(s, "00100020"), GW.val(s, "00100040"), GW.val(s, "00101010")].filter(Boolean).join(" · ")));
    body.append(who);
    body.append(GW.el("div", "desc", [GW.fmtDate(GW.val(s, "00080020")), GW.vals(s, "00080061"), GW.val(s, "00081030")].filter(Boolean).join(" · ")));
    body.append(GW.el("div", "muted", GW.val(s, "00080080")));
    body.append(GW.el("div", "muted small", GW.val(s, "00201206") + " 序列 series · " + GW.val(s, "00201208") + " 图像 images"));
    const rec = GW.recognition(s);
    if (rec) body.append(GW.badge(rec, false));
    a.append(img, body);
    li.append(a);
    return li;
  }

  async function search(ev) {
    if (ev) ev.preventDefault();
    const keep = new URLSearchParams();
    for (const k of ["patientName", "patientID", "from", "to", "modality"]) if (form.elements[k].value) keep.set(k, form.elements[k].value);
    for (const k of ["issuer", "studyUID", "accession"]) if (page.get(k)) keep.set(k, page.get(k));
    history.replaceState(null, "", "?" + keep.toString());
    status.textContent = "查询中… Searching…";
    document.body.dataset.ready = "";
    try {
      const studies = await GW.qido("/studies", query());
      studies.sort((a, b) => GW.val(b, "00080020").localeCompare(GW.val(a, "00080020")));
      list.replaceChildren(...studies.map(card));
      status.textContent = studies.length ? studies.length + " 项检查 studies" : "没有找到检查 No studies found";
    } catch (e) {
      list.replaceChildren();
      status.textContent = "错误 Error: " + e.message;
    }
    document.body.dataset.ready = "1";
  }

  GW.setupHeader();
  form.addEventListener("submit", search);
  search();
})();
