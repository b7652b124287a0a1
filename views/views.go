// Package views holds the HTML templates, embedded into the binary.
package views

import "embed"

// FS is every template: layouts/, one folder per area, one file per page
// or fragment.
//
//go:embed */*.html
var FS embed.FS

// MailFS is the mail templates: mail/<name>.txt (a "Subject:" line, a
// blank line, the plain-text body) and mail/<name>.gohtml (the HTML body).
//
//go:embed mail/*
var MailFS embed.FS
