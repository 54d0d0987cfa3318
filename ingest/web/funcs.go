package web

import (
	"fmt"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"time"
)

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"age": func(d time.Duration) string {
		return d.Round(time.Second).String()
	},
	"labels": func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, k+"="+m[k])
		}
		return out
	},
	"has": func(list []string, s string) bool { return slices.Contains(list, s) },
	// sortLink is the fleet page's link sorting by key, keeping the filter.
	"sortLink": func(key, current string, filter []string) string {
		v := url.Values{}
		if current == key {
			key = "-" + key
		}
		v.Set("sort", key)
		for _, f := range filter {
			v.Add("label", f)
		}
		return "/?" + v.Encode()
	},
	"evidence": func(device string, seq uint64, index int) string {
		return fmt.Sprintf("/records/%s/%d/%d", url.PathEscape(device), seq, index)
	},
}
