package shareapi

import (
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/internal/ratelimit"
	"github.com/imgcloud/gateway/share"
)

// page is what the landing template shows. It never holds who the patient
// is (no name, no ID, not even the study UID); it names the exam (hospital,
// description, date) so that a parent knows which one was shared.
type page struct {
	// Status is the answer's status; when zero, httpapi/respond picks it
	// from cause, as for the JSON APIs.
	Status  int
	cause   error
	Title   string // Chinese
	TitleEn string
	Text    string
	TextEn  string
	// Form shows the open button (and the PIN field when PIN is true).
	Form     bool
	PIN      bool
	Action   string
	Expires  string // in China Standard Time
	Download bool
	UsesLeft int // -1: unlimited
	PINError string
	PINErrEn string
	Exam     exam
}

// exam is what the landing page says of the shared study; fields the
// study does not record are empty.
type exam struct {
	Hospital, Description, Date string // Date as YYYY-MM-DD
}

// cst is China Standard Time, for the dates patients read.
var cst = time.FixedZone("CST", 8*3600)

// pageTmpl is small, self-contained (no script, no external file) and
// readable on a 375-pixel phone over a slow connection.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><meta name="robots" content="noindex, nofollow">
<title>{{.Title}} · {{.TitleEn}}</title>
<style>
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f3f5f8;color:#1c2430}
main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}.card{background:#fff;border-radius:12px;padding:1.25rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:0 0 .25rem}h2{font-size:1rem;font-weight:400;color:#556;margin:0 0 1rem}p{margin:.5rem 0}.en{color:#556;font-size:.92rem}
ul{padding-left:1.2rem;margin:.75rem 0}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{width:100%;font-size:1.4rem;letter-spacing:.3em;padding:.6rem;border:1px solid #99a;border-radius:8px}
button{width:100%;margin-top:1rem;padding:.9rem;font-size:1.15rem;border:0;border-radius:8px;background:#0b63c5;color:#fff}
.err{color:#b00020;font-weight:600}.exam{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem;margin:1rem 0;padding:.75rem;background:#f3f5f8;border-radius:8px}.exam dt{color:#556}.exam dd{margin:0;font-weight:600}.brand{color:#556;font-size:.85rem;margin-top:1rem;text-align:center}
</style></head><body><main><div class="card">
<h1>{{.Title}}</h1><h2>{{.TitleEn}}</h2>
<p>{{.Text}}</p><p class="en">{{.TextEn}}</p>
{{with .Exam}}{{if or .Hospital .Description .Date}}<dl class="exam">
{{if .Hospital}}<dt>分享医院 Hospital</dt><dd id="exam-hospital">{{.Hospital}}</dd>{{end}}
{{if .Description}}<dt>检查 Exam</dt><dd id="exam-description">{{.Description}}</dd>{{end}}
{{if .Date}}<dt>检查日期 Date</dt><dd id="exam-date">{{.Date}}</dd>{{end}}
</dl>{{end}}{{end}}
{{if .Form}}<ul>
<li>有效期至 Valid until: {{.Expires}}</li>
<li>{{if .Download}}可查看并保存影像 · View and save the images{{else}}仅可查看图像 · View only{{end}}</li>
{{if ge .UsesLeft 0}}<li>剩余打开次数 Opens left: {{.UsesLeft}}</li>{{end}}
</ul>
<form method="post" action="{{.Action}}">
{{if .PIN}}<label for="pin">访问码 PIN</label>
<input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" maxlength="12" required autofocus>
{{if .PINError}}<p class="err" role="alert">{{.PINError}} · {{.PINErrEn}}</p>{{end}}{{end}}
<button type="submit">打开 Open</button>
</form>{{end}}
</div><p class="brand">影像云 Imaging Cloud</p></main></body></html>
`))

// render writes a page with the headers a page at a secret URL needs.
func render(c echo.Context, p page) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	// same-origin, not no-referrer: the page loads nothing from elsewhere,
	// and under no-referrer browsers send "Origin: null" with its form,
	// which open could not tell from another site's (see crossSite).
	h.Set("Referrer-Policy", "same-origin")
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	if p.Status == 0 {
		p.Status = respond.Status(p.cause)
		respond.Headers(h, p.cause, p.Status)
	}
	c.Response().WriteHeader(p.Status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	return pageTmpl.Execute(c.Response(), p)
}

// Pages for links that cannot be opened.
var (
	pageInvalid = page{cause: share.ErrInvalidToken, Title: "链接无效", TitleEn: "This link is not valid",
		Text: "请检查链接是否完整，或请分享者重新发送。", TextEn: "Check that the whole link was copied, or ask for a new one."}
	pageExpired = page{cause: share.ErrExpired, Title: "链接已过期", TitleEn: "This link has expired",
		Text: "请联系分享者获取新的链接。", TextEn: "Ask whoever shared it for a new link."}
	pageRevoked = page{cause: share.ErrRevoked, Title: "链接已撤销", TitleEn: "This link was revoked",
		Text: "分享者已停止分享。", TextEn: "Whoever shared it has stopped sharing."}
	pageUsedUp = page{cause: share.ErrUsedUp, Title: "链接已用完", TitleEn: "This link has been used up",
		Text: "该链接的打开次数已用完，请联系分享者。", TextEn: "It was opened as many times as allowed. Ask for a new link."}
	pageLocked = page{cause: share.ErrLocked, Title: "链接已锁定", TitleEn: "This link is locked",
		Text: "访问码错误次数过多，链接已锁定。请联系分享者。", TextEn: "Too many wrong PINs were entered. Ask for a new link."}
	pageTooMany = page{cause: &ratelimit.Error{Msg: "too many failed share link attempts from this address", RetryAfter: time.Minute}, Title: "尝试过于频繁", TitleEn: "Too many attempts",
		Text: "请稍后再试。", TextEn: "Please wait a few minutes and try again."}
	pageCrossSite = page{cause: auth.ErrForbidden, Title: "请从链接页面打开", TitleEn: "Open the link from its own page",
		Text:   "另一个网站试图替您打开此分享链接，已被拒绝，未计入打开次数。请直接打开收到的链接。",
		TextEn: "Another website tried to open this share link for you; it was refused and no use was counted. Open the link you received directly."}
	// pageError answers any other failure: 503 rather than 500, as the
	// patient can only try again.
	pageError = page{Status: http.StatusServiceUnavailable, Title: "暂时无法打开", TitleEn: "Cannot open the link now",
		Text: "请稍后再试。", TextEn: "Please try again in a moment."}
)
