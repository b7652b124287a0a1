// Package static holds the CSS, icons and the pinned htmx, embedded into the binary.
package static

import "embed"

// FS is every static asset, served under /static/.
//
//go:embed *.js *.css *.svg
var FS embed.FS
