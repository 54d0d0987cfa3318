package tlsconf

import (
	"testing"
	"time"
)

// TestOperatorMark: IssueOperator marks the certificate; IssueDevice
// never does, whatever the labels (each OU it writes holds "=").
func TestOperatorMark(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	op, err := ca.IssueOperator("carol", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !IsOperator(op) || op.Subject.CommonName != "carol" {
		t.Errorf("operator certificate %v: not marked", op.Subject)
	}
	for _, labels := range []map[string]string{nil, {OperatorOU: ""}, {OperatorOU: OperatorOU}, {"role": OperatorOU}} {
		dev, err := ca.IssueDevice("router-1", labels, key.Public(), time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if IsOperator(dev) {
			t.Errorf("device certificate with labels %v: OUs %q mark it as an operator's", labels, dev.Subject.OrganizationalUnit)
		}
	}
}
