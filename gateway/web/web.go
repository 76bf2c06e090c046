// Package web holds the dashboard: a single-page application in plain
// JavaScript modules, HTML and CSS, embedded in the binary so that serving
// it needs no build step, no Node and no network. The gateway serves these
// files; this package only carries them.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static is the dashboard's files: index.html at the root, the scripts under
// js/, the dictionaries under i18n/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // "static" is embedded above; Sub fails only on a bad name
	}
	return sub
}
