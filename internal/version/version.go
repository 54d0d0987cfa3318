// Package version holds the build's version, stamped by the Makefile with -X.
package version

// Version is set at build time: -X github.com/offbox/offbox/internal/version.Version=...
var Version = "dev"
