package config

import (
	"path/filepath"
	"testing"
	"time"
)

// TestForwardNamesLine: a forward sink's problems are reported at the
// file and line of their key, one a line.
func TestForwardNamesLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := write(t, dir, "ca.pem", "x")
	head := "tls:\n  ca: " + ca + "\n  cert: " + ca + "\n  key: " + write(t, dir, "key.pem", "x") + "\ndb: " + filepath.Join(dir, "x.db") + "\n"
	tests := []struct {
		name, body string
		want       []string
	}{
		{"syslog address and transport", "forward:\n  - name: siem\n    type: syslog\n    address: siem.example.net\n    transport: tls1\n",
			[]string{`FILE:9: forward siem: address "siem.example.net": want HOST:PORT`, `FILE:10: forward siem: transport "tls1": want tls, tcp or udp`}},
		{"syslog ca without tls", "forward:\n  - name: siem\n    type: syslog\n    address: siem:514\n    transport: tcp\n    ca: " + ca + "\n",
			[]string{`FILE:11: forward siem: ca: set, but the sink does not use TLS`}},
		{"syslog ca not PEM", "forward:\n  - name: siem\n    type: syslog\n    address: siem:6514\n    ca: " + ca + "\n",
			[]string{`FILE:10: forward siem: ca: ` + ca + `: no PEM certificate`}},
		{"http format and header", "forward:\n  - name: es\n    type: http\n    url: https://es:9200/_bulk\n    format: bulk\n    headers:\n      Content-Type: text/plain\n",
			[]string{`FILE:10: forward es: format "bulk": want ndjson, es_bulk or splunk_hec`, "FILE:12: forward es: headers: Content-Type is set by offbox"}},
		{"http url", "forward:\n  - name: es\n    type: http\n    url: ftp://es/x\n", []string{`FILE:9: forward es: url "ftp://es/x": scheme must be http or https`}},
		{"two sinks one name", "forward:\n  - {name: a, type: http, url: 'http://h/x'}\n  - name: a\n    type: kafka\n",
			[]string{`FILE:8: forward a: name: used by more than one sink`, `FILE:9: forward a: type "kafka": want syslog or http`}},
		{"batch_records", "forward:\n  - {name: a, type: syslog, address: 'h:6514', batch_records: 100000}\n",
			[]string{`FILE:7: forward a: batch_records 100000: want 1 to 10000`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := write(t, t.TempDir(), "c.yaml", head+tc.body)
			got := checkFile(t, path, false)
			wantProblems(t, got, path, tc.want)
		})
	}
	// A good one passes.
	path := write(t, t.TempDir(), "c.yaml", head+"forward:\n  - {name: siem, type: syslog, address: 'siem:6514', alerts: true}\n"+
		"  - {name: es, type: http, url: 'https://es:9200/_bulk', format: es_bulk, gzip: true, headers: {Authorization: ApiKey x}}\n")
	if got := checkFile(t, path, false); got != "" {
		t.Errorf("good forward sinks: %s", got)
	}
}

// exampleForward is the forward section of packaging/offbox-ingest.yaml
// with its examples put back (TestExampleLoads).
var exampleForward = Forward{
	{Name: "siem", Type: "syslog", Alerts: true, Address: "siem.example.net:6514", Transport: "tls", Facility: 16, MaxMessage: 8192,
		CA: "/etc/offbox-ingest/siem-ca.pem", Cert: "/etc/offbox-ingest/forward.pem", Key: "/etc/offbox-ingest/forward-key.pem",
		ServerName: "siem.example.net", BatchRecords: 500, Timeout: 10 * time.Second},
	{Name: "es", Type: "http", URL: "https://es.example.net:9200/_bulk", Format: "es_bulk", Index: "logs-offbox",
		Headers: map[string]string{"Authorization": "ApiKey change-me"}, Gzip: true},
}
