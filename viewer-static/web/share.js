// Share-link viewer additions (share.html): the page is reached from
// POST /s/{token}/open, which set an HttpOnly session cookie scoped to one
// study; fetches send it on their own (same origin), so no token is kept
// here. This script offers the study zip when the share allows downloads
// and explains an ended session. study.js does the viewing.
"use strict";

(() => {
  const link = document.getElementById("share-download");
  GW.api("/shares/session").then((s) => {
    if (s && s.download && s.zip_url) {
      link.href = new URL("api/v1/" + s.zip_url, document.baseURI).href;
      // Set through the CSSOM: the viewer's CSP allows no inline styles.
      Object.assign(link.style, { marginLeft: "auto", color: "#fff", border: "1px solid rgba(255,255,255,.6)", borderRadius: "6px", padding: ".3em .7em", textDecoration: "none" });
      link.hidden = false;
    }
  }, () => {
    const st = document.getElementById("viewer-status");
    if (st) st.textContent = "分享会话已结束，请重新打开分享链接 · The share session has ended: open the link again";
  });
})();
