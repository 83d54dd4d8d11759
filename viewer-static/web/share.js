// Share-link viewer additions (share.html): the page is reached from
// POST /s/{token}/open, which set an HttpOnly session cookie scoped to one
// study; fetches send it on their own (same origin), so no token is kept
// here. This script offers the study zip when the share allows downloads,
// with its size and a warning before a long download, and explains an
// ended session. study.js does the viewing.
"use strict";

(() => {
  const link = document.getElementById("share-download");
  // mb writes a size for people: "17 MB", "0.4 MB".
  const mb = (n) => (n >= 10e6 ? Math.round(n / 1e6) : Math.max(0.1, Math.round(n / 1e5) / 10)) + " MB";
  // minutes estimates the download time at 400 kbit/s (a slow 3G link).
  const minutes = (n) => Math.max(1, Math.round(n / 50e3 / 60));
  GW.api("/shares/session").then((s) => {
    if (s && s.download && s.zip_url) {
      link.href = new URL("api/v1/" + s.zip_url, document.baseURI).href;
      // Set through the CSSOM: the viewer's CSP allows no inline styles.
      Object.assign(link.style, { marginLeft: "auto", color: "#fff", border: "1px solid rgba(255,255,255,.6)", borderRadius: "6px", padding: ".3em .7em", textDecoration: "none" });
      if (s.bytes) {
        link.textContent = "保存影像 Save the images (" + mb(s.bytes) + ")";
        link.dataset.bytes = String(s.bytes);
        const warning = "将下载约 " + mb(s.bytes) + " 的原始影像文件（供其他医院使用），网络较慢时约需 " + minutes(s.bytes) + " 分钟，建议连接 Wi-Fi。\n" +
          "This downloads about " + mb(s.bytes) + " of original image files (for another hospital); on a slow network it takes about " +
          minutes(s.bytes) + " min. Wi-Fi is best.";
        link.title = warning;
        link.addEventListener("click", (e) => { if (!confirm(warning)) e.preventDefault(); });
      }
      link.hidden = false;
    }
  }, () => {
    const st = document.getElementById("viewer-status");
    if (st) st.textContent = "分享会话已结束，请重新打开分享链接 · The share session has ended: open the link again";
  });
})();
