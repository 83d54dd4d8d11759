// Study list over QIDO-RS: plain JS, no build step. It talks DICOMweb only.
"use strict";
const root = "dicomweb";
const $ = (s) => document.querySelector(s);

function val(ds, tag) {
  const e = ds[tag];
  if (!e || !e.Value || !e.Value.length) return "";
  const v = e.Value[0];
  if (typeof v === "object" && v !== null) return [v.Ideographic, v.Alphabetic].filter(Boolean).join(" / ");
  return String(v);
}
function vals(ds, tag) { const e = ds[tag]; return e && e.Value ? e.Value.join(", ") : ""; }
function fmtDate(d) { return d && d.length === 8 ? d.slice(0, 4) + "-" + d.slice(4, 6) + "-" + d.slice(6) : d; }

async function qido(path, params) {
  const u = new URL(root + path, document.baseURI);
  for (const [k, v] of Object.entries(params || {})) if (v) u.searchParams.set(k, v);
  const r = await fetch(u, { headers: { Accept: "application/dicom+json" } });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const params = Object.fromEntries(new FormData($("#search")).entries());
  params.includefield = "00081030,00080080";
  params.fuzzymatching = "true";
  params.limit = "200";
  $("#status").textContent = "…";
  try {
    const studies = await qido("/studies", params);
    const tb = $("#studies tbody");
    tb.replaceChildren();
    for (const s of studies) {
      const tr = document.createElement("tr");
      for (const text of [val(s, "00100010"), val(s, "00100020"), fmtDate(val(s, "00080020")), vals(s, "00080061"),
        val(s, "00081030"), val(s, "00080080"), val(s, "00201206") + " / " + val(s, "00201208")]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.addEventListener("click", () => showStudy(s));
      tb.append(tr);
    }
    $("#status").textContent = studies.length + " 项检查 studies";
  } catch (e) {
    $("#status").textContent = "错误 Error: " + e.message;
  }
}

async function showStudy(s) {
  const uid = val(s, "0020000D");
  $("#detail").hidden = false;
  $("#detail-title").textContent = val(s, "00100010") + " · " + fmtDate(val(s, "00080020")) + " · " + val(s, "00081030");
  const list = $("#series");
  list.replaceChildren();
  for (const se of await qido("/studies/" + uid + "/series")) {
    const li = document.createElement("li");
    li.textContent = `#${val(se, "00200011")} ${val(se, "00080060")} ${val(se, "0008103E")} (${val(se, "00201209")})`;
    list.append(li);
  }
}

$("#search").addEventListener("submit", search);
search();
