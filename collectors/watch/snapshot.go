package watch

import (
	"fmt"
	"time"
)

// State is what the collector sees now, for `offbox inspect`: no password
// hash, nothing derived from one but locked/empty flags.
type State struct {
	Root     string        `json:"root"`
	Time     time.Time     `json:"time"`
	Files    []FileState   `json:"files"`              // every watched file, glob matches included, by path
	Users    []PasswordAge `json:"users,omitempty"`    // from shadow, in file order
	Accounts []Account     `json:"accounts,omitempty"` // from passwd, in file order
	Problems []Problem     `json:"problems,omitempty"` // everything that could not be read, and globs matching nothing
}

// FileState is one watched file. Error is set, and the rest empty, when it
// is missing or unreadable.
type FileState struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size"`
	Mode   string `json:"mode,omitempty"` // octal
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Owner  string `json:"owner,omitempty"`
	MTime  string `json:"mtime,omitempty"` // RFC 3339
	Error  string `json:"error,omitempty"`
}

// Account is one passwd entry.
type Account struct {
	User       string `json:"user"`
	UID        uint32 `json:"uid"`
	GID        uint32 `json:"gid"`
	Home       string `json:"home"`
	Shell      string `json:"shell"`
	UID0       bool   `json:"uid0"`
	NoPassword bool   `json:"no_password"` // empty password field in passwd
}

// Problem is a source that cannot be read, and why; Source is the record
// source its agent_status records carry.
type Problem struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// Snapshot reads what a collector with cfg would watch, once.
func Snapshot(cfg Config) (State, error) {
	c, err := New(cfg)
	if err != nil {
		return State{}, err
	}
	st := State{Root: c.root, Time: c.now(), Files: []FileState{}}
	problem := func(p, reason string) {
		st.Problems = append(st.Problems, Problem{Source: sourcePrefix + p, Reason: reason})
	}
	paths, globs := c.expand()
	for _, pat := range sortedKeys(globs) {
		if globs[pat] != "" {
			problem(pat, globs[pat])
		}
	}
	owners := c.ownerNames()
	for _, p := range sortedKeys(paths) {
		fs := FileState{Path: p}
		switch o := c.observe(p, 0); o.state {
		case present:
			fs.SHA256, fs.Size, fs.Mode = o.sha(), o.size, o.modeString()
			fs.UID, fs.GID, fs.Owner = o.uid, o.gid, owners[o.uid]
			fs.MTime = o.mtime.UTC().Format(time.RFC3339Nano)
		case absent:
			fs.Error = "missing"
		default:
			fs.Error = o.reason
		}
		if fs.Error != "" {
			problem(p, fs.Error)
		}
		st.Files = append(st.Files, fs)
	}
	read := func(p string) []byte {
		o := c.observe(p, maxAccountsFile)
		switch {
		case o.state == absent:
			problem(p, "missing")
		case o.state == unreadable:
			problem(p, o.reason)
		case o.tooBig:
			problem(p, fmt.Sprintf("larger than %d bytes", maxAccountsFile))
		default:
			return o.content
		}
		return nil
	}
	if c.passwd != "" {
		if b := read(c.passwd); b != nil {
			accts, _ := parsePasswd(b)
			for _, a := range accts {
				st.Accounts = append(st.Accounts, Account{a.User, a.UID, a.GID, a.Home, a.Shell, a.UID == 0, a.NoPassword})
			}
		}
	}
	if c.shadow != "" {
		if b := read(c.shadow); b != nil {
			entries, _ := parseShadow(b)
			clear(b)
			t := shadowTrack{users: make(map[string]shadowUser)}
			for _, e := range entries {
				t.users[e.User] = shadowUser{lastChange: e.LastChange, locked: e.Locked, noPassword: e.NoPassword}
				t.order = append(t.order, e.User)
			}
			st.Users, _, _ = ages(t, epochDay(st.Time))
		}
	}
	return st, nil
}
