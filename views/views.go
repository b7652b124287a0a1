// Package views holds the HTML templates, embedded into the binary.
package views

import "embed"

// FS is every template: layouts/, one folder per area, one file per page
// or fragment.
//
//go:embed */*.html
var FS embed.FS
