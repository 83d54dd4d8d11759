// Package viewerstatic holds the web viewer: plain HTML, CSS and JS served
// as they are, embedded in the binary.
package viewerstatic

import (
	"embed"
	"io/fs"
)

//go:embed web
var web embed.FS

// FS returns the viewer's files, rooted at the folder that holds index.html.
func FS() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded folder exists at build time
	}
	return sub
}
