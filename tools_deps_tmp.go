//go:build tools

package tools

import (
	_ "github.com/go-sourcemap/sourcemap"
	_ "github.com/hashicorp/golang-lru/v2"
	_ "github.com/ianlancetaylor/demangle"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/tdewolff/parse/v2/js"
	_ "golang.org/x/sync/singleflight"
)
